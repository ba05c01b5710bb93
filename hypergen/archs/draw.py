"""Random draws used by the family samplers (all from a ``random.Random``, so specs are reproducible)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["draw_choice", "draw_int", "draw_log_int", "draw_stage_widths", "round_to", "stage_strides"]

T = TypeVar("T")


def round_to(value: float, multiple: int) -> int:
    """``value`` rounded to the nearest positive multiple of ``multiple``."""
    return max(multiple, int(round(value / multiple)) * multiple)


def draw_int(rng: random.Random, bounds: tuple[int, int]) -> int:
    """Uniform int in the inclusive ``bounds``."""
    return rng.randint(*bounds)


def draw_log_int(rng: random.Random, bounds: tuple[int, int], multiple: int = 1) -> int:
    """Log-uniform int in the inclusive ``bounds``, a multiple of ``multiple`` (bounds should be multiples too)."""
    lo, hi = bounds
    value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    return min(hi, max(lo, round_to(value, multiple)))


def draw_choice(rng: random.Random, choices: Sequence[T]) -> T:
    """Uniform choice (a plain wrapper so samplers read uniformly)."""
    return choices[rng.randrange(len(choices))]


def draw_stage_widths(rng: random.Random, first: tuple[int, int], stages: int, growth: Sequence[float],
                      multiple: int = 4) -> list[int]:
    """Per-stage widths: the first log-uniform in ``first``, each next one the previous times a drawn growth."""
    widths = [draw_log_int(rng, first, multiple)]
    for _ in range(stages - 1):
        widths.append(round_to(widths[-1] * draw_choice(rng, growth), multiple))
    return widths


def stage_strides(stages: int, size: int, min_size: int = 2) -> list[int]:
    """Stride 1 for the first stage, then 2 for each later stage while the resolution stays ``>= min_size``."""
    strides = [1]
    for _ in range(stages - 1):
        halve = (size + 1) // 2 >= min_size
        strides.append(2 if halve else 1)
        size = (size + 1) // 2 if halve else size
    return strides
