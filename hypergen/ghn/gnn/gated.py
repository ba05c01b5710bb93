"""GHN-2 style gated GNN: a forward and a backward sweep over the DAG, with shortest-path virtual edges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from hypergen.ghn.gnn.registry import register_gnn

__all__ = ["GatedGNN", "LevelSchedule", "gated_gnn"]


@dataclass
class _Level:
    nodes: Tensor  # [n_d] nodes updated at this level
    # [n_d, edge types x num_nodes] sparse: row i sums the messages into nodes[i], column k * num_nodes + j is node j's
    # message along edge type k, weighted (1 for data-flow edges, 1 / distance for virtual edges)
    incoming: Tensor


@dataclass
class LevelSchedule:
    """Nodes grouped by DAG depth with their incoming messages, for one sweep direction.

    GHN-2 updates nodes one by one in topological order; nodes of equal depth never feed each other, so updating a
    whole depth level at once gives the same result with a Python loop over levels, not nodes.
    """

    levels: list[_Level]

    @classmethod
    def build(cls, data: Data, backward: bool, dtype: torch.dtype = torch.float32) -> LevelSchedule:
        """Schedule the sweep.

        Args:
            data: graph/batch with ``node_depth``, ``edge_index``, ``virtual_edge_index``, ``virtual_edge_dist``.
            backward: sweep from the outputs to the inputs along reversed edges.
            dtype: of the edge weights (the node embeddings' dtype).
        """
        depth = data.node_depth
        edge_sets = [
            (data.edge_index, torch.ones(data.edge_index.shape[1], dtype=dtype, device=depth.device)),
            (data.virtual_edge_index, 1.0 / data.virtual_edge_dist.clamp(min=1).to(dtype)),
        ]
        num_levels = int(depth.max())
        # only nodes with a data-flow neighbour in the sweep's direction are updated (sinks keep their state in the
        # backward sweep), so a graph gets the same result alone or in a batch with deeper graphs
        receivers = torch.zeros_like(depth, dtype=torch.bool)
        receivers[data.edge_index[0] if backward else data.edge_index[1]] = True
        # a receiver's level in sweep order: depths 1..max forward, max-1..0 backward (-1: not updated)
        level = torch.where(receivers, num_levels - 1 - depth if backward else depth - 1, -1)
        nodes, sizes = _group(torch.arange(depth.numel(), device=depth.device), level, num_levels)
        position = torch.zeros_like(depth)
        position[nodes] = torch.arange(nodes.numel(), device=depth.device) - torch.repeat_interleave(
            torch.cumsum(sizes, 0) - sizes, sizes)
        node_groups = nodes.split(sizes.tolist())
        # both edge types in one list, type k's senders offset by k * num_nodes (their rows of the message table)
        sources, targets = [], []
        for k, (index, _) in enumerate(edge_sets):
            src, dst = (index[1], index[0]) if backward else (index[0], index[1])
            sources.append(src + k * depth.numel())
            targets.append(dst)
        src, dst = torch.cat(sources), torch.cat(targets)
        weight = torch.cat([weight for _, weight in edge_sets])
        # edges into updated nodes, sorted by level, then type, then original order
        selected, edge_sizes = _group(torch.arange(dst.numel(), device=dst.device), level[dst], num_levels)
        split = edge_sizes.tolist()
        cols = torch.stack([position[dst[selected]], src[selected]]).split(split, 1)
        width = len(edge_sets) * depth.numel()
        levels = [_Level(group, torch.sparse_coo_tensor(index, w, (group.numel(), width), check_invariants=False))
                  for group, index, w in zip(node_groups, cols, weight[selected].split(split))]
        return cls(levels)


class _Gather(torch.autograd.Function):
    """``matrix @ table`` for a constant sparse ``matrix``, saving only the matrix for the backward.

    ``torch.sparse.mm`` would also save the table (for a gradient of the matrix, which is never needed), and a sweep
    writes each level's new messages into that table in place.
    """

    @staticmethod
    def forward(ctx: Any, matrix: Tensor, table: Tensor) -> Tensor:
        ctx.matrix = matrix
        return torch.sparse.mm(matrix, table)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor]:
        return None, torch.sparse.mm(ctx.matrix.t(), grad)


def _group(items: Tensor, key: Tensor, num_groups: int) -> tuple[Tensor, Tensor]:
    """``items`` with a ``key`` in ``[0, num_groups)`` sorted by key (stably: in their order within a key), and the
    number of items per key."""
    keep = key >= 0
    items, key = items[keep], key[keep]
    order = torch.sort(key, stable=True).indices
    return items[order], torch.bincount(key, minlength=num_groups)


class GatedGNN(nn.Module):
    """Gated graph network of GHN-2: messages from already-updated neighbours, GRU updates, level by level.

    Each round is a forward sweep (inputs to outputs along data-flow edges, plus virtual edges weighted by
    ``1 / distance``) and a backward sweep along the reversed edges.

    Args:
        hidden: node embedding width.
        rounds: number of forward+backward rounds.
    """

    def __init__(self, hidden: int, rounds: int = 1) -> None:
        super().__init__()
        self.rounds = rounds

        def mlp() -> nn.Module:
            return nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))

        # [direction][edge type]: forward/backward x data-flow/virtual
        self.messages = nn.ModuleList(nn.ModuleList([mlp(), mlp()]) for _ in range(2))
        self.update = nn.GRUCell(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)

    def _sweep(self, h: Tensor, schedule: LevelSchedule, messages: nn.ModuleList) -> Tensor:
        # A message depends only on its sender's state, and a sweep updates each node once, so each node's messages are
        # computed once per state (all nodes up front, then each level's updated nodes) and summed along the edges by
        # one sparse product per level: the same sums as an MLP over every edge's sender, with tens of times fewer
        # rows (virtual edges outnumber nodes). Both edge types' MLPs run as one batched call on a stacked
        # [types x nodes] table.
        first = torch.cat([mlp[0].weight for mlp in messages])
        first_bias = torch.cat([mlp[0].bias for mlp in messages])
        second = torch.stack([mlp[2].weight.t() for mlp in messages])
        second_bias = torch.stack([mlp[2].bias for mlp in messages])[:, None]
        types, num_nodes, hidden = len(messages), h.shape[0], h.shape[1]

        def send(x: Tensor) -> Tensor:  # [n, hidden] -> [types x n, hidden], type-major
            inner = torch.relu(nn.functional.linear(x, first, first_bias)).view(-1, types, hidden).transpose(0, 1)
            return torch.baddbmm(second_bias, inner, second).reshape(-1, hidden)

        sent = send(h).clone()  # a tensor of its own, not a view: in-place writes into a view copy its base
        updated_nodes, updated = [], []
        for i, level in enumerate(schedule.levels):
            new = self.update(_Gather.apply(level.incoming, sent), h[level.nodes])
            if i + 1 < len(schedule.levels):
                rows = torch.cat([level.nodes + k * num_nodes for k in range(types)])
                # in place: an out-of-place index_copy keeps every level's table alive until the backward
                sent.index_copy_(0, rows, send(new))
            updated_nodes.append(level.nodes)
            updated.append(new)
        if not updated:
            return h
        return h.index_copy(0, torch.cat(updated_nodes), torch.cat(updated))

    def forward(self, h: Tensor, data: Data) -> Tensor:
        """Update node embeddings.

        Args:
            h: ``[num_nodes, hidden]`` initial embeddings.
            data: the graph or batch (needs ``node_depth``).

        Returns:
            ``[num_nodes, hidden]``.
        """
        forward_schedule = LevelSchedule.build(data, backward=False, dtype=h.dtype)
        backward_schedule = LevelSchedule.build(data, backward=True, dtype=h.dtype)
        for _ in range(self.rounds):
            h = self._sweep(h, forward_schedule, self.messages[0])
            h = self._sweep(h, backward_schedule, self.messages[1])
        return self.norm(h)


@register_gnn("gated")
def gated_gnn(hidden: int, layers: int, heads: int, max_distance: int) -> GatedGNN:
    """GHN-2's gated GNN with ``layers`` forward+backward rounds (``heads`` and ``max_distance`` are unused)."""
    return GatedGNN(hidden, rounds=layers)
