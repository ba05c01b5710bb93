"""A non-finite loss stops training with the step and the nets that produced it, before anything is exported."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from hypergen.compat import ensure_torchvision_importable

ensure_torchvision_importable()

import lightning.pytorch as pl  # noqa: E402

from hypergen.ghn import GHNConfig  # noqa: E402
from hypergen.train.archs import ArchPool  # noqa: E402
from hypergen.train.callbacks import ExportGHN  # noqa: E402
from hypergen.train.module import GHNTrainingModule  # noqa: E402


def test_non_finite_loss_stops_training_naming_the_step_and_nets(tmp_path):
    torch.manual_seed(0)
    pool = ArchPool("mlp", (1, 40), 10, pool_size=4, heldout_count=1)
    module = GHNTrainingModule(GHNConfig(hidden=16, heads=2), pool, meta_batch=2, warmup_steps=0, total_steps=5)
    x = torch.randn(16, 1, 40)
    x[3, 0, 5] = float("nan")  # one bad input value, as a broken data pipeline gives
    loader = DataLoader(TensorDataset(x, torch.randint(0, 10, (16,))), batch_size=16)
    export = ExportGHN(tmp_path / "ghn.safetensors")
    trainer = pl.Trainer(accelerator="cpu", max_steps=5, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[export],
                         limit_val_batches=0)
    with pytest.raises(FloatingPointError, match=r"training step 0: the loss is not finite .* 2 of 2 nets"):
        trainer.fit(module, train_dataloaders=loader)
    assert not (tmp_path / "ghn.safetensors").exists()
