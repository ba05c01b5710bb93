"""Behavioural probes find the op type of classes the registry has never seen (every family's own RMSNorm)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hypergen.graph.ops import OpRegistry, default_registry
from hypergen.graph.probes import normalization_probe
from hypergen.zoo import load_model


class _UnseenRMSNorm(nn.Module):
    """Written like every LLM family's own: no base class hypergen could register."""

    def __init__(self, dim: int, offset: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((dim,), 1.0 - offset))
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * (self.offset + self.weight)


class _UnseenLayerNorm2d(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, var = x.mean(1, keepdim=True), x.var(1, keepdim=True, unbiased=False)
        return (x - mean) / (var + 1e-6).sqrt() * self.weight[:, None, None] + self.bias[:, None, None]


class _Affine(nn.Module):
    """A per-channel scale and shift (resmlp's Affine): not scale-invariant, not a norm."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(dim))
        self.beta = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha * x + self.beta


@pytest.mark.parametrize(("module", "op"), [
    (_UnseenRMSNorm(16), "rms_norm"), (_UnseenRMSNorm(16, offset=1.0), "rms_norm"),  # Gemma's (1 + w)
    (_UnseenLayerNorm2d(8), "layer_norm"), (_Affine(16), None), (nn.Linear(4, 4), None),
])
def test_normalization_probe_by_behaviour(module, op):
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    assert normalization_probe(module) == op
    assert all(torch.equal(before[n], p) for n, p in module.named_parameters())  # the module is not changed


def test_probe_runs_on_meta_modules():
    with torch.device("meta"):
        module = _UnseenRMSNorm(32)
    assert normalization_probe(module) == "rms_norm"


@pytest.mark.parametrize(("spec", "op"), [
    ("hf:mistral:causal_lm", "rms_norm"), ("hf:qwen2:causal_lm", "rms_norm"), ("hf:gemma:causal_lm", "rms_norm"),
    ("hf:olmo2:causal_lm", "rms_norm"), ("hf:cohere:causal_lm", "layer_norm"),
])
def test_hugging_face_norms_that_no_entry_lists_are_norms(spec, op):
    pytest.importorskip("transformers")
    zoo = load_model(spec, num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=2,
                     num_key_value_heads=1, vocab_size=100)
    norms = [m for n, m in zoo.model.named_modules() if n.endswith("layernorm") or n.endswith(".norm")]
    assert norms and {default_registry().module_op(m).name for m in norms} == {op}


def test_registry_asks_probes_once_per_class_and_shapes():
    calls = []

    def probe(module: nn.Module) -> str | None:
        calls.append(type(module))
        return "rms_norm" if isinstance(module, _UnseenRMSNorm) else None

    registry = OpRegistry()
    for name, category in (("rms_norm", "norm"),):
        registry.add_op_type(name, category)
    registry.register_module_probe(probe)
    assert registry.module_op(_UnseenRMSNorm(8)).name == "rms_norm"
    assert registry.module_op(_UnseenRMSNorm(8)).name == "rms_norm"
    assert registry.module_op(_Affine(8)) is None
    assert calls == [_UnseenRMSNorm, _Affine]
    registry.register_module(_Affine, "rms_norm")  # an entry wins over probes
    assert registry.module_op(_Affine(8)).name == "rms_norm"
