"""Node features of a computation graph: continuous, so that unseen sizes are never snapped to a vocabulary.

Raw integer shapes are kept too (``node_shape``) so that the GHN's shape encoder can build its own encodings.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hypergen.graph.graph import ComputationGraph
from hypergen.graph.ops import IN_OUT_WEIGHT_OPS, OpRegistry

__all__ = [
    "FEATURE_NAMES", "MAX_PARAM_DIMS", "node_depths", "node_features", "node_heights", "node_shapes",
    "primary_param_shape",
]

#: Parameter shapes are padded/truncated to this many dims: (out, in, k1, k2, k3) covers conv3d.
MAX_PARAM_DIMS = 5

#: Columns of ``x_feat``: log2 sizes, counts and flags, all within [0, ~40] for models up to billions of parameters.
FEATURE_NAMES: tuple[str, ...] = (
    *(f"log_dim{i}" for i in range(MAX_PARAM_DIMS)),  # log2(1 + d) of the primary parameter's dims
    "log_fan_in", "log_fan_out", "log_numel",  # of the primary parameter / all parameters of the node
    "has_bias", "num_params",
    "log_out_numel", "out_ndim",  # output tensor (per sample)
    "log_in_degree", "log_out_degree",
    "depth", "rel_depth",  # longest path from the inputs; depth / max depth
    "before_nonlinearity",  # some successor is an activation
    "depthwise", "log_stride", "log_dilation",
)


def primary_param_shape(graph: ComputationGraph, index: int) -> tuple[int, ...]:
    """Shape of the node's main parameter: its largest weight-kind parameter (the first of equals), else its first
    parameter, else ``()``. Largest: a weight-normed layer's direction ``v``, not its magnitude ``g``
    (``[out, 1, ...]``, stored first), gives the fan-in its bias is scaled by."""
    params = graph.node_params(index)
    weights = [p for p in params if p.kind == "weight"]
    chosen = max(weights, key=lambda p: p.numel) if weights else (params[0] if params else None)
    return chosen.shape if chosen is not None else ()


def node_shapes(graph: ComputationGraph) -> Tensor:
    """Primary parameter shapes, zero-padded: ``[num_nodes, MAX_PARAM_DIMS]`` (int64)."""
    out = torch.zeros(graph.num_nodes, MAX_PARAM_DIMS, dtype=torch.long)
    for i in range(graph.num_nodes):
        shape = primary_param_shape(graph, i)[:MAX_PARAM_DIMS]
        if shape:
            out[i, : len(shape)] = torch.tensor(shape)
    return out


def node_depths(graph: ComputationGraph) -> list[int]:
    """Longest-path distance of every node from the graph's sources (inputs and free parameters have depth 0)."""
    depth = [0] * graph.num_nodes
    for src, dst in graph.edges:  # edges are sorted by src and src < dst: one pass is a topological sweep
        depth[dst] = max(depth[dst], depth[src] + 1)
    return depth


def node_heights(graph: ComputationGraph) -> list[int]:
    """Longest-path distance of every node to the graph's sinks (outputs have height 0): how far from the output."""
    height = [0] * graph.num_nodes
    for src, dst in reversed(graph.edges):  # reversed topological order: every successor is final first
        height[src] = max(height[src], height[dst] + 1)
    return height


def _as_int(value: object) -> int:
    if isinstance(value, tuple):
        return max(value) if value else 1
    return int(value) if isinstance(value, (int, float)) else 1


def node_features(graph: ComputationGraph, registry: OpRegistry) -> Tensor:
    """Continuous features of every node, ``[num_nodes, len(FEATURE_NAMES)]`` (float32).

    Args:
        graph: a traced graph.
        registry: the op registry used for tracing (to recognise activations).
    """
    n = graph.num_nodes
    in_deg, out_deg = [0] * n, [0] * n
    successors: list[list[int]] = [[] for _ in range(n)]
    for src, dst in graph.edges:
        out_deg[src] += 1
        in_deg[dst] += 1
        successors[src].append(dst)
    depth = node_depths(graph)
    max_depth = max(depth, default=0) or 1
    is_act = [registry.op(node.op).category == "activation" for node in graph.nodes]
    feats = torch.zeros(n, len(FEATURE_NAMES))
    log2 = lambda x: math.log2(1 + x)  # noqa: E731
    for i, node in enumerate(graph.nodes):
        shape = primary_param_shape(graph, i)
        params = graph.node_params(i)
        dims = [log2(d) for d in shape[:MAX_PARAM_DIMS]] + [0.0] * (MAX_PARAM_DIMS - min(len(shape), MAX_PARAM_DIMS))
        receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
        fan_in = shape[1] * receptive if len(shape) > 1 else (shape[0] if shape else 0)
        fan_out = shape[0] * receptive if shape else 0
        if node.op in IN_OUT_WEIGHT_OPS and len(shape) > 1:
            fan_in, fan_out = fan_out, fan_in
        out_numel = math.prod(node.out_shape[1:]) if len(node.out_shape) > 1 else math.prod(node.out_shape)
        groups, in_ch = _as_int(node.attrs.get("groups", 1)), _as_int(node.attrs.get("in_channels", 0))
        feats[i] = torch.tensor([
            *dims, log2(fan_in), log2(fan_out), log2(sum(p.numel for p in params)),
            float(any(p.kind == "bias" for p in params)), float(len(params)),
            log2(out_numel), float(len(node.out_shape)),
            log2(in_deg[i]), log2(out_deg[i]),
            log2(depth[i]), depth[i] / max_depth,
            float(any(is_act[j] for j in successors[i])),
            float(groups > 1 and groups == in_ch), log2(_as_int(node.attrs.get("stride", 1))),
            log2(_as_int(node.attrs.get("dilation", 1))),
        ])
    return feats
