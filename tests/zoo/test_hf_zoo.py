"""Hugging Face transformers models built from configs (no download) trace with full coverage."""

import pytest

from hypergen.graph import trace_module
from hypergen.zoo import load_model
from hypergen.zoo.samples import HF_SMALL_CONFIGS

pytest.importorskip("transformers")

SMALL = HF_SMALL_CONFIGS


@pytest.mark.parametrize("spec", sorted(SMALL))
def test_full_coverage(spec):
    zoo = load_model(spec, **SMALL[spec])
    graph = trace_module(zoo.model, zoo.example_inputs, name=spec)
    assert set(graph.params) == {n for n, _ in zoo.model.named_parameters()}
    assert graph.coverage.fraction == 1.0
    assert [n.target for n in graph.nodes if n.op.startswith("unknown")] == []


def test_gpt2_tied_head_and_layer_types():
    zoo = load_model("hf:gpt2:causal_lm", **SMALL["hf:gpt2:causal_lm"])
    graph = trace_module(zoo.model, zoo.example_inputs)
    wte = graph.params["transformer.wte.weight"]
    assert wte.aliases == ("lm_head.weight",) and graph.nodes[wte.node].op == "embedding"
    lm_head = next(n for n in graph.nodes if n.name == "lm_head")
    assert lm_head.shared_params == ["transformer.wte.weight"]
    counts = graph.op_counts()
    assert counts["scaled_dot_product_attention"] == 2 and counts["layer_norm"] == 5 and counts["gelu"] == 2
    assert graph.params["transformer.h.0.attn.c_attn.weight"].shape == (64, 192)  # HF Conv1D: [in, out]
    assert graph.nodes[graph.params["transformer.h.0.attn.c_attn.weight"].node].op == "linear_in_out"  # [in, out]


def test_llama_types():
    zoo = load_model("hf:llama:causal_lm", **SMALL["hf:llama:causal_lm"])
    counts = trace_module(zoo.model, zoo.example_inputs).op_counts()
    assert counts["rms_norm"] == 5 and counts["silu"] == 2 and counts["rotary_embedding"] == 1
    assert counts["input"] == 2  # input_ids and the attention mask


def test_bad_hf_specs():
    with pytest.raises(ValueError, match="unknown head 'lm'"):
        load_model("hf:gpt2:lm")
    with pytest.raises(ValueError, match="hf:not_a_model"):
        load_model("hf:not_a_model")
