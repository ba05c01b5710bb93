"""Training callbacks: the resumable last checkpoint, export of the best GHN with a final summary, progress lines in
the log when no terminal shows a progress bar, and a log of the architectures each process trained on."""

from __future__ import annotations

from hypergen.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # lightning imports torchmetrics, which imports torchvision (docs/install.md)

import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.callbacks import Callback, ModelCheckpoint  # noqa: E402

from hypergen.ghn import GraphHyperNetwork, save_ghn  # noqa: E402
from hypergen.train.resume import last_checkpoint_path  # noqa: E402

__all__ = ["ArchKeyLogger", "ExportGHN", "HELDOUT_FILE", "LastCheckpoint", "ProgressLog", "arch_key_digest",
           "format_duration", "heldout_summary"]

log = logging.getLogger(__name__)

#: Written next to the exported GHN: ``{"split": "<family> <split> archs (<n> nets)", "specs": [spec, ...]}``.
HELDOUT_FILE = "heldout_archs.json"


class LastCheckpoint(ModelCheckpoint):
    """Keeps ``<dirpath>/last.ckpt`` only: written every ``every_n_train_steps``, again after a validation of the same
    step, and when training ends, so re-running a command resumes where it stopped (optimizer, LR schedule, EMA,
    global step and hence the architecture stream, data loader position, validation history).

    Args:
        dirpath: checkpoint folder.
        every_n_train_steps: steps between saves.
        kwargs: more :class:`~lightning.pytorch.callbacks.ModelCheckpoint` arguments.
    """

    def __init__(self, dirpath: str | Path, every_n_train_steps: int = 100, **kwargs: Any) -> None:
        super().__init__(dirpath=dirpath, every_n_train_steps=every_n_train_steps, save_top_k=0, save_last=True,
                         enable_version_counter=False, **kwargs)

    @property
    def last_path(self) -> Path:
        """Where the last checkpoint is written."""
        return Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        if getattr(self, "_last_global_step_saved", None) == trainer.global_step:
            # This step's periodic save ran before this validation, and Lightning does not repeat a validation that
            # was due at a checkpoint's step when it resumes: save again, so its result (the validation history,
            # the best checkpoint so far) survives a kill. The builders put this callback after the other
            # checkpoint callbacks, so their state after this validation is in the file.
            trainer.save_checkpoint(self.last_path, weights_only=False)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if getattr(self, "_last_global_step_saved", None) == trainer.global_step:
            return  # the periodic save just wrote this step
        trainer.save_checkpoint(self.last_path, weights_only=False)
        self.last_model_path = str(self.last_path)


def heldout_summary(archs: Any) -> str:
    """``"deepnets test archs (8 nets)"``: what the validation accuracy is measured on (an ``ArchPool``)."""
    sampler = archs.heldout_sampler
    return f"{sampler.family.name} {sampler.split.name} archs ({archs.heldout_count} nets)"


