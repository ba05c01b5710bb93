"""The GHN predicts working weights for sampled architectures of every family (meta models, functional forward)."""

from __future__ import annotations

import pytest
import torch

from hypergen.apply import forward_with, materialize_buffers
from hypergen.archs import ArchCache, ArchSampler, example_input, list_families, output_shape
from hypergen.ghn import GHNConfig, GraphHyperNetwork

_INPUTS = {"mlp": ((1, 40), 10), "cnn1d": ((1, 40), 10), "gpt": ((16,), 64)}


@pytest.fixture(scope="module")
def ghn() -> GraphHyperNetwork:
    torch.manual_seed(0)
    return GraphHyperNetwork(GHNConfig(hidden=32, heads=4)).eval()


@pytest.mark.parametrize("family", list_families())
def test_sampled_architectures_run_with_predicted_weights(ghn, family):
    input_shape, classes = _INPUTS.get(family, ((1, 28, 28), 10))
    sampler = ArchSampler(family, "train", input_shape, classes, seed=0)
    cache = ArchCache(maxsize=4)
    for index in range(2):
        spec = sampler.sample(index)
        traced = cache.get(spec)
        model = materialize_buffers(traced.model)
        with torch.no_grad():
            params = ghn(traced.data)
            out = forward_with(model, params, example_input(spec, batch_size=3))
        assert set(params) == {n for n, _ in model.named_parameters()}
        assert tuple(out.shape) == tuple(output_shape(spec, batch_size=3))
        assert torch.isfinite(out).all()
