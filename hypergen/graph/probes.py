"""Behavioural probes: op types of module classes the registry has no entry for, found by what they compute.

Every model family writes its own RMSNorm (``MistralRMSNorm``, ``Qwen2RMSNorm``, ``GemmaRMSNorm``, ``MambaRMSNorm``...);
listing them all is a race that is lost on the next release. A probe runs a small CPU copy of the module on random
inputs instead; :meth:`~hypergen.graph.ops.OpRegistry.module_op` asks the registered probes about unregistered
classes (once per class and parameter shapes).
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import Tensor, nn

__all__ = ["normalization_probe"]

log = logging.getLogger(__name__)

_RTOL = 1e-3
_SCALE = 3.0


def _probe_inputs(size: int) -> list[tuple[Tensor, int]]:
    """Inputs normalised along their last dim (``[2, 3, d]``) or along channels (``[2, d, 3, 3]``), off-centre so a
    mean-subtracting norm can be told from an RMS one."""
    gen = torch.Generator().manual_seed(0)
    last = torch.randn(2, 3, size, generator=gen) * 2 + 0.5
    channels = torch.randn(2, size, 3, 3, generator=gen) * 2 + 0.5
    return [(last, -1), (channels, 1)]


def _is_scale_invariant(module: nn.Module, x: Tensor) -> Tensor | None:
    """``module(x)`` if it equals ``module(3 * x)``, is shaped like ``x`` and is not zero; else ``None``."""
    try:
        with torch.no_grad():
            y, y_scaled = module(x), module(_SCALE * x)
    except Exception as err:  # noqa: BLE001 -- a module that cannot take this input is not a norm of this layout
        log.debug("probe input %s failed for %s: %s", tuple(x.shape), type(module).__name__, err)
        return None
    if not isinstance(y, Tensor) or not isinstance(y_scaled, Tensor) or y.shape != x.shape:
        return None
    peak = y.abs().max()
    if not torch.isfinite(y).all() or peak < 1e-6:
        return None
    return y if torch.allclose(y, y_scaled, rtol=_RTOL, atol=_RTOL * float(peak)) else None


def normalization_probe(module: nn.Module) -> str | None:
    """``"layer_norm"`` or ``"rms_norm"`` for a module that normalises, else ``None``.

    A module normalises if it has no children, its own parameters are vectors of one length ``d`` (a weight, maybe a
    bias), and with weights 1 and biases 0 its output has its input's shape and does not change when the input
    (normalised along the last dim, or along channels) is multiplied by 3. It is a LayerNorm if the output has zero
    mean along that dim, an RMSNorm otherwise (Gemma's ``x / rms(x) * (1 + w)`` included).

    Args:
        module: any module (on any device, ``meta`` included; it is copied to the CPU, never changed).

    Returns:
        An op type name of :func:`~hypergen.graph.ops.default_registry`, or ``None``.
    """
    params = dict(module.named_parameters(recurse=False))
    if not params or next(module.children(), None) is not None:
        return None
    shapes = {tuple(p.shape) for p in params.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        return None
    clone = copy.deepcopy(module).to_empty(device="cpu").float().eval()
    with torch.no_grad():
        for name, param in clone.named_parameters(recurse=False):
            param.fill_(0.0 if name.endswith("bias") else 1.0)
    for x, dim in _probe_inputs(next(iter(shapes))[0]):
        y = _is_scale_invariant(clone, x)
        if y is not None:
            centred = y.mean(dim).abs().max() <= _RTOL * y.abs().max()
            return "layer_norm" if centred else "rms_norm"
    return None
