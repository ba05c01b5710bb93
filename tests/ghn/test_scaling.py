import math

import pytest
import torch

from hypergen.ghn.config import ScalingConfig
from hypergen.ghn.decoders import DenseParams, TensorLayout
from hypergen.ghn.scaling import ParamScaler, fan_in_of, follow_reference, param_role
from hypergen.graph.ops import default_registry


@pytest.mark.parametrize(
    ("op", "kind", "ndim", "role"),
    [
        ("conv2d", "weight", 4, "weight"), ("linear", "weight", 2, "weight"), ("linear", "bias", 1, "bias"),
        ("multihead_attention", "weight", 2, "weight"), ("embedding", "weight", 2, "embedding"),
        ("batch_norm", "weight", 1, "norm_weight"), ("layer_norm", "bias", 1, "norm_bias"),
        ("rms_norm", "weight", 1, "norm_weight"), ("layer_scale", "other", 1, "scale"),
        ("param_scale", "weight", 3, "scale"), ("param_token", "weight", 3, "other"),
        ("param_shift", "weight", 3, "other"), ("param_table", "weight", 2, "other"), ("prelu", "weight", 1, "scale"),
    ],
)
def test_roles(op, kind, ndim, role):
    assert param_role(default_registry().op(op), kind, ndim) == role


def test_fan_in_follows_pytorch():
    assert fan_in_of((64, 32, 3, 3), ()) == 288
    assert fan_in_of((10, 512), ()) == 512
    assert fan_in_of((64,), (64, 32, 3, 3)) == 288  # a bias scales with its layer's weight
    assert fan_in_of((768,), (768,)) == 768


def test_rules_give_target_statistics_for_untrained_gain():
    torch.manual_seed(0)
    scaler = ParamScaler(8, ScalingConfig())
    cond = torch.randn(2, 8)
    raw = DenseParams(torch.randn(2, 256, 128) * 7, TensorLayout.of((256, 128)))
    w = scaler(raw, "weight", torch.tensor([128.0, 128.0]), cond)
    assert torch.allclose(w.flatten(1).pow(2).mean(1).sqrt(), torch.full((2,), 1 / math.sqrt(128)), rtol=1e-4)
    norm = scaler(DenseParams(torch.randn(2, 64), TensorLayout.of((64,))), "norm_weight", torch.ones(2), cond)
    assert abs(norm.mean() - 1) < 0.05 and abs(norm.std() - 0.1) < 0.03
    scale = scaler(DenseParams(torch.randn(2, 64), TensorLayout.of((64,))), "scale", torch.ones(2), cond)
    assert (scale > 0).all() and abs(scale.mean() - 0.1) < 0.01


def test_gain_is_bounded():
    scaler = ParamScaler(4, ScalingConfig(max_gain=4.0))
    with torch.no_grad():
        scaler.gain_head.bias.fill_(100.0)
    assert torch.allclose(scaler.gain(torch.zeros(3, 4)), torch.full((3,), 4.0))


def test_a_tensor_whose_values_became_equal_keeps_gradients_finite():
    """A 2-element vector whose entries met gave sqrt'(0) in the spread and NaN in every GHN gradient (seen in
    training at step 386); the spread is sqrt(var + eps)."""
    scaler = ParamScaler(8, ScalingConfig())
    values = torch.tensor([[0.3, 0.3]], requires_grad=True)
    cond = torch.randn(1, 8, requires_grad=True)
    out = scaler(DenseParams(values, TensorLayout.of((2,))), "bias", torch.ones(1), cond)
    out.sum().backward()
    assert torch.isfinite(values.grad).all() and torch.isfinite(cond.grad).all()
    a = torch.zeros(1, 3, 2, requires_grad=True)  # a product that is exactly zero
    from hypergen.ghn.decoders import LowRankParams

    LowRankParams(a, torch.ones(1, 4, 2), TensorLayout.of((3, 4))).low_rank_rms().sum().backward()
    assert torch.isfinite(a.grad).all()


def test_fan_in_of_a_stack_of_matrices_is_one_matrix_s():
    """Mixtral's fused experts [E, out, in] had fan-in out * in (16x too small a std at out = 256)."""
    assert fan_in_of((8, 256, 64), (), stacked=True) == 64
    assert fan_in_of((64, 32, 3), ()) == 96  # a conv1d kernel keeps its receptive field


def _reference_coefficients(reference, role="norm_weight", nominal=(0.1, 1.0)):
    config = ScalingConfig()
    gain = torch.ones(len(reference))
    scale, offset = torch.full_like(gain, nominal[0]), torch.full_like(gain, nominal[1])
    return follow_reference(scale, offset, gain, role, torch.tensor(reference), config)


def test_constant_inits_keep_their_constant_with_a_small_spread():
    scale, offset = _reference_coefficients([[1.0, 0.0], [0.0, 0.0], [1e-6, 0.0], [0.577, 0.02]])
    # ones, Gemma's zeros, a layer scale, weight-norm g
    assert offset.tolist() == pytest.approx([1.0, 0.0, 1e-6, 0.577])
    assert scale.tolist() == pytest.approx([0.1, 0.02, 1e-7, 0.0577])  # 10% of |mean|, zero_spread for zeros


def test_random_inits_clamp_the_rule_and_unknown_references_keep_it():
    nan = float("nan")
    scale, offset = _reference_coefficients([[0.0, 0.02], [0.0, 1.0], [0.0, 0.05], [nan, nan], [1.3, 0.6]],
                                            role="embedding", nominal=(1.0, 0.0))
    assert scale.tolist() == pytest.approx([0.055, 1.0, 0.1375, 1.0, 1.0])  # within 2.75x of the model's own std
    assert offset.tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0, 1.3])  # a mean that stands out of the spread


def test_scaler_follows_the_reference_only_when_configured():
    torch.manual_seed(0)
    raw = DenseParams(torch.randn(2, 64), TensorLayout.of((64,)))
    reference = torch.tensor([[0.0, 0.0], [1e-5, 0.0]])
    cond = torch.randn(2, 8)
    out = ParamScaler(8, ScalingConfig())(raw, "scale", torch.ones(2), cond, reference)
    assert out[0].abs().max() < 0.1 and out[1].mean().item() == pytest.approx(1e-5, rel=1e-3)
    off = ParamScaler(8, ScalingConfig(follow_reference=False))(raw, "scale", torch.ones(2), cond, reference)
    assert off.mean().item() == pytest.approx(0.1, rel=1e-3)  # the role's scale_value
