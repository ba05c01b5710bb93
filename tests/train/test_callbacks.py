"""Training callbacks: progress lines in the log when no terminal shows a progress bar."""

import logging
import re

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from hypergen.compat import ensure_torchvision_importable

ensure_torchvision_importable()

import lightning.pytorch as pl  # noqa: E402

from hypergen.ghn import GHNConfig  # noqa: E402
from hypergen.train import callbacks  # noqa: E402
from hypergen.train.archs import ArchPool  # noqa: E402
from hypergen.train.callbacks import ProgressLog, format_duration  # noqa: E402
from hypergen.train.module import GHNTrainingModule  # noqa: E402

LINE = re.compile(r"step (\d+)/\d+ \((\d+)%\) \| train/loss ([\d.]+) \| ([\d.]+) s/step \| ETA (\S+)"
                  r"(?: \| val/acc ([\d.]+)% \(step (\d+)\))?")


def _fit(progress, progress_bar=False, steps=7):
    torch.manual_seed(0)
    pool = ArchPool("mlp", (1, 40), 10, pool_size=4, heldout_count=1)
    module = GHNTrainingModule(GHNConfig(hidden=16, heads=2), pool, meta_batch=2, warmup_steps=0)
    data = TensorDataset(torch.randn(64, 1, 40), torch.randint(0, 10, (64,)))
    trainer = pl.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
                         enable_progress_bar=progress_bar, enable_model_summary=False, callbacks=[progress],
                         val_check_interval=4, check_val_every_n_epoch=None, num_sanity_val_steps=0)
    trainer.fit(module, DataLoader(data, batch_size=16), DataLoader(data, batch_size=32))
    return trainer


def test_progress_lines_report_step_loss_speed_eta_and_validation(caplog):
    with caplog.at_level(logging.INFO, logger="hypergen.train.callbacks"):
        trainer = _fit(ProgressLog(every_n_steps=3, every_seconds=0, when="always"))
    lines = [r.getMessage() for r in caplog.records if r.name == "hypergen.train.callbacks"]
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    # steps 3 and 6 (every 3), the validation at step 4, and the end (step 7)
    assert [int(m.group(1)) for m in parsed] == [3, 4, 6, 7]
    assert [int(m.group(2)) for m in parsed] == [43, 57, 86, 100]
    assert [m.group(6) is not None for m in parsed] == [False, True, True, True]  # val/acc once measured
    assert int(parsed[-1].group(7)) == 4 and float(parsed[-1].group(6)) == pytest.approx(
        100 * float(trainer.callback_metrics["val/acc"]), abs=0.051)
    assert float(parsed[-1].group(3)) == pytest.approx(float(trainer.callback_metrics["train/loss"]), rel=1e-3)
    assert parsed[-1].group(5) == "0s" and lines[-1].split(" | finished after ")[1].endswith("s")
    speed, eta = float(parsed[0].group(4)), parsed[0].group(5)
    assert speed > 0 and eta == format_duration(speed * 4)  # 4 steps left at step 3


def test_progress_lines_show_a_loss_metric_as_a_number(caplog):
    with caplog.at_level(logging.INFO, logger="hypergen.train.callbacks"):
        trainer = _fit(ProgressLog(every_n_steps=0, every_seconds=0, when="always", metric="val/loss"))
    lines = [r.getMessage() for r in caplog.records if r.name == "hypergen.train.callbacks"]
    assert lines[-1].endswith(" | finished after " + lines[-1].split(" | finished after ")[1])
    shown = re.search(r"\| val/loss ([\d.]+) \(step 4\)", lines[-1])
    assert shown, lines  # a cross-entropy (about ln 10 = 2.3 here), not a percentage
    assert float(shown.group(1)) == pytest.approx(float(trainer.callback_metrics["val/loss"]), rel=1e-3)
    assert 1.0 < float(shown.group(1)) < 5.0


def test_time_based_lines(caplog):
    clock = iter(range(0, 10_000, 100))  # every reading of the clock is 100 s later
    progress = ProgressLog(every_n_steps=0, every_seconds=150, when="always")
    progress.clock = lambda: float(next(clock))
    with caplog.at_level(logging.INFO, logger="hypergen.train.callbacks"):
        _fit(progress, steps=3)
    steps = [int(m.group(1)) for m in (LINE.match(r.getMessage()) for r in caplog.records) if m]
    assert steps == [2, 3]  # 200 s after the start at step 2, then the end; not at step 1 (100 s)


@pytest.mark.parametrize("terminal, progress_bar, expected", [
    (False, True, True),   # nohup, SLURM, CI: the progress bar writes nothing useful, so log lines
    (True, True, False),   # a terminal shows the progress bar
    (True, False, True),   # no progress bar at all
])
def test_auto_logs_only_when_no_progress_bar_is_seen(monkeypatch, caplog, terminal, progress_bar, expected):
    monkeypatch.setattr(callbacks, "_output_is_terminal", lambda: terminal)
    progress = ProgressLog(every_n_steps=1, when="auto")
    with caplog.at_level(logging.INFO, logger="hypergen.train.callbacks"):
        _fit(progress, progress_bar=progress_bar, steps=2)
    assert progress.active is expected
    assert any(LINE.match(r.getMessage()) for r in caplog.records) is expected


def test_bad_settings_name_the_key():
    with pytest.raises(ValueError, match=r"callbacks.progress_log.when='sometimes' is not one of \['always', 'auto'"):
        ProgressLog(when="sometimes")
    with pytest.raises(ValueError, match="every_n_steps and every_seconds must be >= 0"):
        ProgressLog(every_n_steps=-1)
    assert [format_duration(s) for s in (5, 65, 3725, float("inf"))] == ["5s", "1m05s", "1h02m", "?"]
