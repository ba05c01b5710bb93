"""Node encoder: op-type embedding + continuous shape encoding -> initial node embeddings."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from hypergen.ghn.encodings import log_size_encoding
from hypergen.graph.features import FEATURE_NAMES, MAX_PARAM_DIMS

__all__ = ["NodeEncoder", "position_encoding"]

_SHAPE_FREQS = 6
_POSITION_FREQS = 8  # periods of 2 to 256 nodes


def position_encoding(position: Tensor, num_freqs: int = _POSITION_FREQS) -> Tensor:
    """Sinusoidal encoding of integer positions along the graph (depth from the inputs, height above the outputs).

    Args:
        position: ``[N]`` non-negative integers.
        num_freqs: frequencies; periods are ``2, 4, ..., 2 ** num_freqs``.

    Returns:
        ``[N, 2 * num_freqs]`` float32.
    """
    freqs = math.pi * 2.0 ** -torch.arange(num_freqs, dtype=torch.float32, device=position.device)
    angles = position.float()[:, None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class NodeEncoder(nn.Module):
    """``h0 = embed(op) + MLP([sinusoidal(log2 node_shape), x_feat]) + P([sinusoidal(depth), sinusoidal(height)])``.

    The shape part sees every dimension of the node's main parameter through a continuous encoding (no size
    vocabulary) together with the graph features (fan-in/out, degrees, depth, stride...; see
    :data:`~hypergen.graph.features.FEATURE_NAMES`).

    The position term (``positional=True``) tells apart nodes of one op and shape at different places: without it,
    the convolutions of a cell network differ only by a few scalar features and a graph transformer, whose attention
    is nearly uniform at init, gives them almost the same embedding (the predictions collapse to one tensor per
    shape). ``P`` is a fixed-scale linear map, so positions weigh as much as the op type from the first step.

    Args:
        num_ops: size of the op vocabulary.
        hidden: embedding width.
        positional: add the depth/height encoding.
    """

    def __init__(self, num_ops: int, hidden: int, positional: bool = True) -> None:
        super().__init__()
        self.num_ops = num_ops
        self.op_embedding = nn.Embedding(num_ops, hidden)
        in_dim = MAX_PARAM_DIMS * 2 * _SHAPE_FREQS + len(FEATURE_NAMES)
        self.shape_mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        nn.init.normal_(self.op_embedding.weight, std=0.5)
        self.position_proj = nn.Linear(4 * _POSITION_FREQS, hidden, bias=False) if positional else None
        if self.position_proj is not None:  # unit-RMS codes -> entries of std ~0.5, like the op embedding
            nn.init.normal_(self.position_proj.weight, std=0.5 / math.sqrt(2 * _POSITION_FREQS))

    def forward(self, data: Data) -> Tensor:
        """Embed every node.

        Args:
            data: a graph or batch from :func:`~hypergen.graph.data.to_data` (fields ``op``, ``node_shape``,
                ``x_feat``, and ``node_depth``, ``node_height`` for the position term).

        Returns:
            ``[num_nodes, hidden]``.

        Raises:
            ValueError: if an op index is outside the vocabulary this encoder was built for.
        """
        op = data.op
        if op.numel() and int(op.max()) >= self.num_ops:
            raise ValueError(
                f"graph uses op index {int(op.max())} but this GHN knows {self.num_ops} op types; the graph was "
                "encoded with a newer op registry than the checkpoint (retrain or map new ops to 'unknown_op')"
            )
        shape_code = log_size_encoding(data.node_shape, _SHAPE_FREQS)
        features = torch.cat([shape_code, data.x_feat.float()], dim=-1)
        h = self.op_embedding(op) + self.shape_mlp(features)
        if self.position_proj is not None:
            if "node_height" not in data:
                raise ValueError("graph data has no node_height (encoded by an older hypergen); re-encode it with "
                                 "hypergen.to_data")
            code = torch.cat([position_encoding(data.node_depth), position_encoding(data.node_height)], dim=-1)
            h = h + self.position_proj(code)
        return h
