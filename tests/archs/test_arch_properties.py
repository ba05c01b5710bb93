"""Property-based: any sampled spec of any family and split builds, runs, traces with full coverage, round-trips JSON."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hypergen.archs import (
    ArchSampler, build, count_params, example_input, get_split, list_families, list_splits, output_shape, spec_from_json,
    spec_key, trace_spec,
)
from hypergen.graph.data import to_data

#: family -> input shapes exercised by the tests (Fashion-MNIST, CIFAR, odd sizes, MNIST-1D, token contexts).
FAMILY_SHAPES: dict[str, list[tuple[int, ...]]] = {
    "deepnets": [(3, 32, 32), (1, 28, 28), (3, 11, 14)],
    "resnet": [(3, 32, 32), (1, 28, 28), (3, 64, 64), (2, 9, 20)],
    "mobilenet": [(3, 32, 32), (1, 28, 28), (3, 13, 9)],
    "vit": [(3, 32, 32), (1, 28, 28), (2, 7, 5)],
    "gpt": [(16,), (33,)],
    "mlp": [(40,), (1, 40), (1, 28, 28)],
    "cnn1d": [(1, 40), (3, 17), (2, 128)],
}


def test_every_family_has_test_shapes():
    assert sorted(FAMILY_SHAPES) == list_families()


def _check_sampled_spec(family: str, data: st.DataObject) -> None:
    split = data.draw(st.sampled_from(list_splits()), label="split")
    shape = data.draw(st.sampled_from(FAMILY_SHAPES[family]), label="input_shape")
    num_classes = data.draw(st.integers(2, 50), label="num_classes")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    index = data.draw(st.integers(0, 10**6), label="index")
    spec = ArchSampler(family, split, shape, num_classes, seed).sample(index)

    assert json.loads(json.dumps(spec)) == spec
    assert spec_from_json(spec_key(spec)) == spec

    model = build(spec, "cpu")
    n_params = sum(p.numel() for p in model.parameters())
    lo, hi = get_split(split).param_bounds
    assert lo <= n_params <= hi and n_params == count_params(spec)
    with torch.no_grad():
        out = model(example_input(spec, 2))
    assert tuple(out.shape) == output_shape(spec, 2)
    assert torch.isfinite(out).all()

    _, graph = trace_spec(spec)  # strict: raises if a parameter is not attached
    assert graph.coverage.complete and graph.coverage.fraction == 1.0
    assert graph.num_params == n_params
    assert graph.nodes[-1].op == "output" and graph.nodes[0].op == "input"
    data_ = to_data(graph, virtual_edge_cutoff=5)
    assert data_.param_node_index.numel() == len(dict(model.named_parameters()))


@pytest.mark.parametrize("family", sorted(FAMILY_SHAPES))
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_sampled_spec_builds_runs_traces_and_round_trips(family, data):
    _check_sampled_spec(family, data)


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILY_SHAPES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_many_sampled_specs(family, data):
    _check_sampled_spec(family, data)
