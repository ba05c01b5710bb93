"""Experiment loggers from the ``logger`` config group: W&B offline by default, CSV when W&B cannot start.

W&B never prompts and never waits on the network here: the default is offline mode (runs land in
``<run dir>/wandb/offline-run-*``; ``wandb sync`` uploads them); asking for online mode without credentials logs a
warning and stays offline; and a W&B that fails to start (import error, service timeout) is replaced by a
:class:`~lightning.pytorch.loggers.CSVLogger` with a warning.

A run resumed in its run directory keeps one record per logger: the W&B run id is kept in
``<run dir>/wandb/run_id`` and reused (``resume="allow"``), and :class:`ResumableCSVLogger` appends to the run's
``metrics.csv``, replacing the rows a killed process logged after its last checkpoint.
"""

from __future__ import annotations

from hypergen.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # lightning imports torchmetrics, which imports torchvision (docs/install.md)

import csv  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from hydra.utils import get_class, instantiate  # noqa: E402
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger  # noqa: E402
from lightning.pytorch.loggers.csv_logs import ExperimentWriter  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

__all__ = ["ResumableCSVLogger", "build_loggers", "finish_loggers", "offline_without_account", "wandb_has_credentials",
           "wandb_run_id"]

log = logging.getLogger(__name__)

#: ``WANDB_MODE`` values under which wandb needs no account.
_NO_ACCOUNT_MODES = frozenset({"offline", "dryrun", "disabled"})


def wandb_has_credentials() -> bool:
    """Whether wandb finds an API key (``WANDB_API_KEY``, settings file or ``.netrc``) without prompting."""
    import wandb

    return bool(wandb.login(prompt=False, verify=False))


def offline_without_account(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` (a ``WandbLogger`` config named ``logger.<name>``), switched to offline with a warning when it asks
    for online mode but wandb finds no account: wandb would otherwise prompt for an API key (or fail)."""
    online = not entry.get("offline", False) and os.environ.get("WANDB_MODE", "") not in _NO_ACCOUNT_MODES
    if online and not wandb_has_credentials():
        log.warning("logger.%s: W&B online mode needs an account (run `wandb login` or set WANDB_API_KEY); "
                    "logging offline instead (upload later with `wandb sync`)", name)
        entry = {**entry, "offline": True}
    return entry


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, but an existing ``metrics.csv`` is kept: the first save drops its rows at or after the
    first step this process logs (logged by a killed process after its last checkpoint, and logged again now) and
    writes the rest followed by the new rows."""

    def _check_log_dir_exists(self) -> None:  # Lightning's deletes the file of the previous process
        self._continued = self._fs.isfile(self.metrics_file_path)

    def save(self) -> None:
        if getattr(self, "_continued", False) and self.metrics:
            first = min(int(m["step"]) for m in self.metrics)
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                earlier = [row for row in csv.DictReader(f) if row.get("step") and int(row["step"]) < first]
            self._fs.rm_file(self.metrics_file_path)
            self.metrics = earlier + self.metrics
            self._continued = False
        super().save()


class ResumableCSVLogger(CSVLogger):
    """A :class:`~lightning.pytorch.loggers.CSVLogger` with one file per run: ``<save_dir>/<name>/version_0/
    metrics.csv`` by default, continued (not replaced, not a new ``version_1``) when the run resumes.

    Args:
        save_dir: the run directory.
        name: sub-folder of ``save_dir``.
        version: the version folder (``version_<n>`` for an int, else the string itself); fixed, so a resumed run
            finds its file.
        kwargs: more ``CSVLogger`` arguments (``flush_logs_every_n_steps``...).
    """

    def __init__(self, save_dir: str | Path, name: str = "csv", version: int | str = 0, **kwargs: Any) -> None:
        super().__init__(save_dir=save_dir, name=name, version=version, **kwargs)

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def wandb_run_id(save_dir: str | Path) -> str:
    """The W&B run id of the run saving to ``save_dir``: read from ``<save_dir>/wandb/run_id``, created there on the
    first call, so every resume of a run logs to the same W&B run."""
    path = Path(save_dir) / "wandb" / "run_id"
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:12]
    path.write_text(run_id + "\n")
    return run_id


def _start_wandb(name: str, entry: dict[str, Any]) -> WandbLogger:
    if not entry.get("id") and entry.get("save_dir"):
        entry = {**entry, "id": wandb_run_id(entry["save_dir"]), "resume": entry.get("resume", "allow")}
    logger = instantiate(offline_without_account(name, entry))
    _ = logger.experiment  # start the run now (on rank 0 only), so a failure shows here, not mid-training
    return logger


def _is_wandb(entry: Mapping[str, Any]) -> bool:
    target = entry.get("_target_", "")
    try:
        return issubclass(get_class(target), WandbLogger)
    except Exception:  # noqa: BLE001 - an unimportable target is not a wandb logger; instantiate reports it
        return False


def build_loggers(cfg: Mapping[str, Any] | None, run_dir: str | Path) -> list[Logger]:
    """The loggers of ``cfg`` (the ``logger`` group: ``{name: config}``; empty or null for none).

    Args:
        cfg: logger configs, each with a ``_target_``.
        run_dir: where the CSV fallback writes (``<run_dir>/csv``).

    Raises:
        ValueError: an entry has no ``_target_``.
    """
    loggers: list[Logger] = []
    for name, entry in (cfg or {}).items():
        if entry is None:
            continue
        if "_target_" not in entry:
            raise ValueError(f"logger.{name} has no _target_; give the logger class, or set logger.{name}=null")
        plain = OmegaConf.to_container(entry, resolve=True) if OmegaConf.is_config(entry) else dict(entry)
        if not _is_wandb(plain):
            loggers.append(instantiate(plain))
            continue
        try:
            loggers.append(_start_wandb(name, plain))
        except Exception as err:  # noqa: BLE001 - any wandb failure falls back to CSV, loudly
            log.warning("logger.%s: W&B could not start (%s: %s); logging to CSV in %s/csv instead",
                        name, type(err).__name__, err, run_dir)
            loggers.append(ResumableCSVLogger(save_dir=str(run_dir), name="csv"))
    return loggers


def finish_loggers(loggers: list[Logger], failed: bool = False) -> None:
    """Close the W&B run of this process (if any), so that the next run in the process (a sweep's next trial) starts
    its own; ``failed`` marks it as crashed."""
    if not any(isinstance(logger, WandbLogger) for logger in loggers):
        return
    import wandb

    if wandb.run is not None:
        wandb.finish(exit_code=1 if failed else 0)
