"""vit: patch sizes, pooling, fused and split attention, validation."""

from __future__ import annotations

import pytest
import torch

from hypergen import trace_module
from hypergen.archs import (
    ArchSampler, InvalidSpecError, build, reference_spec, spec_key, trace_spec, validate_spec,
)
from hypergen.archs.vit import SplitSelfAttention, patch_sizes


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


def _copy_fused_into_split(fused: torch.nn.MultiheadAttention, split: SplitSelfAttention) -> None:
    with torch.no_grad():
        for i, name in enumerate(("query", "key", "value")):
            getattr(split, name).weight.copy_(fused.in_proj_weight.chunk(3)[i])
            getattr(split, name).bias.copy_(fused.in_proj_bias.chunk(3)[i])
        split.out.weight.copy_(fused.out_proj.weight)
        split.out.bias.copy_(fused.out_proj.bias)


def test_split_attention_computes_what_multihead_attention_does():
    torch.manual_seed(0)
    fused = torch.nn.MultiheadAttention(24, 3, batch_first=True)
    torch.nn.init.normal_(fused.in_proj_bias)
    torch.nn.init.normal_(fused.out_proj.bias)
    split = SplitSelfAttention(24, 3)
    x = torch.randn(2, 5, 24)
    before = split(x)
    _copy_fused_into_split(fused, split)
    expected = fused(x, x, x, need_weights=False)[0]
    assert torch.allclose(split(x), expected, atol=1e-5)
    assert not torch.allclose(before, expected, atol=1e-2)  # the copy is what made them equal


def test_split_attention_vit_has_the_graph_of_hugging_face_vit():
    pytest.importorskip("transformers")
    from hypergen.zoo import load_model

    hf = load_model("hf:vit:image_classification", device="meta", num_labels=10, num_channels=1, image_size=28,
                    patch_size=4, hidden_size=96, num_hidden_layers=4, num_attention_heads=4, intermediate_size=192)
    ours = {"family": "vit", "input_shape": [1, 28, 28], "num_classes": 10, "patch_size": 4, "depth": 4,
            "width": 96, "heads": 4, "mlp_ratio": 2.0, "pool": "cls", "norm": "ln", "dense": False}
    hf_ops = trace_module(hf.model, hf.example_inputs).op_counts()
    assert hf_ops["scaled_dot_product_attention"] == 4 and hf_ops["linear"] == 4 * 6 + 1
    assert trace_spec({**ours, "attention": "split"})[1].op_counts() == hf_ops
    fused = trace_spec(ours)[1].op_counts()
    assert fused["multihead_attention"] == 4 and fused["linear"] == 4 * 2 + 1  # the default: one node per attention


def test_attention_option_keeps_the_default_stream_and_leaves_fused_out_of_specs():
    def specs(**options):
        sampler = ArchSampler("vit", "train", input_shape=(1, 28, 28), num_classes=10, seed=0, options=options)
        return [sampler.sample(i) for i in range(24)]

    default = specs()
    assert all("attention" not in spec for spec in default)
    assert specs(attention=["fused"]) == default  # one kind: no draw, no field
    mixed = specs(attention=["fused", "split"])
    kinds = [spec.get("attention", "fused") for spec in mixed]
    assert {"fused", "split"} <= set(kinds)
    assert all(spec["attention"] == "split" for spec in mixed if "attention" in spec)
    split_net = build(next(spec for spec in mixed if "attention" in spec), "meta")
    assert all(isinstance(m.attn, SplitSelfAttention) for m in split_net.modules() if hasattr(m, "attn"))
    assert sum(isinstance(m, SplitSelfAttention) for m in split_net.modules()) > 0


def test_attention_is_validated_with_its_name():
    spec = reference_spec("vit_mini", (1, 28, 28), 10)
    validate_spec(spec)  # specs from before the field existed stay valid
    with pytest.raises(InvalidSpecError, match=r"vit spec: 'attention' must be one of \['fused', 'split'\], "
                                               r"got 'flash'"):
        validate_spec({**spec, "attention": "flash"})
    with pytest.raises(ValueError, match=r"vit option 'attention' must list distinct kinds of \['fused', 'split'\]"):
        ArchSampler("vit", "train", input_shape=(1, 28, 28), num_classes=10, options={"attention": ["split", "x"]})


def test_attention_at_its_default_gives_the_canonical_key_of_a_spec_without_it():
    spec = reference_spec("vit_mini", (1, 28, 28), 10)
    written = {**spec, "attention": "fused"}
    assert spec_key(written) == spec_key(spec)
    assert '"attention"' not in spec_key(written)
    assert spec_key({**spec, "attention": "split"}) != spec_key(spec)
    assert '"attention":"split"' in spec_key({**spec, "attention": "split"})
