"""Parameter roles and the scaling that gives predicted weights sane initial statistics.

Every predicted tensor has a *role* (see :func:`param_role`) and a rule per role turns the decoder's raw output into
the weight (``w`` = raw output minus its mean when ``ScalingConfig.center``, divided by its standard deviation when
``ScalingConfig.normalize``; ``g`` = the GHN's learned gain for this tensor, in ``[1/max_gain, max_gain]`` and 1 for an
untrained GHN). Means and deviations of low-rank outputs are computed from the factors, so the full tensor is
written exactly once:

==============  ======================================  ==========================================================
role            applies to                              value
==============  ======================================  ==========================================================
``weight``      conv/linear/attention weights (>=2-D)   ``g * sqrt(beta / fan_in) * w`` (GHN-2 fan-in; ``beta`` is
                                                        ``kernel_beta`` for convolutions, ``weight_beta`` else)
``embedding``   embedding tables                        ``g * embedding_std * w``
``norm_weight`` BatchNorm/LayerNorm/... weights          ``1 + g * norm_weight_spread * w``
``norm_bias``   norm biases                             ``g * norm_bias_std * w``
``bias``        other biases                            ``g * bias_std / sqrt(fan_in) * w`` (fan-in of the weight)
``scale``       layer scale, ``param_scale``, PReLU     ``g * scale_value * (1 + w / 10)``
``other``       position embeddings, tokens, tables     ``g * other_std * w``
==============  ======================================  ==========================================================

Where the graph knows a tensor's default-init statistics ``(m, s)`` (``param_ref``, see
:mod:`hypergen.graph.reference`) and ``ScalingConfig.follow_reference`` is on, they take precedence over the table:

- a constant init (``s <= constant_tolerance * |m|``: norm weights of ones, Gemma's norms of zeros, layer scales of
  ``1e-6``, zero biases) gives ``m + g * max(s, constant_spread * |m|) * w`` (``zero_spread`` instead where that is
  0), for every role, so a class the registry has never seen starts where its authors put it;
- a random init keeps the rule's spread clamped to ``[s / reference_ratio, s * reference_ratio]`` (fan-in weights
  stay fan-in weights unless the model's own init is far from them, as GPT-2's 0.02 position table next to
  ``nn.Embedding``'s 1) and is centred on ``m`` where ``|m| > s``, else on 0.

A one-element tensor has no spread to normalise: it is its offset plus a bounded, trainable deviation,
``offset + spread * r / sqrt(1 + r^2)`` for its raw value ``r`` (so a GHN can still learn it).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from hypergen.ghn.config import ScalingConfig
from hypergen.ghn.decoders.base import RawParams
from hypergen.graph.ops import OpType

__all__ = ["ROLES", "param_role", "fan_in_of", "follow_reference", "ParamScaler"]

ROLES: tuple[str, ...] = ("weight", "embedding", "norm_weight", "norm_bias", "bias", "scale", "other")

# Op names whose every parameter has one role, whatever its kind.
_OP_ROLES: dict[str, str] = {
    "layer_scale": "scale", "param_scale": "scale", "prelu": "scale",
    "param_shift": "other", "param_token": "other", "param_table": "other",
}
# (op category, parameter kind) -> role.
_CATEGORY_ROLES: dict[tuple[str, str], str] = {
    ("norm", "weight"): "norm_weight", ("norm", "bias"): "norm_bias", ("norm", "other"): "norm_weight",
    ("embedding", "weight"): "embedding",
}
# Parameter kind -> role when nothing above applies (1-D "weights" outside norms are scales, e.g. PReLU).
_KIND_ROLES: dict[str, str] = {"weight": "weight", "bias": "bias", "other": "other"}


def param_role(op: OpType, kind: str, ndim: int) -> str:
    """Role of a parameter (one of :data:`ROLES`) from its node's op type, its kind and its rank."""
    if op.name in _OP_ROLES:
        return _OP_ROLES[op.name]
    if (op.category, kind) in _CATEGORY_ROLES:
        return _CATEGORY_ROLES[(op.category, kind)]
    if kind == "weight" and ndim < 2:
        return "scale"
    return _KIND_ROLES[kind]


def fan_in_of(shape: tuple[int, ...], node_shape: tuple[int, ...], in_out: bool = False,
              stacked: bool = False) -> int:
    """Fan-in used for scaling, as PyTorch computes it (``size(1) * receptive field``; ``size(0)`` for weights stored
    ``[in, out]`` when ``in_out``, as Hugging Face's ``Conv1D``).

    Tensors of rank < 2 (biases, norm weights) use their node's main weight instead (a bias scales with the fan-in of
    the layer it belongs to); without one, their own length. With ``stacked``, a rank-3 tensor is a stack of
    ``[out, in]`` matrices (Mixtral's fused experts ``[E, out, in]``), whose fan-in is ``in``, not ``out * in``.
    """
    if stacked and len(shape) == 3:
        return max(1, shape[-1])
    ref = shape if len(shape) >= 2 else (node_shape if len(node_shape) >= 2 else shape)
    if len(ref) >= 2:
        return max(1, ref[0 if in_out else 1] * math.prod(ref[2:]))
    return max(1, ref[0] if ref else 1)


# (fan_in [G], gain [G], config) -> (scale [G], offset [G]): the weight is ``scale * w + offset``.
_Rule = Callable[[Tensor, Tensor, ScalingConfig], tuple[Tensor, Tensor]]

