"""GHN-3 style graph transformer: dense self-attention per graph, biased by shortest-path distance."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import to_dense_batch

from hypergen.ghn.gnn.registry import register_gnn

__all__ = ["GraphTransformer", "distance_buckets", "distance_prior", "graph_transformer"]


def _graph_layout(data: Data) -> tuple[Tensor, Tensor]:
    """``(batch [N], local index [N])`` of every node, for a single graph or a batch."""
    num_nodes = data.num_nodes
    batch = getattr(data, "batch", None)
    if batch is None:
        batch = torch.zeros(num_nodes, dtype=torch.long, device=data.op.device)
    counts = torch.bincount(batch, minlength=int(batch.max()) + 1 if num_nodes else 1)
    starts = torch.cumsum(counts, 0) - counts
    return batch, torch.arange(num_nodes, device=batch.device) - starts[batch]


def distance_buckets(data: Data, max_distance: int) -> tuple[Tensor, Tensor, Tensor]:
    """Dense shortest-path buckets between all node pairs of every graph.

    Bucket ``0`` = unreachable, ``d`` in ``1..max_distance`` = ``j`` is ``d`` steps downstream of ``i``,
    ``max_distance + d`` = ``d`` steps upstream, ``2 * max_distance + 1`` = the node itself. Distances beyond
    ``max_distance`` are clamped.

    Args:
        data: graph/batch with ``edge_index``, ``virtual_edge_index`` and ``virtual_edge_dist``.
        max_distance: largest distinguished distance.

    Returns:
        ``(buckets [B, Nmax, Nmax] long, batch [N], local index [N])``.
    """
    batch, local = _graph_layout(data)
    num_graphs = int(batch.max()) + 1 if data.num_nodes else 1
    n_max = int(torch.bincount(batch).max()) if data.num_nodes else 0
    buckets = torch.zeros(num_graphs, n_max, n_max, dtype=torch.long, device=batch.device)
    src = torch.cat([data.edge_index[0], data.virtual_edge_index[0]])
    dst = torch.cat([data.edge_index[1], data.virtual_edge_index[1]])
    dist = torch.cat([torch.ones_like(data.edge_index[0]), data.virtual_edge_dist.round().long()])
    dist = dist.clamp(max=max_distance)
    graph = batch[src]
    buckets[graph, local[src], local[dst]] = dist
    buckets[graph, local[dst], local[src]] = max_distance + dist
    diag = torch.arange(n_max, device=batch.device)
    buckets[:, diag, diag] = 2 * max_distance + 1
    return buckets, batch, local


def distance_prior(max_distance: int, heads: int) -> Tensor:
    """``[2 * max_distance + 2, heads]`` initial attention bias per distance bucket (see :func:`distance_buckets`):
    ``-slope_h * d`` for ``d`` steps up- or downstream, ``-slope_h * max_distance`` for unrelated nodes, 0 for the
    node itself, with slopes ``2^(-8 (h + 1) / heads)`` (ALiBi's)."""
    slopes = 2.0 ** (-8.0 * torch.arange(1, heads + 1, dtype=torch.float32) / heads)  # [heads]
    d = torch.arange(1, max_distance + 1, dtype=torch.float32)
    bias = torch.zeros(2 * max_distance + 2, heads)
    bias[0] = -slopes * max_distance
    bias[1:max_distance + 1] = -d[:, None] * slopes
    bias[max_distance + 1:2 * max_distance + 1] = -d[:, None] * slopes
    return bias


class _TransformerLayer(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden={hidden} must be divisible by heads={heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        b, n, hidden = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, hidden // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, n, hidden))
        return x + self.mlp(self.norm2(x))


class GraphTransformer(nn.Module):
    """Pre-norm transformer over the nodes of each graph with a learned per-head bias for every distance bucket.

    Degree and distance-from-input information enters through the node features (``x_feat``); the attention bias
    (see :func:`distance_buckets`) tells upstream from downstream nodes and near from far ones, as in GHN-3.

    The bias starts as a distance prior (ALiBi-like): head ``i`` penalises a node ``d`` steps away by
    ``slope_i * d`` (geometric slopes from ``2^(-8 / heads)`` down to ``2^-8``: local to nearly global heads) and
    unrelated nodes as the farthest. With a zero bias, attention at init is uniform over the graph, every node
    receives the same average, and nodes of one op end up with nearly equal embeddings; with the prior, each node
    starts from its neighbourhood.

    Args:
        hidden: node embedding width.
        layers: number of transformer layers.
        heads: attention heads (``hidden`` must be divisible by it).
        max_distance: distances above it share a bucket.
    """

    def __init__(self, hidden: int, layers: int, heads: int, max_distance: int = 50) -> None:
        super().__init__()
        self.max_distance = max_distance
        self.heads = heads
        self.distance_bias = nn.Embedding(2 * max_distance + 2, heads)
        with torch.no_grad():
            self.distance_bias.weight.copy_(distance_prior(max_distance, heads))
        self.layers = nn.ModuleList(_TransformerLayer(hidden, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)

    def forward(self, h: Tensor, data: Data) -> Tensor:
        """Update node embeddings.

        Args:
            h: ``[num_nodes, hidden]`` initial embeddings.
            data: the graph or batch the nodes belong to.

        Returns:
            ``[num_nodes, hidden]``.
        """
        buckets, batch, _ = distance_buckets(data, self.max_distance)
        x, mask = to_dense_batch(h, batch)
        bias = self.distance_bias(buckets).permute(0, 3, 1, 2)  # [B, heads, N, N]
        bias = bias.masked_fill(~mask[:, None, None, :], float("-inf"))
        for layer in self.layers:
            x = layer(x, bias)
        return self.norm(x[mask])


@register_gnn("transformer")
def graph_transformer(hidden: int, layers: int, heads: int, max_distance: int) -> GraphTransformer:
    """GHN-3's graph transformer: ``layers`` layers of ``heads`` heads, distances bucketed up to ``max_distance``."""
    return GraphTransformer(hidden, layers, heads, max_distance)
