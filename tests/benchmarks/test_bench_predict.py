"""``benchmarks/bench_predict.py --floor``: what a low-rank decoder must spend, measured without a GHN."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their helpers as top-level modules, as when run directly

import bench_predict  # noqa: E402


def _model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.Flatten(), nn.Linear(40, 24), nn.LayerNorm(24))


def test_every_floor_maker_returns_fresh_tensors_of_the_models_shapes() -> None:
    model = _model()
    shapes = [tuple(p.shape) for p in model.parameters()]
    for name, make in bench_predict._floor_makers(model, rank=5).items():
        made = make()
        assert [tuple(t.shape) for t in made] == shapes, name
        assert all(t.is_contiguous() and t.dtype == torch.float32 for t in made), name
        assert not any(t.data_ptr() == p.data_ptr() for t, p in zip(made, model.parameters(), strict=True)), name


def test_the_product_has_the_decoders_rank_and_the_draws_the_bases_range() -> None:
    torch.manual_seed(0)
    model = _model()
    makers = bench_predict._floor_makers(model, rank=5)
    conv, _, _, _, linear, _, _, _ = makers["product_s"]()
    assert torch.linalg.matrix_rank(conv.reshape(16, -1)).item() == 5  # [16, 27]: full rank would be 16
    assert torch.linalg.matrix_rank(linear).item() == 5  # [24, 40]
    drawn = makers["draw_s"]()
    assert drawn[0].min() >= -1 and drawn[0].max() < 1 and drawn[0].std() > 0.5  # uniform on [-1, 1): std 0.577
    assert torch.equal(drawn[4], makers["draw_s"]()[4])  # one seeded generator: the same values every call
    assert torch.equal(makers["write_s"]()[1], torch.full((16,), 0.5))


def test_floor_times_every_maker() -> None:
    times = bench_predict._floor(_model(), rank=4, repeats=2)
    assert set(times) == {"write_s", "product_s", "draw_s"}
    assert all(0 < t < 5 for t in times.values())
