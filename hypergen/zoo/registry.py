"""The registry of model sources behind :func:`load_model`: prefix (``torchvision``, ``timm``, ``hf``) -> source.

Each source registers itself in its own module with ``@register_source("prefix")``; the registry imports those
modules of ``hypergen.zoo`` on its first lookup (see :class:`hypergen.registry.Registry`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, overload

import torch
from torch import nn

from hypergen.graph.inputs import ExampleInputs
from hypergen.registry import Registry

__all__ = ["ZooModel", "ModelSource", "register_source", "load_model", "list_models", "available_sources"]

log = logging.getLogger(__name__)


@dataclass
class ZooModel:
    """A model built from a zoo spec.

    Attributes:
        spec: the spec it was built from, e.g. ``"torchvision:resnet50"``.
        model: the module (its parameters on the requested device).
        example_inputs: inputs its forward accepts (shapes, or dicts of tensors for HF models).
    """

    spec: str
    model: nn.Module
    example_inputs: ExampleInputs


class ModelSource(Protocol):
    """What a zoo source provides: a builder and a list of the names it knows."""

    def build(self, name: str, **kwargs: Any) -> tuple[nn.Module, ExampleInputs]: ...

    def names(self) -> list[str]: ...


#: Source prefix -> source. Each built-in registers itself in its own module of ``hypergen.zoo`` with
#: ``@register_source("prefix")`` and imports its library (torchvision, timm, transformers) only when it builds.
_SOURCES: Registry[ModelSource] = Registry(
    "model source", "hypergen.zoo", "register_source", entry_point_group="hypergen.sources", error=ValueError,
    hint="Add one with @register_source(<prefix>) on a class with build(name, **kwargs) and names() "
         "(docs/extending.md).",
)

SourceT = TypeVar("SourceT")


@overload
def register_source(prefix: str, source: None = None) -> Callable[[SourceT], SourceT]: ...


@overload
def register_source(prefix: str, source: ModelSource | str) -> None: ...


def register_source(prefix: str, source: ModelSource | str | None = None) -> Any:
    """Add a model source under ``prefix`` (replacing an earlier one); use as a class decorator or as a call.

    Args:
        prefix: the part of a model spec before the first ``:``, e.g. ``"timm"``.
        source: a :class:`ModelSource` or the ``"module:attribute"`` path of one (imported on first use). Omit it
            to get a decorator: decorating a class registers an instance of it (built with no arguments),
            decorating an object registers the object.

    Example:
        >>> @register_source("mine")
        ... class MySource:
        ...     def build(self, name, **kwargs): ...
        ...     def names(self): ...
    """
    if source is None:

        def decorator(target: SourceT) -> SourceT:
            _SOURCES.register(prefix, target() if isinstance(target, type) else target)  # type: ignore[arg-type]
            return target

        return decorator
    _SOURCES.register(prefix, source)
    return None


def available_sources() -> list[str]:
    """Registered source prefixes."""
    return _SOURCES.names()


def _source(prefix: str) -> ModelSource:
    try:
        return _SOURCES[prefix]
    except ImportError as err:
        raise ImportError(f"{err}. Install the optional dependencies with `pip install 'hypergen[zoo]'`.") from err


def load_model(spec: str, *, device: torch.device | str = "meta", **kwargs: Any) -> ZooModel:
    """Build the model named by ``spec`` with its parameters on ``device``.

    Args:
        spec: ``"<source>:<name>"``, e.g. ``"torchvision:resnet50"``, ``"timm:vit_tiny_patch16_224"``,
            ``"hf:gpt2:causal_lm"``.
        device: where parameters are allocated; ``"meta"`` (default) allocates nothing.
        **kwargs: passed to the source's builder (e.g. ``num_classes=10``, or HF config fields like ``n_layer=2``).

    Raises:
        ValueError: for a malformed spec, an unknown source or an unknown model name.
    """
    prefix, sep, name = spec.partition(":")
    if not sep or not name:
        raise ValueError(f"model spec {spec!r} must look like '<source>:<name>', e.g. 'torchvision:resnet50'")
    source = _source(prefix)
    try:
        with torch.device(device):
            model, inputs = source.build(name, **kwargs)
    except NotImplementedError as err:
        if torch.device(device).type != "meta":
            raise
        # Some constructors compute sizes with tensors (torchvision's RegNet); run them on the CPU and put only
        # the parameters and buffers on meta, one tensor at a time.
        log.debug("building %s under the meta device failed (%s); creating parameters on meta only", spec, err)
        with _parameters_on_meta():
            model, inputs = source.build(name, **kwargs)
    return ZooModel(spec, model, inputs)


@contextlib.contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Move every parameter and buffer to ``meta`` as soon as a module registers it (peak: one tensor)."""
    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def on_meta_parameter(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(module, name, param)

    def on_meta_buffer(module: nn.Module, name: str, tensor: torch.Tensor | None, persistent: bool = True) -> None:
        register_buffer(module, name, None if tensor is None else tensor.to("meta"), persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = on_meta_parameter, on_meta_buffer  # type: ignore
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer


def list_models(prefix: str) -> list[str]:
    """Names a source can build (for ``hf``: the supported model types)."""
    return _source(prefix).names()

