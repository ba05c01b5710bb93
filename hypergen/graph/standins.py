"""Stand-in tensors the traced forward runs on instead of the model's own parameters, buffers and tensor attributes.

On ``meta`` a stand-in is an empty meta tensor of the same shape and dtype. On a real device, parameters get
*strided noise*: a short random vector viewed with overlapping strides as the parameter's shape, so the stand-in of
a ``[50257, 768]`` embedding holds ``4 * 50256 + 768`` numbers instead of 38.6M (memory grows with the sum of the
dimensions, not their product). Kernels that need a dense layout copy one such weight at a time while they run.
A kernel that refuses such a layout (``grouped_mm``) gets dense copies instead (:class:`DenseOnRefusal`).
Buffers and tensor attributes are small and may be written to (BatchNorm statistics, caches): they are copied, or
zero-filled where the model has no values for them (on ``meta``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

__all__ = ["parameter_stand_in", "state_stand_in", "map_tensors", "DenseOnRefusal"]

# Stride between neighbours along every dimension but the last, in elements: 4 float32 values keep every stride a
# multiple of 16 bytes, which some CPU kernels (``grouped_mm``) require.
_ROW_STRIDE = 4


def parameter_stand_in(param: Tensor, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
    """A read-only tensor shaped like ``param`` on ``device`` that costs ``O(sum(param.shape))`` memory off ``meta``.

    Args:
        param: the parameter it stands for (never read; it may be on ``meta``).
        device: the tracing device.
        generator: CPU generator for the noise (default: a fresh one seeded with 0, so traces are reproducible).

    Returns:
        An empty meta tensor on ``meta``; otherwise noise of standard deviation ``1/sqrt(fan_in)`` (floating
        dtypes) or zeros (integer dtypes), viewed with overlapping strides.
    """
    if device.type == "meta":
        return torch.empty_like(param, device=device)
    shape = tuple(param.shape)
    if param.numel() == 0:
        return torch.empty(shape, dtype=param.dtype, device=device)
    if not (param.is_floating_point() or param.is_complex()):
        return torch.zeros((), dtype=param.dtype, device=device).expand(shape)
    if len(shape) <= 1:
        strides: tuple[int, ...] = (1,) * len(shape)
        size = max(1, math.prod(shape))
    else:
        strides = (_ROW_STRIDE,) * (len(shape) - 1) + (1,)
        size = _ROW_STRIDE * sum(d - 1 for d in shape[:-1]) + shape[-1]
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
    noise = torch.randn(size, generator=generator, dtype=torch.float32).div_(math.sqrt(max(1, fan_in)))
    return noise.to(device=device, dtype=param.dtype).as_strided(shape, strides)


def state_stand_in(tensor: Tensor, device: torch.device) -> Tensor:
    """A writable copy of a buffer or tensor attribute on ``device`` (empty on ``meta``, zeros for a meta source)."""
    if device.type == "meta":
        return torch.empty_like(tensor, device=device)
    if tensor.is_meta:
        return torch.zeros(tensor.shape, dtype=tensor.dtype, device=device)
    return tensor.detach().to(device, copy=True)


def map_tensors(obj: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    """``obj`` with every tensor inside lists, tuples and dicts replaced by ``fn(tensor)`` (other objects as is).

    Containers without tensors are returned unchanged (the same object).
    """
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, (list, tuple)):
        items = [map_tensors(v, fn) for v in obj]
        if all(a is b for a, b in zip(items, obj)):
            return obj
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
            return type(obj)(*items)
        return type(obj)(items)
    if isinstance(obj, Mapping) and type(obj) in (dict,):
        items = {k: map_tensors(v, fn) for k, v in obj.items()}
        return obj if all(items[k] is obj[k] for k in obj) else items
    return obj


def _overlapping(tensor: Tensor) -> bool:
    """Whether elements of ``tensor`` share memory (a strided-noise stand-in or a view of one)."""
    return not tensor.is_meta and tensor.untyped_storage().nbytes() < tensor.numel() * tensor.element_size()


class DenseOnRefusal(TorchFunctionMode):
    """Calls a tensor function again with dense copies of its overlapping arguments when it raises on them.

    Most kernels accept the overlapping strides of :func:`parameter_stand_in` (copying internally where they need
    to); the few that check strides and raise get a dense copy of each such argument, one call at a time.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, D105
        kwargs = kwargs or {}
        try:
            return func(*args, **kwargs)
        except RuntimeError:
            dense_args = map_tensors(args, lambda t: t.contiguous() if _overlapping(t) else t)
            dense_kwargs = map_tensors(kwargs, lambda t: t.contiguous() if _overlapping(t) else t)
            if dense_args is args and dense_kwargs is kwargs:
                raise
            return func(*dense_args, **dense_kwargs)
