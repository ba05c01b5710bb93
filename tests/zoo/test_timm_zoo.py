"""A diverse sample of timm models (CNNs, ViTs, hybrids, MLP-mixers) traces with full coverage."""

import pytest

from hypergen.graph import trace_module
from hypergen.zoo import load_model
from hypergen.zoo.samples import TIMM_SAMPLE

pytest.importorskip("timm")


@pytest.mark.parametrize("name", TIMM_SAMPLE)
def test_full_coverage(name):
    zoo = load_model(f"timm:{name}")
    graph = trace_module(zoo.model, zoo.example_inputs, name=name)
    assert set(graph.params) == {n for n, _ in zoo.model.named_parameters()}
    assert graph.coverage.fraction == 1.0
    assert graph.num_params == sum(p.numel() for p in zoo.model.parameters())


def test_timm_num_classes_and_input_size():
    zoo = load_model("timm:crossvit_tiny_240", num_classes=3)
    assert zoo.example_inputs == (2, 3, 240, 240)
    graph = trace_module(zoo.model, zoo.example_inputs)
    heads = [p for p in graph.params.values() if p.shape and p.shape[0] == 3 and p.kind == "weight"]
    assert len(heads) == 2  # CrossViT has one head per branch


def test_unknown_timm_model():
    with pytest.raises(ValueError, match=r"timm:resnet_nope: unknown model 'resnet_nope' \(closest: 'resnet50_gn'"):
        load_model("timm:resnet_nope")
