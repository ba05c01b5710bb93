"""Training GHNs: architecture pools, the Lightning module, schedules and the Hydra entry point.

- :mod:`~hypergen.train.archs` (``ArchPool``), :mod:`~hypergen.train.schedule`: no Lightning;
- :mod:`~hypergen.train.module` (``GHNTrainingModule``), :mod:`~hypergen.train.callbacks` (checkpoints, export),
  :mod:`~hypergen.train.loggers` (W&B offline / CSV): the Lightning parts;
- :mod:`~hypergen.train.run` (``hypergen-train``, ``python -m hypergen.train``) composes ``conf/train.yaml`` and
  builds everything with :mod:`~hypergen.train.builders`; :mod:`~hypergen.train.resume` picks the checkpoint;
  :mod:`~hypergen.train.app` checks the config first and turns user errors into one line;
- :mod:`~hypergen.train.export` (``export_ghn_checkpoint``): the GHN of a training checkpoint as a GHN file.

Importing this package does not import Lightning; its Lightning modules do.
"""

from __future__ import annotations

from hypergen.train.archs import ArchPool, HeldOutArch
from hypergen.train.export import export_ghn_checkpoint
from hypergen.train.schedule import check_decay_steps, warmup_cosine

__all__ = ["ArchPool", "HeldOutArch", "check_decay_steps", "export_ghn_checkpoint", "warmup_cosine"]
