"""Reference statistics: each parameter's default-init mean and std, from its values or a fresh CPU init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hypergen.graph import trace_module
from hypergen.graph.data import to_data
from hypergen.zoo import load_model


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 8)
        self.norm = nn.LayerNorm(8)
        self.scale = nn.Parameter(torch.full((8,), 1e-5))  # a free layer scale: no initialiser can redraw it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.fc(x)) * self.scale


def test_values_of_a_real_model_are_its_reference():
    torch.manual_seed(0)
    model = _Net()
    ref = {n: p.reference for n, p in trace_module(model, (2, 16)).params.items()}
    assert ref["scale"] == pytest.approx((1e-5, 0.0))
    assert ref["norm.weight"] == (1.0, 0.0) and ref["norm.bias"] == (0.0, 0.0)
    assert ref["fc.weight"] == pytest.approx((model.fc.weight.mean().item(), model.fc.weight.std().item()), rel=1e-5)


def test_meta_models_are_reinitialised_on_cpu_with_a_fixed_seed_and_leave_the_rng_alone():
    with torch.device("meta"):
        model = _Net()
    state = torch.random.get_rng_state()
    first = {n: p.reference for n, p in trace_module(model, (2, 16)).params.items()}
    assert torch.equal(state, torch.random.get_rng_state())
    assert first == {n: p.reference for n, p in trace_module(model, (2, 16)).params.items()}  # deterministic
    assert first["norm.weight"] == (1.0, 0.0) and first["norm.bias"] == (0.0, 0.0)  # reset_parameters
    assert first["fc.bias"][1] == pytest.approx(0.577 / 16 ** 0.5, rel=0.5)  # PyTorch's uniform(+-1/sqrt(fan_in))
    assert first["scale"] is None  # on meta, owned by a container: unknown
    data = to_data(trace_module(model, (2, 16)))
    assert data.param_ref.shape == (5, 2) and torch.isnan(data.param_ref[data.param_names.index("scale")]).all()


def test_hugging_face_models_on_meta_get_their_own_init():
    """GPT-2's position table is N(0, 0.02) (not nn.Embedding's N(0, 1)); Gemma's norms are zeros (x * (1 + w))."""
    pytest.importorskip("transformers")
    gpt2 = load_model("hf:gpt2:causal_lm", n_layer=1, n_embd=32, n_head=2, vocab_size=100)
    ref = {n: p.reference for n, p in trace_module(gpt2.model, gpt2.example_inputs).params.items()}
    assert ref["transformer.wpe.weight"][1] == pytest.approx(0.02, rel=0.1)
    assert ref["transformer.h.0.attn.c_attn.bias"] == (0.0, 0.0)
    gemma = load_model("hf:gemma:causal_lm", num_hidden_layers=1, hidden_size=32, intermediate_size=64,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=16, vocab_size=100)
    ref = {n: p.reference for n, p in trace_module(gemma.model, gemma.example_inputs).params.items()}
    assert ref["model.norm.weight"] == (0.0, 0.0)


def _weight_normed() -> nn.Module:
    from torch.nn.utils.parametrizations import weight_norm

    return nn.Sequential(weight_norm(nn.Conv2d(3, 16, 3)), nn.Flatten(), weight_norm(nn.Linear(16 * 6 * 6, 10)))


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_weight_norm_magnitudes_are_row_norms_and_the_model_is_untouched(device):
    """weight_norm's g (original0, [out, 1, 1, 1]) was predicted as a weight of fan-in 1: mean 0, std 1.47 for a
    default of 0.57; its bias took that fan-in too (std 0.6 for 0.13)."""
    from hypergen.ghn import GraphHyperNetwork

    torch.manual_seed(0)
    with torch.device(device):
        model = _weight_normed()
    classes = [type(m) for m in model]
    graph = trace_module(model, (2, 3, 8, 8), name=device)
    g = graph.params["0.parametrizations.weight.original0"].reference
    assert g[0] == pytest.approx(0.577, rel=0.05) and g[1] < 0.25 * g[0]  # |v_row| of PyTorch's default init: ~constant
    assert [type(m) for m in model] == classes and hasattr(classes[0], "weight")  # re-init on a copy only
    torch.manual_seed(0)
    with torch.no_grad():
        predicted = GraphHyperNetwork().eval()(graph)
    magnitude = predicted["0.parametrizations.weight.original0"]
    assert magnitude.mean().item() == pytest.approx(g[0], rel=1e-3) and magnitude.std().item() < 0.1
    assert predicted["0.bias"].std().item() < 0.2  # fan-in of v (27), not of g (1): 0.577 / sqrt(27) = 0.11
    if device == "cpu":
        assert model(torch.randn(1, 3, 8, 8)).shape == (1, 10)
