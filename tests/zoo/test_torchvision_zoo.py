"""Every torchvision classification model traces on the meta device with 100% of its parameters attached."""

import pytest
import torch

from hypergen.compat import ensure_torchvision_importable
from hypergen.graph import trace_module
from hypergen.zoo import list_models, load_model

TORCHVISION_MODELS = list_models("torchvision") if ensure_torchvision_importable() else []


def test_zoo_lists_all_classification_models():
    assert len(TORCHVISION_MODELS) >= 80
    assert {"resnet50", "vit_h_14", "regnet_y_128gf", "swin_v2_t", "maxvit_t"} <= set(TORCHVISION_MODELS)


@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_full_coverage(name):
    zoo = load_model(f"torchvision:{name}")
    assert next(zoo.model.parameters()).device.type == "meta"
    graph = trace_module(zoo.model, zoo.example_inputs, name=name)  # strict: raises on any unattached parameter
    expected = {n for n, _ in zoo.model.named_parameters()}
    assert set(graph.params) == expected and graph.coverage.fraction == 1.0
    assert graph.num_params == sum(p.numel() for p in zoo.model.parameters())
    assert graph.nodes[-1].op == "output" and graph.nodes[0].op == "input"
    unknown = [n.target for n in graph.nodes if n.op in ("unknown_module", "unknown_op")]
    assert unknown == [], f"untyped nodes: {unknown}"


@pytest.mark.parametrize(
    ("name", "param", "op"),
    [  # parameters that GHN-3 leaves at their default init
        ("vit_b_16", "class_token", "param_token"),
        ("vit_b_16", "encoder.pos_embedding", "param_shift"),
        ("convnext_tiny", "features.1.0.layer_scale", "param_scale"),
        ("swin_t", "features.1.0.attn.relative_position_bias_table", "param_table"),
        ("swin_v2_t", "features.1.0.attn.logit_scale", "parameter"),
    ],
)
def test_parameters_outside_leaf_modules_are_attached(name, param, op):
    zoo = load_model(f"torchvision:{name}")
    graph = trace_module(zoo.model, zoo.example_inputs)
    node = graph.nodes[graph.params[param].node]
    assert node.op == op and node.params == [param]
    assert node.out_shape == tuple(dict(zoo.model.named_parameters())[param].shape)
    assert any(src == node.index for src, _ in graph.edges)  # it feeds the computation


def test_big_models_trace_without_allocating():
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    zoo = load_model("torchvision:vit_h_14")  # 632M parameters = 2.5 GB if allocated
    graph = trace_module(zoo.model, zoo.example_inputs)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert graph.num_params == 632_045_800
    assert grown_mb < 200


def test_real_weights_and_num_classes():
    zoo = load_model("torchvision:resnet18", device="cpu", num_classes=7)
    assert zoo.model.fc.weight.shape == (7, 512) and zoo.model.fc.weight.device.type == "cpu"
    graph = trace_module(zoo.model, torch.randn(2, 3, 64, 64))
    assert graph.params["fc.weight"].shape == (7, 512)


def test_bad_specs():
    with pytest.raises(ValueError, match=r"unknown classification model 'resnet5' \(closest: 'resnet50'"):
        load_model("torchvision:resnet5")
    with pytest.raises(ValueError, match="unknown model source 'tv'"):
        load_model("tv:resnet50")
    with pytest.raises(ValueError, match="must look like"):
        load_model("resnet50")
