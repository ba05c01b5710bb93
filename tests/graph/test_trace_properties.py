"""Property-based: random conv/MLP stacks trace with full coverage and exactly the expected nodes."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hypergen.graph import trace_module
from hypergen.graph.data import to_data

LAYER = st.sampled_from(["conv", "bn", "relu", "gelu", "pool", "dropout"])


def _build(layers: list[str], width: int) -> tuple[nn.Module, list[str]]:
    modules, expected = [], []
    for kind in layers:
        if kind == "conv":
            modules.append(nn.Conv2d(width, width, 3, padding=1))
        elif kind == "bn":
            modules.append(nn.BatchNorm2d(width))
        elif kind == "relu":
            modules.append(nn.ReLU())
        elif kind == "gelu":
            modules.append(nn.GELU())
        elif kind == "pool":
            modules.append(nn.AvgPool2d(3, stride=1, padding=1))
        else:
            modules.append(nn.Dropout(0.1))
        expected.append({"conv": "conv2d", "bn": "batch_norm", "pool": "avg_pool"}.get(kind, kind))
    modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 3)]
    expected = [op for op in expected if op != "dropout"] + ["adaptive_avg_pool", "linear"]
    return nn.Sequential(*modules), ["input", *expected, "output"]


@settings(max_examples=25, deadline=None)
@given(layers=st.lists(LAYER, min_size=0, max_size=12), width=st.integers(1, 4096))
def test_random_stacks(layers, width):
    with torch.device("meta"):  # widths up to 4096 would allocate 600 MB per conv otherwise
        model, expected = _build(layers, width)
    graph = trace_module(model, (2, width, 5, 5))
    assert [n.op for n in graph.nodes] == expected
    assert graph.edges == [(i, i + 1) for i in range(len(expected) - 1)]
    assert graph.coverage.complete and graph.num_params == sum(p.numel() for p in model.parameters())
    data = to_data(graph, virtual_edge_cutoff=3)
    n = len(expected)
    assert data.virtual_edge_index.shape[1] == max(0, n - 2) + max(0, n - 3)  # distance 2 and 3 pairs in a chain
