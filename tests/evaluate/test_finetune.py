"""finetune / accuracy / Curve: measurement points, learning on a separable task, same seeds give the same run."""

import math
from functools import partial

import pytest
import torch
from torch import nn

from hypergen.evaluate import Curve, FinetuneConfig, accuracy, finetune


def _task(n: int = 512, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Gaussian blobs in 8-D: linearly separable, so a linear net must learn it."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 8, generator=g) * 0.5 + (2 * y[:, None] - 1).float()
    return x, y


def _batches(x, y, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    while True:
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y) - size + 1, size):
            yield x[perm[i:i + size]], y[perm[i:i + size]]


def test_eval_steps_include_start_and_end():
    assert FinetuneConfig(steps=120, eval_every=50).eval_steps() == [0, 50, 100, 120]
    assert FinetuneConfig(steps=100, eval_every=50).eval_steps() == [0, 50, 100]
    assert FinetuneConfig(steps=0, eval_every=10).eval_steps() == [0]
    with pytest.raises(ValueError, match="eval_every"):
        FinetuneConfig(steps=10, eval_every=0)


def test_curve_steps_to_reach():
    curve = Curve([0, 10, 20, 30], [0.1, 0.5, 0.7, 0.72], [math.nan, 1.0, 0.5, 0.4])
    assert curve.final == 0.72
    assert curve.steps_to_reach(0.5) == 10 and curve.steps_to_reach(0.71) == 30 and curve.steps_to_reach(0.8) is None


def test_accuracy_counts_correct_predictions():
    x = torch.eye(4)
    model = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(4))
    assert accuracy(model, [(x, torch.tensor([0, 1, 2, 3]))]) == 1.0
    assert accuracy(model, [(x, torch.tensor([0, 1, 0, 0]))]) == 0.5
    with pytest.raises(ValueError, match="at least one"):
        accuracy(model, [])


def test_finetune_learns_and_reports_each_point():
    x, y = _task()
    xt, yt = _task(256, seed=1)
    torch.manual_seed(0)
    model = nn.Linear(8, 2)
    curve = finetune(model, _batches(x, y), [(xt, yt)], FinetuneConfig(steps=60, eval_every=20),
                     partial(torch.optim.SGD, lr=0.1))
    assert curve.steps == [0, 20, 40, 60]
    assert math.isnan(curve.train_loss[0]) and curve.train_loss[3] < curve.train_loss[1]
    assert curve.acc[0] < 0.9 < curve.final  # blobs 4 std apart: a trained linear net is ~100% right
    assert curve.final == accuracy(model, [(xt, yt)])


def test_same_seed_and_batches_give_the_same_run_and_cosine_ends_at_zero_lr():
    x, y = _task()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.5), nn.ReLU(), nn.Linear(16, 2))
        opt = []
        make = lambda params: opt.append(torch.optim.SGD(params, lr=0.1)) or opt[-1]  # noqa: E731
        runs.append(finetune(model, _batches(x, y), [(x, y)], FinetuneConfig(steps=30, eval_every=10, cosine=True),
                             make))
        assert opt[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert runs[0] == runs[1]


def test_running_out_of_batches_is_an_error():
    x, y = _task(64)
    with pytest.raises(ValueError, match="ran out after 2 of 5 steps"):
        finetune(nn.Linear(8, 2), iter([(x[:32], y[:32]), (x[32:], y[32:])]), [(x, y)],
                 FinetuneConfig(steps=5, eval_every=5), partial(torch.optim.SGD, lr=0.1), name="probe")
