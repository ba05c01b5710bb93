"""vit: patch sizes, pooling, validation."""

from __future__ import annotations

import pytest
import torch

from hypergen.archs import InvalidSpecError, build, reference_spec, trace_spec, validate_spec
from hypergen.archs.vit import patch_sizes


def test_patch_sizes_give_16_to_256_tokens():
    assert patch_sizes(28, 28) == [2, 3, 4, 5, 6, 7]  # 196, 81, 49, 25, 16, 16 tokens
    assert patch_sizes(32, 32) == [2, 3, 4, 5, 6, 7, 8]
    assert patch_sizes(3, 3) == [1]  # too small for 16 tokens: the closest


def test_border_smaller_than_a_patch_is_dropped():
    spec = reference_spec("vit_mini", (2, 7, 5), 3)
    spec["patch_size"] = 2  # 3 x 2 patches; the last row and column are dropped
    model = build(spec)
    assert model.pos_embed.shape == (1, 3 * 2 + 1, 128)
    with torch.no_grad():
        assert model(torch.randn(2, 2, 7, 5)).shape == (2, 3)


def test_mean_pooling_has_no_class_token():
    spec = dict(reference_spec("vit_mini", (3, 32, 32), 10), pool="mean")
    model = build(spec, "meta")
    assert model.cls_token is None and model.pos_embed.shape[1] == 64
    graph = trace_spec(spec)[1]
    assert graph.op_counts()["multihead_attention"] == 6 and graph.coverage.complete
    assert graph.nodes[graph.params["pos_embed"].node].op == "param_shift"


def test_patch_larger_than_the_image_is_rejected():
    spec = reference_spec("vit_mini", (1, 28, 28), 10)
    spec["patch_size"] = 29
    with pytest.raises(InvalidSpecError, match=r"vit spec: 'patch_size' must be an int in \[1, 28\], got 29"):
        validate_spec(spec)
