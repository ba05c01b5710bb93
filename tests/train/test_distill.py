"""Distillation from a trained teacher's logits (``module.distill``): the loss, the teacher, checkpoints."""

import logging
import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from hypergen.compat import ensure_torchvision_importable

ensure_torchvision_importable()

import lightning.pytorch as pl  # noqa: E402

from hypergen.ghn import GHNConfig  # noqa: E402
from hypergen.train.archs import ArchPool  # noqa: E402
from hypergen.train.distill import Distillation, distillation_loss  # noqa: E402
from hypergen.train.module import GHNTrainingModule  # noqa: E402


def test_distillation_loss_is_the_tempered_kl_and_pulls_the_student_to_the_teacher():
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 4, requires_grad=True), 3 * torch.randn(5, 4)
    loss = distillation_loss(student, teacher, temperature=2.0)
    p = torch.softmax(teacher / 2, -1)
    expected = 4 * (p * (p.log() - torch.log_softmax(student.detach() / 2, -1))).sum(-1).mean()
    torch.testing.assert_close(loss.detach(), expected)
    assert distillation_loss(teacher, teacher, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    loss.backward()
    stepped = student.detach() - 0.5 * student.grad
    assert distillation_loss(stepped, teacher, 2.0) < loss  # the gradient moves the student towards the teacher
    with pytest.raises(ValueError, match=r"student \(5, 4\), teacher \(5, 3\)"):
        distillation_loss(student, teacher[:, :3], 2.0)


def test_distillation_settings_are_checked_by_name():
    with pytest.raises(ValueError, match=r"unknown Distillation key .temprature.; did you mean .temperature."):
        Distillation.from_config({"temprature": 2})
    with pytest.raises(ValueError, match="weight=1.5"):
        Distillation(weight=1.5)
    assert Distillation.from_config({"weight": 0.25}).weight == 0.25


class _Data(pl.LightningDataModule):
    """A learnable 10-class task on 1 x 40 signals: the label is the argmax of a fixed linear map."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(512, 1, 40, generator=generator)
        y = (x.flatten(1) @ torch.randn(40, 10, generator=generator)).argmax(1)
        self.train_dataset = TensorDataset(x[:448], y[:448])
        self.val = TensorDataset(x[448:], y[448:])

    def train_dataloader(self):
        return DataLoader(self.train_dataset, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(1))

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=32)


def _module(**distill):
    torch.manual_seed(0)
    pool = ArchPool("mlp", (1, 40), 10, pool_size=4, heldout_count=1)
    return GHNTrainingModule(GHNConfig(hidden=16, heads=2), pool, meta_batch=2, warmup_steps=0, total_steps=20,
                             distill={"teacher_steps": 150, "teacher_batch_size": 32, "teacher_lr": 0.05, **distill})


def _trainer(steps, **kwargs):
    return pl.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, limit_val_batches=0, **kwargs)


def test_teacher_trains_before_the_first_step_and_its_soft_targets_enter_the_loss(caplog, tmp_path):
    module, data = _module(weight=0.5), _Data()
    logged = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            logged.append((float(outputs["loss"]), float(trainer.callback_metrics["train/loss"]),
                           float(trainer.callback_metrics["train/distill"])))

    class Draw(pl.Callback):  # the run's random stream must not be reset by the teacher's training
        def on_fit_start(self, trainer, pl_module):
            self.state = torch.get_rng_state()

        def on_train_start(self, trainer, pl_module):
            self.unchanged = torch.equal(torch.get_rng_state(), self.state)

    draw = Draw()
    with caplog.at_level(logging.INFO, logger="hypergen.train.distill"):
        _trainer(3, callbacks=[draw, Record()], default_root_dir=tmp_path).fit(module, datamodule=data)
    assert draw.unchanged
    line = next(r.getMessage() for r in caplog.records if r.name == "hypergen.train.distill")
    accuracy = float(line.split("trained 150 steps: ")[1].split("%")[0])
    assert accuracy > 40, line  # far above the 10% of chance: a teacher worth learning from
    assert len(logged) == 3
    for total, labels, soft in logged:  # the optimised loss is the declared mix of the two terms
        assert math.isfinite(soft) and soft > 0
        assert total == pytest.approx(0.5 * labels + 0.5 * soft, rel=1e-5)
    assert not any(p.requires_grad for p in module._teacher["net"].parameters())
    assert all(not n.startswith("_teacher") for n, _ in module.named_parameters())  # not part of the GHN


def test_a_resumed_run_gets_the_teacher_from_its_checkpoint(caplog, tmp_path):
    module = _module()
    trainer = _trainer(2, default_root_dir=tmp_path)
    trainer.fit(module, datamodule=_Data())
    path = tmp_path / "last.ckpt"
    trainer.save_checkpoint(path)
    taught = {k: v.clone() for k, v in module._teacher["net"].state_dict().items()}
    resumed = _module()
    caplog.clear()  # only what the resumed run logs (the first run's teacher line may be captured too)
    with caplog.at_level(logging.INFO, logger="hypergen.train.distill"):
        _trainer(4, default_root_dir=tmp_path).fit(resumed, datamodule=_Data(), ckpt_path=path)
    assert not [r for r in caplog.records if r.name == "hypergen.train.distill"]  # not trained again
    for key, value in resumed._teacher["net"].state_dict().items():
        torch.testing.assert_close(value, taught[key])


def test_distillation_is_refused_for_language_models():
    pool = ArchPool("gpt", (16,), 64, pool_size=2, heldout_count=1)
    with pytest.raises(ValueError, match="module.distill is for classification"):
        GHNTrainingModule(GHNConfig(hidden=16, heads=2), pool, distill={"weight": 0.5})
