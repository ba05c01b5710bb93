"""Run a model with predicted parameters without touching its own (which may live on ``meta``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["forward_with", "materialize_buffers"]


def forward_with(model: nn.Module, params: dict[str, Tensor], *args: Any, **kwargs: Any) -> Any:
    """``model(*args, **kwargs)`` with ``params`` in place of its parameters (differentiable w.r.t. ``params``).

    Tied parameters need only one of their names. Buffers (BatchNorm statistics) are the model's own; a model built
    on ``meta`` needs :func:`materialize_buffers` first.

    Raises:
        KeyError: if a parameter of the model has no prediction and lives on ``meta`` (names it).
    """
    missing = [n for n, p in model.named_parameters() if n not in params and p.is_meta]
    if missing:
        raise KeyError(f"no predicted value for meta parameters {missing[:5]}{'...' if len(missing) > 5 else ''}; "
                       "predict them or build the model on a real device")
    return functional_call(model, params, args, kwargs, tie_weights=True, strict=False)


def materialize_buffers(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """Give a ``meta`` model real buffers on ``device`` (parameters stay on ``meta``) so it can run with predicted
    parameters; buffers already real are moved to ``device``.

    Meta norm-layer running statistics are created with their initial values (mean 0, variance 1, count 0).

    Raises:
        ValueError: for a meta buffer whose value cannot be reconstructed (names it; build that model on ``device``).
    """
    for module_name, module in model.named_modules():
        for name, buffer in module.named_buffers(recurse=False):
            if buffer is not None and not buffer.is_meta and buffer.device != torch.device(device):
                module._buffers[name] = buffer.to(device)
        meta = {n: b for n, b in module.named_buffers(recurse=False) if b is not None and b.is_meta}
        if not meta:
            continue
        reset = getattr(module, "reset_running_stats", None)
        if reset is None:
            raise ValueError(
                f"buffer(s) {[f'{module_name}.{n}' if module_name else n for n in meta]} of "
                f"{type(module).__name__} are on meta and their values are unknown; build the model on {device!r}"
            )
        for name, buffer in meta.items():
            module._buffers[name] = torch.empty_like(buffer, device=device)
        reset()
    return model
