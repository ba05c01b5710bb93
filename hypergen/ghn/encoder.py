"""Node encoder: op-type embedding + continuous shape encoding -> initial node embeddings."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from hypergen.ghn.encodings import log_size_encoding
from hypergen.graph.features import FEATURE_NAMES, MAX_PARAM_DIMS

__all__ = ["NodeEncoder"]

_SHAPE_FREQS = 6


class NodeEncoder(nn.Module):
    """``h0 = embed(op) + MLP([sinusoidal(log2 node_shape), x_feat])``.

    The shape part sees every dimension of the node's main parameter through a continuous encoding (no size
    vocabulary) together with the graph features (fan-in/out, degrees, depth, stride...; see
    :data:`~hypergen.graph.features.FEATURE_NAMES`).

    Args:
        num_ops: size of the op vocabulary.
        hidden: embedding width.
    """

    def __init__(self, num_ops: int, hidden: int) -> None:
        super().__init__()
        self.num_ops = num_ops
        self.op_embedding = nn.Embedding(num_ops, hidden)
        in_dim = MAX_PARAM_DIMS * 2 * _SHAPE_FREQS + len(FEATURE_NAMES)
        self.shape_mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        nn.init.normal_(self.op_embedding.weight, std=0.5)

    def forward(self, data: Data) -> Tensor:
        """Embed every node.

        Args:
            data: a graph or batch from :func:`~hypergen.graph.data.to_data` (fields ``op``, ``node_shape``,
                ``x_feat``).

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
        return self.op_embedding(op) + self.shape_mlp(features)
