"""Training GHNs: architecture pools, the Lightning module, schedules and the Hydra entry point.

- :mod:`~hypergen.train.archs` (``ArchPool``), :mod:`~hypergen.train.schedule`: no Lightning;
- :mod:`~hypergen.train.module` (``GHNTrainingModule``), :mod:`~hypergen.train.callbacks` (checkpoints, export),
  :mod:`~hypergen.train.loggers` (W&B offline / CSV): the Lightning parts;
- :mod:`~hypergen.train.run` (``hypergen-train``, ``python -m hypergen.train``) composes ``conf/train.yaml`` and
  builds everything with :mod:`~hypergen.train.builders`; :mod:`~hypergen.train.resume` picks the checkpoint.

Importing this package does not import Lightning; its Lightning modules do.
"""

from __future__ import annotations

from hypergen.train.archs import ArchPool, HeldOutArch
from hypergen.train.schedule import warmup_cosine

__all__ = ["ArchPool", "HeldOutArch", "warmup_cosine"]
