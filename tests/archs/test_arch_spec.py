"""Specs: canonical JSON, building on cpu/meta, example inputs and output shapes."""

from __future__ import annotations

import json

import pytest
import torch

from hypergen.archs import (
    ArchSampler, InvalidSpecError, build, count_params, example_input, output_shape, reference_spec, spec_from_json,
    spec_key, spec_summary,
)


def test_spec_key_is_canonical():
    spec = reference_spec("resnet20", (3, 32, 32), 10)
    assert spec_key(spec) == spec_key(dict(reversed(list(spec.items()))))
    assert spec_key(spec).startswith('{"activation":"relu","block":"basic"')
    assert spec_from_json(json.dumps(spec, indent=2)) == spec


def test_spec_from_json_validates():
    spec = reference_spec("resnet20", (3, 32, 32), 10)
    spec["depths"] = [3, 3]
    with pytest.raises(InvalidSpecError, match="per-stage lists"):
        spec_from_json(json.dumps(spec))


def test_meta_and_cpu_builds_have_the_same_parameters():
    spec = ArchSampler("deepnets", "train", (3, 32, 32), 10, seed=5).sample(0)
    meta, cpu = build(spec, "meta"), build(spec, "cpu")
    assert all(p.device.type == "meta" for p in meta.parameters())
    assert [(n, p.shape) for n, p in meta.named_parameters()] == [(n, p.shape) for n, p in cpu.named_parameters()]
    assert count_params(spec) == sum(p.numel() for p in cpu.parameters())


def test_build_validates_by_default():
    spec = reference_spec("vit_mini", (3, 32, 32), 10)
    spec["heads"] = 3
    with pytest.raises(InvalidSpecError, match=r"vit spec: 'width' must be a multiple of 'heads' \(3\), got 128"):
        build(spec, "meta")


@pytest.mark.parametrize(("name", "shape", "classes", "x_shape", "dtype", "out"), [
    ("resnet20", (1, 28, 28), 10, (4, 1, 28, 28), torch.float32, (4, 10)),
    ("cnn1d_resnet", (1, 40), 10, (4, 1, 40), torch.float32, (4, 10)),
    ("mlp_256x2", (40,), 10, (4, 40), torch.float32, (4, 10)),
    ("gpt_nano", (12,), 65, (4, 12), torch.int64, (4, 12, 65)),
])
def test_example_inputs_and_output_shapes(name, shape, classes, x_shape, dtype, out):
    spec = reference_spec(name, shape, classes)
    x = example_input(spec, 4)
    assert x.shape == x_shape and x.dtype == dtype and output_shape(spec, 4) == out
    assert example_input(spec, 4, "meta").device.type == "meta"
    if dtype == torch.int64:
        assert 0 <= int(x.min()) and int(x.max()) < classes
    with torch.no_grad():
        assert build(spec).eval()(x).shape == out


def test_summary():
    assert spec_summary(reference_spec("resnet20", (3, 32, 32), 10)) == {
        "depth": 9, "width": 16, "max_width": 64, "stages": 3}
    assert spec_summary(reference_spec("darts", (3, 32, 32), 10))["depth"] == 8
