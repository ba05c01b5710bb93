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


def test_non_finite_gradient_stops_training_naming_the_step_parameters_and_nets(tmp_path):
    """A finite loss whose gradient is NaN (here made so by a hook on one GHN parameter) stops training before the
    optimizer step: the GHN's weights stay finite and nothing is exported."""
    torch.manual_seed(0)
    pool = ArchPool("mlp", (1, 40), 10, pool_size=4, heldout_count=1)
    module = GHNTrainingModule(GHNConfig(hidden=16, heads=2), pool, meta_batch=2, warmup_steps=0, total_steps=5)
    name, param = next((n, p) for n, p in module.ghn.named_parameters() if p.requires_grad)
    before = {n: p.detach().clone() for n, p in module.ghn.named_parameters()}
    steps = []

    class PoisonFromStep2(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            steps.append(trainer.global_step)
            if trainer.global_step == 2:
                param.register_hook(lambda grad: grad * float("nan"))

    loader = DataLoader(TensorDataset(torch.randn(64, 1, 40), torch.randint(0, 10, (64,))), batch_size=16)
    trainer = pl.Trainer(accelerator="cpu", max_steps=5, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         callbacks=[PoisonFromStep2(), ExportGHN(tmp_path / "ghn.safetensors")], gradient_clip_val=5.0)
    with pytest.raises(FloatingPointError, match=rf"training step 2: the loss is finite but its gradient is not "
                                                 rf"\(NaN or Inf in 1 GHN parameters, e.g. \['{name}'\]\); nets whose "
                                                 rf"own gradient is non-finite: 2 of 2, e.g. \{{"):
        trainer.fit(module, train_dataloaders=loader)
    assert steps == [0, 1, 2]
    assert all(torch.isfinite(p).all() for p in module.ghn.parameters())  # the bad step was never applied
    assert any(not torch.equal(p, before[n]) for n, p in module.ghn.named_parameters())  # steps 0 and 1 were
    assert not (tmp_path / "ghn.safetensors").exists()