_RULES: dict[str, _Rule] = {
    "weight": lambda fan, g, c: (g * torch.sqrt(c.weight_beta / fan), torch.zeros_like(g)),
    "embedding": lambda fan, g, c: (g * c.embedding_std, torch.zeros_like(g)),
    "norm_weight": lambda fan, g, c: (g * c.norm_weight_spread, torch.ones_like(g)),
    "norm_bias": lambda fan, g, c: (g * c.norm_bias_std, torch.zeros_like(g)),
    "bias": lambda fan, g, c: (g * c.bias_std / torch.sqrt(fan), torch.zeros_like(g)),
    "scale": lambda fan, g, c: (g * c.scale_value / 10, g * c.scale_value),
    "other": lambda fan, g, c: (g * c.other_std, torch.zeros_like(g)),
}


_EPS = 1e-12

# Roles whose offset is part of what the learned gain scales (a layer scale is ``g * value``; a norm weight is
# ``1 + g * spread * w``).
_GAINED_OFFSETS = frozenset({"scale"})


def follow_reference(scale: Tensor, offset: Tensor, gain: Tensor, role: str, reference: Tensor,
                     config: ScalingConfig) -> tuple[Tensor, Tensor]:
    """Replace a rule's ``(scale [G], offset [G])`` by one around each tensor's default-init statistics.

    Args:
        scale: ``[G]`` the rule's spread (gain included).
        offset: ``[G]`` the rule's offset.
        gain: ``[G]`` the learned gain.
        role: the tensors' role.
        reference: ``[G, 2]`` default-init ``(mean, std)``; rows with NaN keep the rule.
        config: the constants (``constant_tolerance``, ``constant_spread``, ``zero_spread``, ``reference_ratio``).

    Returns:
        ``(scale [G], offset [G])``.
    """
    reference = reference.to(scale.dtype)
    mean, std = reference[:, 0], reference[:, 1]
    known = torch.isfinite(mean) & torch.isfinite(std)
    mean, std = torch.nan_to_num(mean), torch.nan_to_num(std)
    constant = std <= config.constant_tolerance * mean.abs()
    spread = torch.maximum(std, config.constant_spread * mean.abs())
    spread = torch.where(spread > 0, spread, torch.full_like(spread, config.zero_spread))
    nominal = scale / gain
    ratio = config.reference_ratio
    random_scale = torch.minimum(torch.maximum(nominal, std / ratio), std * ratio)
    random_offset = torch.where(mean.abs() > std, mean, torch.zeros_like(mean))
    new_scale = gain * torch.where(constant, spread, random_scale)
    new_offset = torch.where(constant, mean, random_offset)
    if role in _GAINED_OFFSETS:
        new_offset = gain * new_offset
    return torch.where(known, new_scale, scale), torch.where(known, new_offset, offset)


class ParamScaler(nn.Module):
    """Applies the role's rule with a learned, bounded per-tensor gain.

    Args:
        hidden: width of the conditioning vectors the gain is predicted from.
        config: the scaling rules' constants.
    """

    def __init__(self, hidden: int, config: ScalingConfig) -> None:
        super().__init__()
        self.config = config
        self.gain_head = nn.Linear(hidden, 1)
        nn.init.zeros_(self.gain_head.weight)
        nn.init.zeros_(self.gain_head.bias)

    def forward(self, raw: RawParams, role: str, fan_in: Tensor, cond: Tensor,
                reference: Tensor | None = None, kernel: bool = True) -> Tensor:
        """Scale ``G`` raw tensors of one role (materialising them once).

        Args:
            raw: decoder output for ``G`` tensors.
            role: one of :data:`ROLES`.
            fan_in: ``[G]`` fan-in of each tensor (see :func:`fan_in_of`).
            cond: ``[G, hidden]`` conditioning vectors.
            reference: ``[G, 2]`` default-init ``(mean, std)`` of each tensor (NaN rows: unknown), or ``None``.
            kernel: dims after the second are a convolution kernel (``kernel_beta``); ``False`` for stacks of
                matrices.

        Returns:
            ``[G, *shape]`` weights.
        """
        return raw.materialize(*self.coefficients(raw, role, fan_in, cond, reference, kernel))

    def coefficients(self, raw: RawParams, role: str, fan_in: Tensor, cond: Tensor,
                     reference: Tensor | None = None, kernel: bool = True) -> tuple[Tensor, Tensor]:
        """``(scale [G], offset [G])`` such that the weights are ``scale * raw + offset`` (arguments: see
        :meth:`forward`)."""
        gain = self.gain(cond)
        scale, offset = _RULES[role](fan_in.to(cond.dtype), gain, self.config)
        if role == "weight" and kernel and raw.layout.kernel:  # convolutions: kernel_beta instead of weight_beta
            scale = scale * math.sqrt(self.config.kernel_beta / self.config.weight_beta)
        if reference is not None and self.config.follow_reference:
            scale, offset = follow_reference(scale, offset, gain, role, reference, self.config)
        if math.prod(raw.layout.shape) == 1 and (self.config.center or self.config.normalize):
            # one scalar has no spread: centred it is 0 (and no training could move it), normalised it would be
            # rounding noise blown up to any size; it is its offset plus a bounded deviation that gradients reach
            value = raw.mean()
            return scale * torch.rsqrt(1 + value.square()), offset
        mean = raw.mean() if self.config.center else torch.zeros_like(scale)
        if self.config.normalize:
            # sqrt(x + eps): a tensor whose values all became equal (spread 0) must not give an infinite gradient
            # (sqrt'(0)), which turned every GHN gradient into NaN
            if self.config.center:
                spread = ((raw.rms().square() - mean.square()).clamp(min=0) + _EPS).sqrt()
            else:
                spread = raw.rms()
            scale = scale / (spread + 1e-12)
        return scale, offset - scale * mean

    def gain(self, cond: Tensor) -> Tensor:
        """``[G]`` learned gain in ``[1/max_gain, max_gain]`` (1 for an untrained GHN)."""
        return self.config.max_gain ** torch.tanh(self.gain_head(cond).squeeze(-1))
