"""Which checkpoint a run starts from: an explicit ``ckpt_path``, else the run's own ``last.ckpt`` (resume)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["last_checkpoint_path", "resume_checkpoint"]

log = logging.getLogger(__name__)


def last_checkpoint_path(callbacks: Sequence[Any]) -> Path | None:
    """Where this run's ``last.ckpt`` is written: the folder of the first checkpoint callback with ``save_last``."""
    for callback in callbacks:
        if getattr(callback, "save_last", False) and getattr(callback, "dirpath", None):
            return Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"
    return None


def resume_checkpoint(callbacks: Sequence[Any], resume: bool = True, ckpt_path: str | None = None) -> str | None:
    """The checkpoint to pass to ``Trainer.fit(ckpt_path=...)``, or None to start from scratch.

    Args:
        callbacks: the run's callbacks (the one saving ``last.ckpt`` says where the run's checkpoints are).
        resume: continue from the run's ``last.ckpt`` when it exists.
        ckpt_path: start from this checkpoint instead.

    Raises:
        FileNotFoundError: ``ckpt_path`` does not exist.
        FileExistsError: the run has a ``last.ckpt`` but ``resume`` is false (it would be overwritten).
    """
    if ckpt_path:
        if not Path(ckpt_path).is_file():
            raise FileNotFoundError(f"ckpt_path={ckpt_path!r} does not exist; give an existing .ckpt or ckpt_path=null")
        log.info("starting from checkpoint %s", ckpt_path)
        return str(ckpt_path)
    last = last_checkpoint_path(callbacks)
    if last is None or not last.is_file():
        return None
    if not resume:
        raise FileExistsError(f"{last} exists: this run directory holds a run. Use resume=true to continue it, or "
                              f"another name=... (or hydra.run.dir=...) to start a new one")
    log.info("resuming from %s", last)
    return str(last)
