"""Tracing never changes the model: module state is swapped for stand-ins while the forward runs and put back after.

What a forward can change, and how it is undone (whether the forward succeeded or raised):

- parameters and buffers: never reached, the forward runs on stand-ins (:func:`torch.func.functional_call`); a
  buffer or parameter registered or replaced by the forward is removed or put back;
- plain tensor attributes (``self.anchors = torch.tensor(...)``, lists or dicts of tensors such as torchvision's
  ``AnchorGenerator.cell_anchors``): replaced by stand-ins for the duration, so in-place writes hit the stand-in;
- attributes set or deleted by the forward (caches, counters, ``training`` flags, submodules, monkey-patched
  ``forward``): every module's attributes are restored to the very objects they were;
- content of the module's own dicts, lists and sets (hook tables, ``_parameters``, a ``self.cache = {}`` filled by
  the forward): restored one level deep.

State held by other objects the model points to (a config object, a global cache) is outside its modules and not
covered; the global random generators are restored by the tracer itself (``torch.random.fork_rng``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from hypergen.graph.standins import map_tensors

__all__ = ["isolated_state"]

#: Attributes every ``nn.Module`` has (``_parameters``, hook tables...): snapshotted, but never swapped for stand-ins.
_MODULE_INTERNALS = frozenset(vars(nn.Module()))


@dataclass
class _ModuleState:
    attrs: dict[str, Any]  # the module's __dict__, same objects
    contents: dict[str, Any]  # attribute -> shallow copy of a mutable container's content


def _content(container: Any) -> Any:
    if isinstance(container, dict):
        return list(container.items())
    return list(container) if isinstance(container, (list, set)) else None


def _put_back(container: Any, content: list) -> None:
    if isinstance(container, dict):
        container.clear()
        container.update(content)
    elif isinstance(container, list):
        container[:] = content
    else:
        container.clear()
        container.update(content)


def _snapshot(module: nn.Module) -> _ModuleState:
    attrs = dict(vars(module))
    contents = {k: _content(v) for k, v in attrs.items() if isinstance(v, (dict, list, set))}
    return _ModuleState(attrs, contents)


def _restore(module: nn.Module, state: _ModuleState) -> None:
    current = vars(module)
    for key in [k for k in current if k not in state.attrs]:
        del current[key]
    for key, value in state.attrs.items():
        current[key] = value
    for key, content in state.contents.items():
        _put_back(state.attrs[key], content)


def _swap_tensor_attributes(module: nn.Module, stand_in: Callable[[Tensor], Tensor]) -> None:
    # Parameters held in plain attributes (a list of another module's weights) stay: they are weights, never copied.
    def swap(tensor: Tensor) -> Tensor:
        return tensor if isinstance(tensor, nn.Parameter) else stand_in(tensor)

    current = vars(module)
    for key, value in list(current.items()):
        if key not in _MODULE_INTERNALS and not isinstance(value, nn.Module):
            current[key] = map_tensors(value, swap)


@contextlib.contextmanager
def isolated_state(model: nn.Module, stand_in: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """Swap ``model``'s plain tensor attributes for ``stand_in(tensor)`` and restore all module state on exit.

    Args:
        model: the model about to run a forward pass.
        stand_in: maps a tensor attribute to the tensor the forward sees instead.
    """
    states = [(module, _snapshot(module)) for module in model.modules()]
    try:
        for module, _ in states:
            _swap_tensor_attributes(module, stand_in)
        yield
    finally:
        for module, state in states:
            _restore(module, state)
