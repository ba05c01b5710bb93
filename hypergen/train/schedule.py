"""Learning-rate schedule: linear warmup, optionally a hold at the peak, then cosine decay to a floor."""

from __future__ import annotations

import math

__all__ = ["check_decay_steps", "warmup_cosine"]


def check_decay_steps(decay_steps: int | None, name: str = "decay_steps") -> None:
    """Refuse a final-decay length that is neither ``None`` nor positive, naming it ``name`` (e.g.
    ``module.decay_steps`` where it came from a config).

    Raises:
        ValueError: ``decay_steps <= 0``.
    """
    if decay_steps is not None and decay_steps <= 0:
        raise ValueError(f"{name}={decay_steps}: give a positive number of steps for the final decay, or null (None) "
                         "to decay over every step after the warmup")


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.01,
                  decay_steps: int | None = None) -> float:
    """Multiplier of the base learning rate at ``step`` (for ``torch.optim.lr_scheduler.LambdaLR``).

    Rises linearly from ``1/warmup_steps`` to 1 over ``warmup_steps``, then follows a cosine down to ``min_ratio`` at
    ``total_steps`` (and stays there). With ``decay_steps``, the multiplier holds at 1 after the warmup and the cosine
    spans only the last ``decay_steps`` steps before ``total_steps`` (warmup-stable-decay); ``None`` decays over every
    step after the warmup.

    Raises:
        ValueError: ``decay_steps`` is not positive.
    """
    check_decay_steps(decay_steps)
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    start = warmup_steps if decay_steps is None else max(warmup_steps, total_steps - decay_steps)
    if step < start:
        return 1.0
    span = max(1, total_steps - start)
    progress = min(1.0, (step - start) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
