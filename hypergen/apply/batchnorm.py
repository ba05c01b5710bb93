"""Re-estimating BatchNorm running statistics for predicted weights."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from hypergen.apply.functional import forward_with

__all__ = ["batchnorm_default_state", "batchnorm_layers", "recalibrate_batchnorm", "stale_batchnorm_layers"]

log = logging.getLogger(__name__)


def batchnorm_layers(model: nn.Module) -> dict[str, nn.modules.batchnorm._BatchNorm]:
    """``{qualified name: module}`` of every BatchNorm layer that tracks running statistics."""
    return {name: m for name, m in model.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats and m.running_mean is not None}


def batchnorm_default_state(model: nn.Module) -> dict[str, Tensor]:
    """The running statistics of every BatchNorm layer at a fresh layer's values, as CPU state-dict entries.

    ``running_mean`` 0, ``running_var`` 1 and ``num_batches_tracked`` 0 (what ``reset_running_stats`` sets), built
    from the buffers' shapes and dtypes only, so it works for models on ``meta``. Written next to predicted parameters
    (``hypergen init``), it pairs them with statistics that no earlier weights estimated.

    Args:
        model: any model (its buffers are not read or changed).

    Returns:
        ``{"<layer>.running_mean": zeros, "<layer>.running_var": ones, "<layer>.num_batches_tracked": 0}``.
    """
    state: dict[str, Tensor] = {}
    for name, m in batchnorm_layers(model).items():
        prefix = f"{name}." if name else ""
        state[prefix + "running_mean"] = torch.zeros(m.running_mean.shape, dtype=m.running_mean.dtype)
        state[prefix + "running_var"] = torch.ones(m.running_var.shape, dtype=m.running_var.dtype)
        if m.num_batches_tracked is not None:
            state[prefix + "num_batches_tracked"] = torch.zeros((), dtype=m.num_batches_tracked.dtype)
    return state


def stale_batchnorm_layers(model: nn.Module) -> list[str]:
    """BatchNorm layers whose running statistics are not a fresh layer's (estimated for some earlier weights)."""
    stale = []
    for name, m in batchnorm_layers(model).items():
        if m.running_mean.is_meta:
            continue
        fresh = bool((m.running_mean == 0).all()) and bool((m.running_var == 1).all())
        if not fresh or (m.num_batches_tracked is not None and int(m.num_batches_tracked) != 0):
            stale.append(name)
    return stale


def recalibrate_batchnorm(
    model: nn.Module,
    batches: Iterable[Any],
    device: torch.device | str | None = None,
    params: dict[str, Tensor] | None = None,
) -> int:
    """Reset every BatchNorm's running statistics and re-estimate them on ``batches`` (exact average, no momentum).

    Only BatchNorm layers run in training mode during calibration (dropout etc. stay in eval); the model's
    modes and momenta are restored afterwards. Weights are not changed.

    Args:
        model: the model (initialised with predicted weights).
        batches: inputs, or ``(inputs, targets)`` pairs whose first element is fed to the model; dicts are passed as
            keyword arguments.
        device: where to move the inputs (default: the model's first buffer's or parameter's device).
        params: run the model with these parameters (:func:`~hypergen.apply.functional.forward_with`) instead of its
            own, e.g. predicted weights of a ``meta`` model with real buffers.

    Returns:
        The number of batches used.

    Raises:
        ValueError: if ``batches`` is empty while the model has BatchNorm layers.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    device = device or next(iter(model.buffers()), next(model.parameters())).device

    def run(*args: Any, **kwargs: Any) -> Any:
        return forward_with(model, params, *args, **kwargs) if params is not None else model(*args, **kwargs)

    modes = {m: m.training for m in model.modules()}
    momenta = {m: m.momentum for m in norms}
    count = 0
    try:
        model.eval()
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average = exact mean over the calibration batches
            m.train()
        with torch.no_grad():
            for batch in batches:
                inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
                if isinstance(inputs, dict):
                    run(**{k: v.to(device) for k, v in inputs.items()})
                else:
                    run(inputs.to(device))
                count += 1
    finally:
        for m, mode in modes.items():
            m.training = mode
        for m, momentum in momenta.items():
            m.momentum = momentum
    if count == 0:
        raise ValueError(f"no calibration batches given for {len(norms)} BatchNorm layers; pass a few input batches")
    log.info("re-estimated running statistics of %d BatchNorm layers on %d batches", len(norms), count)
    return count