class ExportGHN(Callback):
    """At the end of ``fit``, saves the best GHN with :func:`hypergen.save_ghn`, writes its metrics next to it
    (``metrics.json``) with the specs of the held-out nets they were measured on (:data:`HELDOUT_FILE`, read by
    ``hypergen-eval run_dir=...``) and logs a summary line: held-out accuracy and loss of predicted weights (no
    training) next to random init.

    The GHN is rebuilt from a checkpoint file (the best by ``monitor``; the last one when no validation ran) with
    ``load_from_checkpoint``, so the live module, which may be wrapped or sharded, is never touched.

    Args:
        path: the ``.safetensors`` file to write.
        monitor: metric that picks the best validation, as the best checkpoint's ``monitor`` (whose ``mode`` says
            whether higher or lower is better): ``val/acc`` for classifiers, ``val/loss`` for language models.
        baseline: accuracy of the same held-out nets with PyTorch's default init (its loss, ``val/loss_random_init``,
            is reported next to ``val/loss`` when logged).

    Attributes:
        records: ``[{"step": int, "val/...": float}]``, one per validation (kept in checkpoints).
        final_metrics: the exported GHN's validation metrics (empty before the end of ``fit``, or when that GHN was
            not validated).
    """

    def __init__(self, path: str | Path, monitor: str = "val/acc", baseline: str = "val/acc_random_init") -> None:
        self.path = Path(path)
        self.monitor, self.baseline = monitor, baseline
        self.records: list[dict[str, float]] = []
        self.final_metrics: dict[str, float] = {}

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics
        if trainer.sanity_checking or self.monitor not in metrics:
            return
        record = {name: float(v) for name, v in metrics.items() if name.startswith("val/") and v.numel() == 1}
        self.records.append({"step": trainer.global_step, **record})

    def state_dict(self) -> dict[str, Any]:
        return {"records": list(self.records)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.records = list(state_dict.get("records", []))

    def _checkpoint_to_export(self, trainer: pl.Trainer) -> tuple[Path | None, str]:
        """The best checkpoint by ``monitor``, else the last one; and which of the two it is."""
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.monitor == self.monitor and callback.best_model_path:
                if Path(callback.best_model_path).is_file():
                    return Path(callback.best_model_path), "best"
        last = last_checkpoint_path(trainer.checkpoint_callbacks)
        return (last, "last") if last is not None and last.is_file() else (None, "current")

    @staticmethod
    def _export(pl_module: pl.LightningModule, checkpoint: Path | None) -> tuple[GraphHyperNetwork, int | None]:
        """The GHN stored in ``checkpoint`` and its step (the live module's GHN and None without a checkpoint)."""
        if checkpoint is None:
            return pl_module.export_ghn(), None
        module = type(pl_module).load_from_checkpoint(checkpoint, map_location="cpu", weights_only=False,
                                                      archs=getattr(pl_module, "archs", None))
        step = torch.load(checkpoint, map_location="cpu", weights_only=False, mmap=True)["global_step"]
        return module.export_ghn(), int(step)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        checkpoint, which = self._checkpoint_to_export(trainer)
        ghn, step = self._export(pl_module, checkpoint)
        save_ghn(ghn, self.path)
        record = next((r for r in reversed(self.records) if r["step"] == step), None)
        self.final_metrics = dict(record) if record else {}
        summary = {"ghn": str(self.path), "checkpoint": str(checkpoint) if checkpoint else None, "exported": which,
                   "global_step": trainer.global_step, "metrics": self.final_metrics}
        (self.path.parent / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
        if hasattr(pl_module, "archs"):  # the nets val/acc was measured on, for hypergen-eval run_dir=...
            specs = {"split": heldout_summary(pl_module.archs), "specs": pl_module.archs.heldout_specs}
            (self.path.parent / HELDOUT_FILE).write_text(json.dumps(specs, indent=1) + "\n")
        for logger in trainer.loggers:
            logger.log_metrics({f"final/{k}": v for k, v in self.final_metrics.items() if k != "step"},
                               step=trainer.global_step)
        self._log_summary(pl_module, record, which)

    def _log_summary(self, pl_module: pl.LightningModule, record: dict[str, float] | None, which: str) -> None:
        what = heldout_summary(pl_module.archs) if hasattr(pl_module, "archs") else "held-out archs"
        if record is None or self.baseline not in record:
            log.info("exported the %s GHN weights to %s; they were not validated, so the accuracy of %s is not "
                     "measured (validate at the end with trainer.val_check_interval)", which, self.path, what)
            return
        loss = ""
        if "val/loss" in record and "val/loss_random_init" in record:
            loss = (f", cross-entropy {record['val/loss']:.4g} vs {record['val/loss_random_init']:.4g}"
                    + (f" (perplexity {record['val/ppl']:.4g})" if "val/ppl" in record else ""))
        log.info("held-out %s: predicted weights %.1f%% top-1 (no training) vs random init %.1f%%%s "
                 "[%s validation by %s, step %d; GHN saved to %s]", what, 100 * record.get("val/acc", math.nan),
                 100 * record[self.baseline], loss, which, self.monitor, record["step"], self.path)


def arch_key_digest(key: str) -> str:
    """A short stable name of an architecture key (its canonical spec JSON)."""
    return hashlib.sha1(key.encode()).hexdigest()[:16]


class ArchKeyLogger(Callback):
    """Appends ``{"step", "rank", "world_size", "indices", "keys"}`` per training step to
    ``<dirpath>/rank<r>.jsonl``: the architectures (digests of their keys, see :func:`arch_key_digest`, and their pool
    indices) this process trained on, for checking rank-disjoint sampling and resumed sampler positions.

    Args:
        dirpath: output folder.
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)
        self._step = 0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self._step = trainer.global_step  # the step this batch trains (global_step counts finished steps)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        keys = list(pl_module.last_arch_keys)
        rank, world = trainer.global_rank, trainer.world_size
        record = {"step": self._step, "rank": rank, "world_size": world,
                  "indices": pl_module.archs.indices(self._step, rank, world, len(keys)),
                  "keys": [arch_key_digest(k) for k in keys]}
        self.dirpath.mkdir(parents=True, exist_ok=True)
        with open(self.dirpath / f"rank{rank}.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")


def format_duration(seconds: float) -> str:
    """``"1h02m"``, ``"12m05s"``, ``"42s"``; ``"?"`` for a duration not known (NaN or infinite)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _output_is_terminal() -> bool:
    return sys.stdout.isatty() or sys.stderr.isatty()


#: ``ProgressLog(when=...)``: whether a trainer's run gets progress lines.
PROGRESS_WHEN: dict[str, Callable[[pl.Trainer], bool]] = {
    # under nohup, SLURM or CI (no terminal) a progress bar shows nothing; without a progress bar neither
    "auto": lambda trainer: not _output_is_terminal() or trainer.progress_bar_callback is None,
    "always": lambda trainer: True,
    "never": lambda trainer: False,
}


class ProgressLog(Callback):
    """Writes progress lines to the log (``logging``, so Hydra's console and ``<run dir>/train.log``): step, loss,
    seconds per step, time left and the latest validation, every ``every_n_steps`` steps or ``every_seconds``
    seconds, whichever comes first, after each validation and at the end.

    Example line: ``step 650/1300 (50%) | train/loss 1.732 | 0.74 s/step | ETA 8m01s | val/acc 31.2% (step 650)``.

    Args:
        every_n_steps: steps between lines (0: no step-based lines).
        every_seconds: seconds between lines (0: no time-based lines).
        when: ``"auto"`` (only when neither stdout nor stderr is a terminal, or the progress bar is off), ``"always"``
            or ``"never"`` (see :data:`PROGRESS_WHEN`).
        metric: the validation metric shown: ``*acc`` metrics (fractions) print as percentages, others (losses,
            perplexities) as numbers.

    Raises:
        ValueError: ``when`` is not one of :data:`PROGRESS_WHEN`, or an interval is negative.
    """

    def __init__(self, every_n_steps: int = 50, every_seconds: float = 300.0, when: str = "auto",
                 metric: str = "val/acc") -> None:
        if when not in PROGRESS_WHEN:
            raise ValueError(f"callbacks.progress_log.when={when!r} is not one of {sorted(PROGRESS_WHEN)}")
        if every_n_steps < 0 or every_seconds < 0:
            raise ValueError(f"callbacks.progress_log: every_n_steps and every_seconds must be >= 0 (0 turns one off), "
                             f"got {every_n_steps} and {every_seconds}")
        self.every_n_steps, self.every_seconds, self.when, self.metric = every_n_steps, every_seconds, when, metric
        self.active = False
        self.clock: Callable[[], float] = time.monotonic  # seconds; replaceable in tests
        self._start_time = self._last_time = 0.0
        self._start_step = 0
        self._validation: tuple[float, int] | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.active = trainer.is_global_zero and PROGRESS_WHEN[self.when](trainer)
        self._start_time = self._last_time = self.clock()
        self._start_step = trainer.global_step  # a resumed run measures its own speed

    def _due(self, step: int, now: float) -> bool:
        by_steps = self.every_n_steps > 0 and step % self.every_n_steps == 0
        by_time = self.every_seconds > 0 and now - self._last_time >= self.every_seconds
        return by_steps or by_time

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        now = self.clock()
        if self.active and self._due(trainer.global_step, now):
            log.info(self.line(trainer, now))
            self._last_time = now

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.metric)
        if trainer.sanity_checking or value is None:
            return
        self._validation = (float(value), trainer.global_step)
        if self.active:
            log.info(self.line(trainer, self.clock()))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.active:
            now = self.clock()
            log.info("%s | finished after %s", self.line(trainer, now), format_duration(now - self._start_time))

    def line(self, trainer: pl.Trainer, now: float) -> str:
        """The progress line of ``trainer`` at time ``now`` (of :attr:`clock`)."""
        step = trainer.global_step
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else trainer.estimated_stepping_batches
        done = step - self._start_step
        per_step = (now - self._start_time) / done if done > 0 else math.nan
        parts = [f"step {step}/{total}" + (f" ({100 * step / total:.0f}%)" if math.isfinite(total) else "")]
        loss = trainer.callback_metrics.get("train/loss")
        if loss is not None:
            parts.append(f"train/loss {float(loss):.4g}")
        parts.append(f"{per_step:.3g} s/step" if math.isfinite(per_step) else "? s/step")
        parts.append(f"ETA {format_duration(per_step * (total - step))}")
        if self._validation is not None:
            value, at = self._validation
            shown = f"{100 * value:.1f}%" if self.metric.endswith("acc") else f"{value:.4g}"
            parts.append(f"{self.metric} {shown} (step {at})")
        return " | ".join(parts)
