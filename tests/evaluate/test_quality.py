import math

import pytest
import torch
from torch import nn

from hypergen.apply.functional import forward_with
from hypergen.archs import ArchSampler
from hypergen.archs.cache import ArchCache
from hypergen.evaluate.quality import (
    accuracy_with, mean_std, predicted_quality, repeated_unit_fraction, steps_at_chance, summarize_runs,
)
from hypergen.ghn import GHNConfig, GraphHyperNetwork


def test_repeated_unit_fraction_counts_exact_duplicate_rows():
    w = torch.randn(8, 3, 3, 3)
    assert repeated_unit_fraction([("w", w)]) == 0.0
    tiled = torch.randn(4, 5).repeat(2, 1)  # units i and i + 4 are copies, as a tiling decoder makes them
    assert repeated_unit_fraction([("t", tiled), ("w", w)]) == pytest.approx(8 / 16)
    assert repeated_unit_fraction([("bias", torch.zeros(5))]) is None  # vectors have no units to compare


def test_mean_std_and_summaries():
    assert mean_std([1.0]) == (1.0, 0.0)
    mean, std = mean_std([1.0, 2.0, 3.0])
    assert mean == 2.0 and std == pytest.approx(1.0)
    runs = [{"a": 1.0, "b": None}, {"a": 3.0, "b": 2.0}]
    assert summarize_runs(runs, ["a", "b", "c"]) == {"a": (2.0, pytest.approx(2 ** 0.5))}


def _toy_task():
    torch.manual_seed(0)
    x = torch.randn(256, 1, 12, 12)
    y = (x[:, 0, :6].mean((1, 2)) > x[:, 0, 6:].mean((1, 2))).long()  # learnable: top half vs bottom half
    return x, y


def test_accuracy_with_uses_the_given_weights_and_leaves_the_model_alone():
    x, y = _toy_task()
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(400, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    params["4.weight"].zero_()
    params["4.bias"].copy_(torch.tensor([0.0, 1.0]))  # always class 1
    acc = accuracy_with(model, params, [x[:64]], [(x, y)])
    assert acc == pytest.approx(float((y == 1).float().mean()))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # buffers restored too


def test_predicted_quality_of_an_untrained_ghn_on_sampled_nets():
    sampler = ArchSampler("deepnets", "test", (1, 12, 12), 2, seed=1, options={"stem_stride": [2]})
    cache = ArchCache()
    nets = [cache.get(sampler.sample(i)) for i in range(2)]
    x, y = _toy_task()
    torch.manual_seed(0)
    quality = predicted_quality(GraphHyperNetwork(GHNConfig(hidden=32, heads=4, base=True)), nets, [x[:64]], [(x, y)])
    assert len(quality.accuracy) == 2 and all(0.0 <= a <= 1.0 for a in quality.accuracy)
    assert quality.repeated_units == 0.0  # the low-rank decoder with its base never repeats a unit
    assert quality.similarity is None or quality.similarity < 0.95  # layers of a shape differ
    with pytest.raises(ValueError, match="at least one net"):
        predicted_quality(GraphHyperNetwork(GHNConfig(hidden=32, heads=4)), [], [x], [(x, y)])


def test_accuracy_with_counts_every_token_position_of_a_language_model():
    spec = {"family": "gpt", "input_shape": [16], "num_classes": 50, "depth": 1, "width": 16, "heads": 2,
            "mlp_ratio": 2.0, "norm": "ln", "pos_embedding": "learned", "tie_embeddings": False, "dense": False}
    traced = ArchCache().get(spec)
    torch.manual_seed(0)
    params = {n: torch.randn(p.shape) for n, p in traced.model.named_parameters()}
    x = torch.randint(0, 50, (6, 16))
    y = torch.roll(x, -1, dims=1)
    batches = [(x[:4], y[:4]), (x[4:], y[4:])]  # 64 + 32 token positions
    acc = accuracy_with(traced.model, params, [x], batches)
    with torch.no_grad():
        expected = (forward_with(traced.model.eval(), params, x).argmax(-1) == y).float().mean().item()
    assert acc == pytest.approx(expected, abs=1e-7) and 0 < expected < 1


def test_steps_at_chance_finds_where_the_windowed_loss_leaves_chance():
    # logged every 10 steps: chance (2.31) up to step 200, then 1.9: the 50-step window (s - 50, s] first averages
    # below ln 10 - 0.1 = 2.2026 at s = 220 (two of its five points low: 2.146), not at 210 (one of five: 2.228)
    losses = [(s, 2.31 if s < 210 else 1.9) for s in range(0, 400, 10)]
    assert steps_at_chance(losses, 10) == 220
    assert steps_at_chance(reversed(losses), 10) == 220  # order does not matter
    # a wider margin needs more of the window low: 2.31 - 0.41 k / 5 < 2.0 from k = 4 low points (s = 240)
    assert steps_at_chance(losses, 10, margin=math.log(10) - 2.0) == 240


def test_steps_at_chance_none_when_never_below_and_not_before_a_full_window():
    assert steps_at_chance([(s, 2.30) for s in range(0, 1300, 10)], 10) is None
    # low from the first step: still reported at the first step that closes a full window
    assert steps_at_chance([(s, 1.0) for s in range(0, 200, 10)], 10, window=50) == 50
    # two classes: chance is ln 2 = 0.693
    assert steps_at_chance([(s, 0.55) for s in range(0, 100, 10)], 2, window=20) == 20
    with pytest.raises(ValueError, match="num_classes >= 2"):
        steps_at_chance([(0, 1.0)], 1)
