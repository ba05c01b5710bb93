"""Experiment loggers from the ``logger`` config group: W&B offline by default, CSV when W&B cannot start.

W&B never prompts and never waits on the network here: the default is offline mode (runs land in
``<run dir>/wandb/offline-run-*``; ``wandb sync`` uploads them); asking for online mode without credentials logs a
warning and stays offline; and a W&B that fails to start (import error, service timeout) is replaced by a
:class:`~lightning.pytorch.loggers.CSVLogger` with a warning.
"""

from __future__ import annotations

from hypergen.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # lightning imports torchmetrics, which imports torchvision (docs/install.md)

import logging  # noqa: E402
import os  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from hydra.utils import get_class, instantiate  # noqa: E402
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

__all__ = ["build_loggers", "finish_loggers", "offline_without_account", "wandb_has_credentials"]

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


def _start_wandb(name: str, entry: dict[str, Any]) -> WandbLogger:
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
            loggers.append(CSVLogger(save_dir=str(run_dir), name="csv"))
    return loggers


def finish_loggers(loggers: list[Logger], failed: bool = False) -> None:
    """Close the W&B run of this process (if any), so that the next run in the process (a sweep's next trial) starts
    its own; ``failed`` marks it as crashed."""
    if not any(isinstance(logger, WandbLogger) for logger in loggers):
        return
    import wandb

    if wandb.run is not None:
        wandb.finish(exit_code=1 if failed else 0)
