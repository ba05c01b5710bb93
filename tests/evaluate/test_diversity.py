"""same_shape_similarity: 1 for a net whose same-shape layers are copies, about 0 for PyTorch's default init."""

import pytest
import torch
from torch import nn

from hypergen.evaluate import same_shape_similarity


def _stack(width=16, depth=6):
    return nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)], nn.Linear(width, 3))


def test_default_init_layers_are_unrelated():
    torch.manual_seed(0)
    sim = same_shape_similarity(_stack())
    # 6 independent 16x16 uniform tensors: pairwise cosines have std ~1/16
    assert sim is not None and abs(sim) < 0.05


def test_copied_layers_score_one_and_scaled_copies_too():
    torch.manual_seed(0)
    net = _stack()
    with torch.no_grad():
        for i, layer in enumerate(list(net)[1:6]):
            layer.weight.copy_(net[0].weight * (i + 2))
    assert same_shape_similarity(net) == pytest.approx(1.0, abs=1e-5)


def test_pairs_are_averaged_over_all_shape_groups():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    named = [("w0", a), ("w1", a.clone()), ("w2", a.clone()),  # 3 pairs of cosine 1
             ("v0", b.T), ("v1", -b.T)]  # 1 pair of cosine -1, other shape
    assert same_shape_similarity(named) == pytest.approx((3 * 1.0 - 1.0) / 4)


def test_none_without_two_same_shape_weights_and_biases_ignored():
    assert same_shape_similarity(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))) is None
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    with torch.no_grad():
        net[1].weight.copy_(-net[0].weight)
        net[1].bias.copy_(net[0].bias)  # 1-D: not counted by default
    assert same_shape_similarity(net) == pytest.approx(-1.0)
    assert same_shape_similarity(net, min_dims=1) == pytest.approx(0.0, abs=1e-6)


def test_tied_tensors_count_once():
    shared = nn.Linear(4, 4)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    assert same_shape_similarity(net) is None
