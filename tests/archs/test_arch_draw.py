"""Random draws of the samplers."""

from __future__ import annotations

import random

from hypergen.archs.draw import draw_log_int, draw_stage_widths, round_to, stage_strides


def test_draw_log_int_stays_in_bounds_on_multiples():
    rng = random.Random(0)
    values = [draw_log_int(rng, (8, 48), 4) for _ in range(2000)]
    assert min(values) == 8 and max(values) == 48 and all(v % 4 == 0 for v in values)
    assert sum(v <= 20 for v in values) > sum(v > 36 for v in values)  # log-uniform favours small values


def test_stage_widths_and_strides():
    widths = draw_stage_widths(random.Random(1), (16, 16), 4, (2.0,))
    assert widths == [16, 32, 64, 128]
    assert stage_strides(4, 32) == [1, 2, 2, 2]
    assert stage_strides(5, 7) == [1, 2, 2, 1, 1]  # 7 -> 4 -> 2, then the resolution would drop below 2
    assert round_to(1.0, 8) == 8 and round_to(21, 4) == 20
