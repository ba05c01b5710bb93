"""Conversion of a :class:`ComputationGraph` to ``torch_geometric`` data, with shortest-path virtual edges."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path
from torch import Tensor
from torch_geometric.data import Batch, Data

from hypergen.graph.features import MAX_PARAM_DIMS, node_depths, node_features, node_heights, node_shapes
from hypergen.graph.graph import PARAM_KINDS, ComputationGraph
from hypergen.graph.ops import OpRegistry, default_registry

__all__ = ["to_data", "batch_graphs", "shortest_path_edges", "params_of_node", "DEFAULT_VIRTUAL_EDGE_CUTOFF"]

#: GHN-2/3 connect nodes up to this shortest-path distance with virtual edges.
DEFAULT_VIRTUAL_EDGE_CUTOFF = 50

_SOURCE_CHUNK = 1024  # rows of the distance matrix computed at once (bounds memory on huge graphs)


def shortest_path_edges(edge_index: Tensor, num_nodes: int, cutoff: int) -> tuple[Tensor, Tensor]:
    """All directed pairs ``(i, j)`` with ``2 <= dist(i, j) <= cutoff`` along data-flow edges.

    Args:
        edge_index: ``[2, num_edges]`` data-flow edges.
        num_nodes: number of nodes.
        cutoff: maximal shortest-path distance; ``<= 1`` gives no virtual edges.

    Returns:
        ``(virtual_edge_index [2, V], virtual_edge_dist [V])``; distances as float32.
    """
    if cutoff <= 1 or num_nodes == 0 or edge_index.numel() == 0:
        return torch.zeros(2, 0, dtype=torch.long), torch.zeros(0)
    src, dst = edge_index.numpy()
    adj = csr_matrix((np.ones(len(src)), (src, dst)), shape=(num_nodes, num_nodes))
    rows, cols, dists = [], [], []
    for start in range(0, num_nodes, _SOURCE_CHUNK):
        sources = np.arange(start, min(start + _SOURCE_CHUNK, num_nodes))
        dist = shortest_path(adj, method="D", directed=True, unweighted=True, indices=sources)
        r, c = np.nonzero((dist >= 2) & (dist <= cutoff))
        rows.append(sources[r])
        cols.append(c)
        dists.append(dist[r, c])
    index = torch.from_numpy(np.stack([np.concatenate(rows), np.concatenate(cols)])).long()
    return index, torch.from_numpy(np.concatenate(dists)).float()


def to_data(
    graph: ComputationGraph,
    *,
    virtual_edge_cutoff: int = DEFAULT_VIRTUAL_EDGE_CUTOFF,
    registry: OpRegistry | None = None,
) -> Data:
    """Encode a graph as a ``torch_geometric.data.Data``.

    Fields (``N`` nodes, ``E`` edges, ``V`` virtual edges, ``P`` parameters):

    - ``op`` ``[N]`` op-type index in the registry's vocabulary; ``x_feat`` ``[N, F]`` continuous features
      (:data:`~hypergen.graph.features.FEATURE_NAMES`); ``node_shape`` ``[N, 5]`` raw primary parameter shape;
      ``node_depth`` ``[N]`` longest-path distance from the sources (equal depths can be updated in parallel);
      ``node_height`` ``[N]`` longest-path distance to the sinks.
    - ``edge_index`` ``[2, E]`` data-flow edges; ``virtual_edge_index`` ``[2, V]`` and ``virtual_edge_dist`` ``[V]``
      shortest-path pairs with distance 2..cutoff.
    - ``param_node_index`` ``[P]`` node of each parameter, ``param_shape`` ``[P, 5]`` (zero-padded),
      ``param_ndim`` ``[P]``, ``param_kind`` ``[P]`` (index into ``("weight", "bias", "other")``), ``param_slot``
      ``[P]`` position of the parameter among its node's parameters (tells ``in_proj_weight`` from ``out_proj.weight``),
      ``param_tied`` ``[P]`` whether the tensor has other names too (weight tying), ``param_ref`` ``[P, 2]`` mean
      and std of each tensor's default init (NaN where unknown; :mod:`hypergen.graph.reference`).
    - ``param_names`` (list of ``P`` str) and ``node_names`` (list of ``N`` str) map indices back to the model.

    All ``*_index`` fields are shifted by PyG when graphs are batched.
    """
    registry = registry or default_registry()
    edge_index = torch.tensor(graph.edges, dtype=torch.long).t().reshape(2, -1)
    v_index, v_dist = shortest_path_edges(edge_index, graph.num_nodes, virtual_edge_cutoff)
    params = list(graph.params.values())
    param_shape = torch.zeros(len(params), MAX_PARAM_DIMS, dtype=torch.long)
    for row, info in enumerate(params):
        if len(info.shape) > MAX_PARAM_DIMS:
            raise ValueError(
                f"parameter {info.name!r} has {len(info.shape)} dims {info.shape}; at most {MAX_PARAM_DIMS} are "
                "supported by the graph encoding"
            )
        if info.shape:
            param_shape[row, : len(info.shape)] = torch.tensor(info.shape)
    return Data(
        op=torch.tensor([registry.op(node.op).index for node in graph.nodes], dtype=torch.long),
        x_feat=node_features(graph, registry),
        node_shape=node_shapes(graph),
        node_depth=torch.tensor(node_depths(graph), dtype=torch.long),
        node_height=torch.tensor(node_heights(graph), dtype=torch.long),
        edge_index=edge_index,
        virtual_edge_index=v_index,
        virtual_edge_dist=v_dist,
        param_node_index=torch.tensor([p.node for p in params], dtype=torch.long),
        param_shape=param_shape,
        param_ndim=torch.tensor([len(p.shape) for p in params], dtype=torch.long),
        param_kind=torch.tensor([PARAM_KINDS.index(p.kind) for p in params], dtype=torch.long),
        param_slot=torch.tensor([graph.nodes[p.node].params.index(p.name) for p in params], dtype=torch.long),
        param_tied=torch.tensor([bool(p.aliases) for p in params], dtype=torch.bool),
        param_ref=torch.tensor([p.reference or (math.nan, math.nan) for p in params],
                               dtype=torch.float32).reshape(-1, 2),
        param_names=[p.name for p in params],
        node_names=[node.name for node in graph.nodes],
        num_nodes=graph.num_nodes,
    )


def batch_graphs(data: list[Data]) -> Batch:
    """Batch several graphs; node/edge/parameter indices are shifted so they index the batch."""
    return Batch.from_data_list(data)


def params_of_node(data: Data | Batch, node: int) -> list[str]:
    """Qualified names of the parameters attached to node ``node`` (a batch-level index for a ``Batch``).

    For a ``Batch`` the names are prefixed with the graph's position: ``"3:layer1.0.conv1.weight"``.
    """
    rows = (data.param_node_index == node).nonzero().flatten().tolist()
    if not isinstance(data, Batch):
        return [data.param_names[r] for r in rows]
    graph_of_param = data.batch[data.param_node_index]
    first_param = data._slice_dict["param_node_index"]  # offset of each graph's parameters in the batch
    names = []
    for r in rows:
        g = int(graph_of_param[r])
        names.append(f"{g}:{data.param_names[g][r - int(first_param[g])]}")
    return names
