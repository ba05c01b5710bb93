"""The GNN backbones' sums against a direct node-by-node computation."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from hypergen.ghn.gnn.gated import GatedGNN
from hypergen.graph import trace_module
from hypergen.graph.data import batch_graphs, to_data


class _Residual(nn.Module):
    """Two stages with skip connections, so nodes have several data-flow inputs and many virtual edges."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.a = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1))
        self.b = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        x = x + self.a(x)
        x = torch.relu(x + self.b(x))
        return self.head(x.mean((2, 3)))


def _node_by_node(gnn: GatedGNN, h: Tensor, data: Data) -> Tensor:
    """GHN-2's sweep as written: one node at a time in DAG order, each edge's message from its sender's current state.

    A node is updated in a sweep only if it has a data-flow neighbour on the sweep's incoming side; the forward sweep
    skips depth 0 and the backward sweep the deepest level, as the level schedule does.
    """
    depth = data.node_depth.tolist()
    top = max(depth)
    edge_sets = [(data.edge_index, torch.ones(data.edge_index.shape[1], dtype=h.dtype)),
                 (data.virtual_edge_index, 1.0 / data.virtual_edge_dist.clamp(min=1).to(h.dtype))]
    state = list(h.unbind(0))
    for _ in range(gnn.rounds):
        for backward, messages in ((False, gnn.messages[0]), (True, gnn.messages[1])):
            receivers = set((data.edge_index[0] if backward else data.edge_index[1]).tolist())
            order = sorted(range(len(depth)), key=lambda v: -depth[v] if backward else depth[v])
            for v in order:
                if v not in receivers or (depth[v] == top if backward else depth[v] == 0):
                    continue
                incoming = torch.zeros_like(state[v])
                for mlp, (index, weight) in zip(messages, edge_sets):
                    src, dst = (index[1], index[0]) if backward else (index[0], index[1])
                    for e in (dst == v).nonzero().flatten().tolist():
                        incoming = incoming + weight[e] * mlp(state[int(src[e])])
                state[v] = gnn.update(incoming[None], state[v][None])[0]
    return gnn.norm(torch.stack(state))


@pytest.mark.parametrize("rounds", [1, 2])
def test_gated_sweeps_equal_node_by_node_messages(rounds):
    torch.manual_seed(0)
    graphs = [to_data(trace_module(_Residual(), (2, 1, 8, 8))),
              to_data(trace_module(nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2)), (2, 5)))]
    data = batch_graphs(graphs)
    assert data.virtual_edge_index.shape[1] > data.edge_index.shape[1]
    gnn = GatedGNN(8, rounds=rounds).double()
    h = torch.randn(data.num_nodes, 8, dtype=torch.float64, requires_grad=True)
    fast = gnn(h, data)
    fast_grads = torch.autograd.grad((fast * torch.arange(8.0, dtype=fast.dtype)).sum(), [h, *gnn.parameters()])
    slow = _node_by_node(gnn, h, data)
    slow_grads = torch.autograd.grad((slow * torch.arange(8.0, dtype=slow.dtype)).sum(), [h, *gnn.parameters()])
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)
    assert (fast - gnn.norm(h)).abs().max() > 0.1  # the sweeps changed the embeddings
    for got, want in zip(fast_grads, slow_grads):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)
