"""Callbacks that the training-CLI tests add with ``+callbacks.probe._target_=train_probes.StateProbe`` (this folder
is put on the subprocess's PYTHONPATH): they save what a process holds at the start or the end of training, and
what each step trained on."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback


class StateProbe(Callback):
    """Saves ``{global_step, ghn, optimizer, scheduler}`` to ``<path>-<when>-rank<r>-step<s>.pt``.

    ``when="start"`` records the state right after a checkpoint was restored (``on_train_start`` runs after
    Lightning restores model, optimizer and scheduler); ``when="end"`` the final state of each process.
    """

    def __init__(self, path: str, when: str = "start") -> None:
        self.path, self.when = path, when

    def _save(self, trainer, pl_module) -> None:
        state = {
            "global_step": trainer.global_step,
            "ghn": {k: v.detach().cpu().clone() for k, v in pl_module.ghn.state_dict().items()},
            "optimizer": trainer.optimizers[0].state_dict(),
            "scheduler": trainer.lr_scheduler_configs[0].scheduler.state_dict(),
        }
        out = Path(f"{self.path}-{self.when}-rank{trainer.global_rank}-step{trainer.global_step}.pt")
        torch.save(state, out)

    def on_train_start(self, trainer, pl_module) -> None:
        if self.when == "start":
            self._save(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.when == "end":
            self._save(trainer, pl_module)


class BatchProbe(Callback):
    """Appends ``{"step", "inputs", "labels", "archs"}`` (SHA-1 digests of the batch's inputs and labels, and the
    digests of the step's architecture keys) per training step to ``path`` (JSON lines); with ``crash_at_step`` the
    process dies there at once, as under ``kill -9`` (no cleanup, no final checkpoint, no logger flush)."""

    def __init__(self, path: str, crash_at_step: int | None = None) -> None:
        self.path, self.crash_at_step = Path(path), crash_at_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.crash_at_step:
            os._exit(137)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        from hypergen.train.callbacks import arch_key_digest

        x, y = batch
        record = {"step": trainer.global_step - 1, "batch_idx": batch_idx,
                  "inputs": hashlib.sha1(x.detach().cpu().numpy().tobytes()).hexdigest(),
                  "labels": hashlib.sha1(y.detach().cpu().numpy().tobytes()).hexdigest(),
                  "archs": [arch_key_digest(k) for k in pl_module.last_arch_keys]}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
