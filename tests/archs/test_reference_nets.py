"""Named reference nets: exact parameter counts of the published configurations, per input shape."""

from __future__ import annotations

import pytest
import torch

from hypergen.archs import build, count_params, example_input, reference_spec, reference_specs, trace_spec


def test_image_references_and_their_published_sizes():
    specs = reference_specs((3, 32, 32), 10)
    assert sorted(specs) == ["darts", "mlp_256x2", "mobilenet_v2", "resnet18", "resnet20", "vit_mini", "vit_tiny"]
    counts = {name: count_params(spec) for name, spec in specs.items()}
    assert counts["resnet20"] == 272_474  # He et al. CIFAR ResNet-20 (0.27M) with projection shortcuts
    assert counts["resnet18"] == 11_173_962  # the usual CIFAR ResNet-18
    assert counts["mobilenet_v2"] == 2_236_682  # == torchvision.models.mobilenet_v2(num_classes=10)
    assert specs["vit_tiny"]["patch_size"] == 4 and counts["vit_tiny"] == 5_362_762


def test_mobilenet_v2_matches_torchvision(torchvision_models):
    ours = count_params(reference_spec("mobilenet_v2", (3, 224, 224), 1000))
    assert ours == sum(p.numel() for p in torchvision_models.mobilenet_v2().parameters())


def test_references_follow_the_input_shape():
    assert sorted(reference_specs((1, 40), 10)) == ["cnn1d_resnet", "mlp_256x2"]
    assert sorted(reference_specs((64,), 100, families=["gpt"])) == ["gpt_micro", "gpt_nano"]
    fmnist = reference_spec("vit_mini", (1, 28, 28), 10)
    assert fmnist["patch_size"] == 4 and fmnist["input_shape"] == [1, 28, 28]  # 7 x 7 = 49 tokens
    big = reference_spec("resnet18", (3, 224, 224), 1000)
    assert (big["stem_kernel"], big["stem_stride"], big["stem_pool"]) == (7, 2, True)


@pytest.mark.parametrize("name", ["darts", "resnet20", "vit_mini", "mobilenet_v2"])
def test_reference_nets_run_and_trace(name):
    spec = reference_spec(name, (1, 28, 28), 10)
    model = build(spec)
    with torch.no_grad():
        assert model(example_input(spec, 2)).shape == (2, 10)
    assert trace_spec(spec)[1].coverage.complete


def test_unknown_reference_lists_the_available_ones():
    with pytest.raises(KeyError, match=r"no reference net 'resnet50' for input_shape \[1, 40\]; available: "
                                       r"\['cnn1d_resnet', 'mlp_256x2'\]"):
        reference_spec("resnet50", (1, 40), 10)
