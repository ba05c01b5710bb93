"""Callbacks that the training-CLI tests add with ``+callbacks.probe._target_=train_probes.StateProbe`` (this folder
is put on the subprocess's PYTHONPATH): they save what a process holds at the start or the end of training."""

from __future__ import annotations

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
