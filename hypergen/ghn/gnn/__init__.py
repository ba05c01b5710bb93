"""GNN backbones that turn initial node embeddings into context-aware ones, looked up by name.

Each backbone lives in its own module and registers itself with ``@register_gnn("name")`` (see
:mod:`hypergen.ghn.gnn.registry`).
"""

from __future__ import annotations

from hypergen.ghn.gnn.gated import GatedGNN
from hypergen.ghn.gnn.registry import GNN_REGISTRY, build_gnn, list_gnns, register_gnn
from hypergen.ghn.gnn.transformer import GraphTransformer

__all__ = ["GNN_REGISTRY", "GatedGNN", "GraphTransformer", "build_gnn", "list_gnns", "register_gnn"]
