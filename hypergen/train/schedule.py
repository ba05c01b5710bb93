"""Learning-rate schedule: linear warmup, then cosine decay to a floor."""

from __future__ import annotations

import math

__all__ = ["warmup_cosine"]


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.01) -> float:
    """Multiplier of the base learning rate at ``step`` (for ``torch.optim.lr_scheduler.LambdaLR``).

    Rises linearly from ``1/warmup_steps`` to 1 over ``warmup_steps``, then follows a cosine down to ``min_ratio`` at
    ``total_steps`` (and stays there).
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
