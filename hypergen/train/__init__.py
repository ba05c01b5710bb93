"""Training GHNs: architecture pools, the Lightning module, schedules and the Hydra entry point.

Importing :mod:`hypergen.train.module` imports Lightning; this package itself does not.
"""

from __future__ import annotations

from hypergen.train.archs import ArchPool, HeldOutArch
from hypergen.train.schedule import warmup_cosine

__all__ = ["ArchPool", "HeldOutArch", "warmup_cosine"]
