"""Experiment loggers: W&B offline by default, never asking for a login, and CSV when W&B cannot start."""

import csv
import logging
import sys

import pytest
from lightning.pytorch.loggers import CSVLogger

from hypergen.train import loggers

WANDB = {"_target_": "lightning.pytorch.loggers.wandb.WandbLogger", "offline": True, "project": "hypergen"}


def test_online_wandb_without_an_account_stays_offline(monkeypatch, caplog):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(loggers, "wandb_has_credentials", lambda: False)
    with caplog.at_level(logging.WARNING, logger="hypergen.train.loggers"):
        entry = loggers.offline_without_account("wandb", {**WANDB, "offline": False})
    assert entry["offline"] is True and "run `wandb login` or set WANDB_API_KEY" in caplog.text
    monkeypatch.setattr(loggers, "wandb_has_credentials", lambda: True)
    assert loggers.offline_without_account("wandb", {**WANDB, "offline": False})["offline"] is False
    monkeypatch.setattr(loggers, "wandb_has_credentials", lambda: pytest.fail("no account is needed offline"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert loggers.offline_without_account("wandb", {**WANDB, "offline": False})["offline"] is False


def test_wandb_that_cannot_start_falls_back_to_csv(monkeypatch, tmp_path, caplog):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` now raises ImportError
    with caplog.at_level(logging.WARNING, logger="hypergen.train.loggers"):
        built = loggers.build_loggers({"wandb": {**WANDB, "save_dir": str(tmp_path)}}, tmp_path)
    assert len(built) == 1 and isinstance(built[0], CSVLogger)
    assert built[0].save_dir == str(tmp_path) and built[0].name == "csv"
    assert "logger.wandb: W&B could not start (ModuleNotFoundError: import of wandb halted" in caplog.text
    loggers.finish_loggers(built)  # nothing to finish


def test_other_loggers_and_bad_entries(tmp_path):
    built = loggers.build_loggers({"csv": {"_target_": "lightning.pytorch.loggers.CSVLogger",
                                           "save_dir": str(tmp_path)}, "off": None}, tmp_path)
    assert [type(x) for x in built] == [CSVLogger]
    assert loggers.build_loggers(None, tmp_path) == [] and loggers.build_loggers({}, tmp_path) == []
    with pytest.raises(ValueError, match="logger.x has no _target_"):
        loggers.build_loggers({"x": {"save_dir": "."}}, tmp_path)


def test_a_resumed_run_logs_to_the_same_wandb_run(monkeypatch, tmp_path):
    started = []

    class FakeWandb:
        experiment = None

    monkeypatch.setattr(loggers, "instantiate", lambda entry: started.append(entry) or FakeWandb())
    for _ in range(2):  # the first process, then the resumed one
        loggers.build_loggers({"wandb": {**WANDB, "save_dir": str(tmp_path)}}, tmp_path)
    run_id = (tmp_path / "wandb" / "run_id").read_text().strip()
    assert len(run_id) == 12 and [e["id"] for e in started] == [run_id, run_id]
    assert all(e["resume"] == "allow" for e in started)
    other = tmp_path / "other"
    assert loggers.wandb_run_id(other) != run_id  # another run directory is another W&B run


def test_csv_logger_continues_the_runs_file(tmp_path):
    first = loggers.ResumableCSVLogger(tmp_path)
    for step in range(6):
        first.log_metrics({"train/loss": float(step)}, step=step)
    first.save()  # then the process is killed; its last checkpoint was at step 4
    resumed = loggers.ResumableCSVLogger(tmp_path)
    for step in range(4, 8):
        resumed.log_metrics({"train/loss": 10.0 + step, "val/acc": 0.5}, step=step)
    resumed.save()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.csv")) == ["csv/version_0/metrics.csv"]
    with open(tmp_path / "csv" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["step"]), float(r["train/loss"])) for r in rows] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0),
                                                                       (4, 14.0), (5, 15.0), (6, 16.0), (7, 17.0)]
    assert [r["val/acc"] for r in rows] == [""] * 4 + ["0.5"] * 4
