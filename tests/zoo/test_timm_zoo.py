"""A diverse sample of timm models (CNNs, ViTs, hybrids, MLP-mixers) traces with full coverage."""

import pytest

from hypergen.graph import trace_module
from hypergen.zoo import load_model

pytest.importorskip("timm")

TIMM_SAMPLE = [
    "resnet50d", "efficientnet_b0", "mobilenetv3_large_100", "convnext_atto", "convnextv2_atto",
    "vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224", "swin_tiny_patch4_window7_224", "regnety_002",
    "densenet121", "mixer_s16_224", "resmlp_12_224", "poolformer_s12", "levit_128", "cait_xxs24_224",
    "xcit_nano_12_p16_224", "efficientformer_l1", "mobilevit_xxs", "ghostnet_100", "dla34", "dpn68",
    "hrnet_w18_small", "inception_v3", "rexnet_100", "crossvit_tiny_240", "pit_ti_224", "edgenext_xx_small",
    "fastvit_t8", "maxvit_nano_rw_256", "coatnet_nano_rw_224", "eva02_tiny_patch14_224",
]


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
    with pytest.raises(ValueError, match="timm has no model 'resnet_nope'"):
        load_model("timm:resnet_nope")
