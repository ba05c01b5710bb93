"""GHN-2 style gated GNN: a forward and a backward sweep over the DAG, with shortest-path virtual edges."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from hypergen.ghn.gnn.registry import register_gnn

__all__ = ["GatedGNN", "LevelSchedule", "gated_gnn"]


@dataclass
class _Level:
    nodes: Tensor  # [n_d] nodes updated at this level
    edges: list[tuple[Tensor, Tensor, Tensor]]  # per edge type: (source nodes, position of target in `nodes`, weight)


@dataclass
class LevelSchedule:
    """Nodes grouped by DAG depth with their incoming messages, for one sweep direction.

    GHN-2 updates nodes one by one in topological order; nodes of equal depth never feed each other, so updating a
    whole depth level at once gives the same result with a Python loop over levels, not nodes.
    """

    levels: list[_Level]

    @classmethod
    def build(cls, data: Data, backward: bool) -> LevelSchedule:
        """Schedule the sweep.

        Args:
            data: graph/batch with ``node_depth``, ``edge_index``, ``virtual_edge_index``, ``virtual_edge_dist``.
            backward: sweep from the outputs to the inputs along reversed edges.
        """
        depth = data.node_depth
        edge_sets = [
            (data.edge_index, torch.ones(data.edge_index.shape[1], device=depth.device)),
            (data.virtual_edge_index, 1.0 / data.virtual_edge_dist.clamp(min=1)),
        ]
        order = range(int(depth.max()) - 1, -1, -1) if backward else range(1, int(depth.max()) + 1)
        # only nodes with a data-flow neighbour in the sweep's direction are updated (sinks keep their state in the
        # backward sweep), so a graph gets the same result alone or in a batch with deeper graphs
        receivers = torch.zeros_like(depth, dtype=torch.bool)
        receivers[data.edge_index[0] if backward else data.edge_index[1]] = True
        position = torch.zeros_like(depth)
        node_groups = {}
        for d in order:
            nodes = ((depth == d) & receivers).nonzero().flatten()
            position[nodes] = torch.arange(nodes.numel(), device=depth.device)
            node_groups[d] = nodes
        levels = []
        for d in order:
            edges = []
            for index, weight in edge_sets:
                src, dst = (index[1], index[0]) if backward else (index[0], index[1])
                selected = ((depth[dst] == d) & receivers[dst]).nonzero().flatten()
                edges.append((src[selected], position[dst[selected]], weight[selected]))
            levels.append(_Level(node_groups[d], edges))
        return cls(levels)


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
        for level in schedule.levels:
            incoming = h.new_zeros(level.nodes.numel(), h.shape[1])
            for mlp, (src, target, weight) in zip(messages, level.edges):
                if src.numel():
                    incoming = incoming.index_add(0, target, mlp(h[src]) * weight[:, None])
            h = h.index_copy(0, level.nodes, self.update(incoming, h[level.nodes]))
        return h

    def forward(self, h: Tensor, data: Data) -> Tensor:
        """Update node embeddings.

        Args:
            h: ``[num_nodes, hidden]`` initial embeddings.
            data: the graph or batch (needs ``node_depth``).

        Returns:
            ``[num_nodes, hidden]``.
        """
        forward_schedule = LevelSchedule.build(data, backward=False)
        backward_schedule = LevelSchedule.build(data, backward=True)
        for _ in range(self.rounds):
            h = self._sweep(h, forward_schedule, self.messages[0])
            h = self._sweep(h, backward_schedule, self.messages[1])
        return self.norm(h)


@register_gnn("gated")
def gated_gnn(hidden: int, layers: int, heads: int, max_distance: int) -> GatedGNN:
    """GHN-2's gated GNN with ``layers`` forward+backward rounds (``heads`` and ``max_distance`` are unused)."""
    return GatedGNN(hidden, rounds=layers)
