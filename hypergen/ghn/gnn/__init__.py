"""GNN backbones that turn initial node embeddings into context-aware ones, looked up by name."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from hypergen.ghn.gnn.gated import GatedGNN
from hypergen.ghn.gnn.transformer import GraphTransformer
from hypergen.registry import lookup

__all__ = ["GNN_REGISTRY", "GatedGNN", "GraphTransformer", "build_gnn"]

#: name -> factory(hidden, layers, heads, max_distance) of a module ``(h [N, hidden], data) -> [N, hidden]``.
GNN_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "transformer": lambda hidden, layers, heads, max_distance: GraphTransformer(hidden, layers, heads, max_distance),
    "gated": lambda hidden, layers, heads, max_distance: GatedGNN(hidden, rounds=layers),
}


def build_gnn(name: str, hidden: int, layers: int, heads: int, max_distance: int) -> nn.Module:
    """Build the GNN registered as ``name``.

    Raises:
        KeyError: for an unknown name (lists the registered ones).
    """
    return lookup(GNN_REGISTRY, name, "GNN")(hidden, layers, heads, max_distance)
