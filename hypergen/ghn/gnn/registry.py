"""The registry of GNN backbones: name -> factory of a module ``(h [N, hidden], data) -> [N, hidden]``.

Each backbone registers its factory in its own module of ``hypergen.ghn.gnn`` with ``@register_gnn("name")``; the
registry imports those modules on its first lookup (see :class:`hypergen.registry.Registry`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

from hypergen.registry import Registry

__all__ = ["GNN_REGISTRY", "GNNFactory", "build_gnn", "list_gnns", "register_gnn"]

#: ``factory(hidden, layers, heads, max_distance)`` -> a module mapping node embeddings ``[N, hidden]`` and the
#: batch's ``Data`` to new embeddings ``[N, hidden]``.
GNNFactory = Callable[[int, int, int, int], nn.Module]
FactoryT = TypeVar("FactoryT", bound=GNNFactory)

#: Name -> factory; ``GHNConfig.gnn`` names an entry.
GNN_REGISTRY: Registry[GNNFactory] = Registry(
    "GNN", "hypergen.ghn.gnn", "register_gnn", entry_point_group="hypergen.gnns",
    hint="Add one as a module with an @register_gnn(<name>) factory (docs/extending.md).",
)


def register_gnn(name: str) -> Callable[[FactoryT], FactoryT]:
    """Decorator: register a GNN factory under ``name`` (replacing an earlier one).

    The factory is a function, or a class, called as ``factory(hidden, layers, heads, max_distance)`` (the
    :class:`~hypergen.ghn.GHNConfig` fields ``hidden``, ``gnn_layers``, ``heads``, ``max_distance``).

    Example:
        >>> @register_gnn("gcn")
        ... def gcn(hidden: int, layers: int, heads: int, max_distance: int) -> nn.Module: ...
    """

    return GNN_REGISTRY.callable_decorator(name, "a factory (function or class)")


def list_gnns() -> list[str]:
    """Registered GNN names, sorted."""
    return GNN_REGISTRY.names()


def build_gnn(name: str, hidden: int, layers: int, heads: int, max_distance: int) -> nn.Module:
    """Build the GNN registered as ``name``.

    Raises:
        KeyError: for an unknown name (lists the registered ones).
    """
    return GNN_REGISTRY[name](hidden, layers, heads, max_distance)
