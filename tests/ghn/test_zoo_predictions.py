"""An untrained GHN predicts a finite tensor of the right shape for every parameter of every zoo model."""

from __future__ import annotations

import math

import pytest
import torch

from hypergen.compat import ensure_torchvision_importable
from hypergen.ghn import GraphHyperNetwork
from hypergen.graph import trace_module
from hypergen.graph.data import to_data
from hypergen.zoo import list_models, load_model
from hypergen.zoo.samples import HF_SMALL_CONFIGS, TIMM_SAMPLE

TORCHVISION_MODELS = list_models("torchvision") if ensure_torchvision_importable() else []
# Models above this many parameters take seconds each to materialise: they run with `-m slow`.
_BIG = 100_000_000
_CHUNK = 1 << 23


@pytest.fixture(scope="module")
def ghn() -> GraphHyperNetwork:
    torch.manual_seed(0)
    return GraphHyperNetwork().eval()


def _check_predictions(ghn: GraphHyperNetwork, spec: str, **kwargs) -> None:
    zoo = load_model(spec, **kwargs)
    expected = {n: tuple(p.shape) for n, p in zoo.model.named_parameters()}
    data = to_data(trace_module(zoo.model, zoo.example_inputs, name=spec))
    names = data.param_names
    seen = set()
    with torch.inference_mode():
        for rows, tensors in ghn.stream(data, max_numel=_CHUNK):
            for row, tensor in zip(rows.tolist(), tensors):
                assert tuple(tensor.shape) == expected[names[row]], names[row]
                assert torch.isfinite(tensor).all(), names[row]
                seen.add(names[row])
    assert seen == set(expected)


def _torchvision_params(name: str) -> int:
    return sum(math.prod(p.shape) for p in load_model(f"torchvision:{name}").model.parameters())


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if _torchvision_params(n) > _BIG else n for n in TORCHVISION_MODELS],
)
def test_every_torchvision_model(ghn, name):
    _check_predictions(ghn, f"torchvision:{name}")


@pytest.mark.parametrize("name", TIMM_SAMPLE)
def test_timm_sample(ghn, name):
    pytest.importorskip("timm")
    _check_predictions(ghn, f"timm:{name}")


@pytest.mark.parametrize("spec", sorted(HF_SMALL_CONFIGS))
def test_hf_sample(ghn, spec):
    pytest.importorskip("transformers")
    _check_predictions(ghn, spec, **HF_SMALL_CONFIGS[spec])


def test_gpt2_small_full_size(ghn):
    pytest.importorskip("transformers")
    _check_predictions(ghn, "hf:gpt2:causal_lm")  # 124M parameters, 50257-token embedding
