"""Example inputs for tracing: normalisation to ``(args, kwargs)`` on the tracing device."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Iterator, Union

import torch
from torch import Tensor, nn

from hypergen.registry import resolve

__all__ = ["ExampleInputs", "normalize_inputs", "tensor_leaves", "DEFAULT_IMAGE_SHAPE", "complete_inputs",
           "register_input_completer", "describe_value"]

#: What ``trace_module`` accepts as example inputs: a tensor, a shape (``(2, 3, 224, 224)`` or ``torch.Size``),
#: a tuple/list of positional tensors, or a dict of keyword arguments (HF models: ``{"input_ids": ...}``).
ExampleInputs = Union[Tensor, torch.Size, Sequence[Any], Mapping[str, Any], None]

#: Input used when none is given: a batch of two 224x224 RGB images (batch 2 so that BatchNorm runs in train mode).
DEFAULT_IMAGE_SHAPE: tuple[int, ...] = (2, 3, 224, 224)


def _is_shape(obj: Any) -> bool:
    return isinstance(obj, torch.Size) or (
        isinstance(obj, (tuple, list)) and len(obj) > 0 and all(isinstance(d, int) and d > 0 for d in obj)
    )


def _from_shape(shape: Sequence[int], device: torch.device) -> Tensor:
    # Real devices get standard-normal values: a value-dependent forward must not see uninitialised memory.
    make = torch.empty if device.type == "meta" else torch.randn
    return make(tuple(shape), device=device)


def _move_tensor(tensor: Tensor, device: torch.device) -> Tensor:
    if device.type == "meta":  # a new one even from meta: under a FakeTensorMode it is a fake tensor, as it must be
        return torch.empty_like(tensor, device=device)
    if tensor.device == device:
        return tensor
    if tensor.is_meta:  # no values to copy: zeros are valid token ids, indices and masks
        return torch.zeros(tensor.shape, dtype=tensor.dtype, device=device)
    return tensor.to(device)


def _move(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, Tensor):
        return _move_tensor(obj, device)
    if isinstance(obj, Mapping):
        return type(obj)({k: _move(v, device) for k, v in obj.items()}) if type(obj) is dict \
            else {k: _move(v, device) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(_move(v, device) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_move(v, device) for v in obj)
    return obj


def normalize_inputs(inputs: ExampleInputs, device: torch.device | str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Turn any accepted form of example inputs into ``(args, kwargs)`` with tensors on ``device``.

    Args:
        inputs: see :data:`ExampleInputs`. ``None`` means :data:`DEFAULT_IMAGE_SHAPE`.
        device: the tracing device; on ``"meta"`` real tensors are replaced by meta tensors of the same shape/dtype,
            on a real device meta tensors by zeros.

    Returns:
        Positional and keyword arguments for ``model(*args, **kwargs)``.

    Raises:
        TypeError: for inputs of another type, saying which forms are accepted.
    """
    device = torch.device(device)
    if inputs is None:
        inputs = DEFAULT_IMAGE_SHAPE
    if _is_shape(inputs):
        return (_from_shape(inputs, device),), {}
    if isinstance(inputs, Tensor):
        return (_move(inputs, device),), {}
    if isinstance(inputs, Mapping):
        bad = [k for k in inputs if not isinstance(k, str)]
        if bad:
            raise TypeError(f"example_inputs dict keys must be argument names (str), got {bad!r}")
        return (), dict(_move(dict(inputs), device))
    if isinstance(inputs, (tuple, list)):
        args = tuple(_from_shape(a, device) if _is_shape(a) else _move(a, device) for a in inputs)
        return args, {}
    raise TypeError(
        f"example_inputs of type {type(inputs).__name__} is not supported; pass a Tensor, a shape like (2, 3, 224, "
        "224), a tuple of positional inputs, or a dict of keyword inputs"
    )


def tensor_leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
    """Yield ``(path, tensor)`` for every tensor in nested tuples/lists/dicts/namedtuples/ModelOutputs.

    Objects of other types (caches, strings, numbers) are skipped.
    """
    if isinstance(obj, Tensor):
        yield prefix or "0", obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from tensor_leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, (list, tuple)):
        fields = getattr(obj, "_fields", None)
        for i, value in enumerate(obj):
            key = fields[i] if fields else str(i)
            yield from tensor_leaves(value, f"{prefix}.{key}" if prefix else key)


#: Input completers: ``"module:Class"`` of the models they apply to -> ``"module:function"`` (or the function). A
#: class is only looked up when its module is already imported (a model of it can exist only then), so optional
#: libraries are never imported here.
_COMPLETERS: dict[str, str | Callable[..., tuple[tuple[Any, ...], dict[str, Any]]]] = {
    "transformers.modeling_utils:PreTrainedModel": "hypergen.graph.hf_inputs:complete_hf_inputs",
}


def register_input_completer(model_class: str, completer: str | Callable[..., Any]) -> None:
    """Add inputs that models of ``model_class`` (``"module:Class"``, subclasses included) cannot run without.

    ``completer(model, args, kwargs, device) -> (args, kwargs)`` gets the normalised inputs on the tracing device.
    """
    _COMPLETERS[model_class] = completer


def complete_inputs(
    model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], device: torch.device
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Add the inputs ``model`` cannot run without to the user's (see :func:`register_input_completer`).

    Hugging Face models get what they need besides their main input, derived from its shape and the config
    (an encoder-decoder's ``decoder_input_ids``, a dual encoder's other modality) and ``use_cache=False``; see
    :func:`hypergen.graph.hf_inputs.complete_hf_inputs`. Inputs the user passed are never changed.
    """
    for class_path, completer in _COMPLETERS.items():
        module_name, _, class_name = class_path.partition(":")
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(cls, type) and isinstance(model, cls):
            args, kwargs = resolve(completer)(model, args, kwargs, device)
    return args, kwargs


def describe_value(obj: Any, *, device: bool = False) -> str:
    """Text for messages that never contains tensor values: a tensor is ``Tensor(2, 3):float32`` (with ``@cuda:0``
    when ``device``), recursively inside lists, tuples and dicts; long reprs of other objects are cut to the type."""
    if isinstance(obj, Tensor):
        where = f"@{obj.device}" if device else ""
        return f"Tensor{tuple(obj.shape)}:{str(obj.dtype).replace('torch.', '')}{where}"
    if isinstance(obj, Mapping):
        return "{" + ", ".join(f"{k!r}: {describe_value(v, device=device)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        inner = ", ".join(describe_value(v, device=device) for v in obj)
        return f"[{inner}]" if isinstance(obj, list) else f"({inner}{',' if len(obj) == 1 else ''})"
    text = repr(obj)
    return text if len(text) <= 80 else f"{type(obj).__name__}(...)"
