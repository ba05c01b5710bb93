import pytest
import torch
from torch import nn

from hypergen.graph import trace_module
from hypergen.graph.data import batch_graphs, params_of_node, shortest_path_edges, to_data
from hypergen.graph.features import FEATURE_NAMES
from hypergen.graph.ops import default_registry


def _chain(n: int):
    return nn.Sequential(*[nn.Linear(4, 4) for _ in range(n)])


def test_virtual_edges_are_shortest_paths_up_to_cutoff():
    # chain 0 -> 1 -> ... -> 5 plus a skip 0 -> 3
    edges = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 5, 3]])
    index, dist = shortest_path_edges(edges, 6, cutoff=3)
    pairs = {(int(s), int(d)): float(x) for (s, d), x in zip(index.t().tolist(), dist)}
    assert pairs == {(0, 2): 2, (0, 4): 2, (0, 5): 3, (1, 3): 2, (1, 4): 3, (2, 4): 2, (2, 5): 3, (3, 5): 2}
    assert shortest_path_edges(edges, 6, cutoff=1)[0].shape == (2, 0)


def test_to_data_fields():
    g = trace_module(_chain(3), (2, 4))
    d = to_data(g, virtual_edge_cutoff=50)
    reg = default_registry()
    assert d.num_nodes == 5 and d.edge_index.tolist() == [[0, 1, 2, 3], [1, 2, 3, 4]]
    assert d.op.tolist() == [reg.op(o).index for o in ("input", "linear", "linear", "linear", "output")]
    assert d.x_feat.shape == (5, len(FEATURE_NAMES)) and torch.isfinite(d.x_feat).all()
    assert d.node_shape[1].tolist() == [4, 4, 0, 0, 0]
    assert d.param_node_index.tolist() == [1, 1, 2, 2, 3, 3]
    assert d.param_shape[:2].tolist() == [[4, 4, 0, 0, 0], [4, 0, 0, 0, 0]]
    assert d.param_kind.tolist() == [0, 1] * 3 and d.param_ndim.tolist() == [2, 1] * 3
    assert d.virtual_edge_index.shape[1] == 6  # pairs at distance 2..4 in a 5-node chain
    assert d.virtual_edge_dist.max() == 4
    assert d.node_depth.tolist() == [0, 1, 2, 3, 4] and d.node_height.tolist() == [4, 3, 2, 1, 0]
    depth = d.x_feat[:, FEATURE_NAMES.index("rel_depth")]
    assert depth.tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    before = d.x_feat[:, FEATURE_NAMES.index("before_nonlinearity")]
    assert before.sum() == 0


def test_batching_shifts_indices_and_maps_back_to_names():
    d1, d2 = to_data(trace_module(_chain(2), (2, 4))), to_data(trace_module(_chain(3), (2, 4)))
    b = batch_graphs([d1, d2])
    assert b.num_graphs == 2 and b.num_nodes == d1.num_nodes + d2.num_nodes
    assert b.param_node_index.tolist() == [1, 1, 2, 2] + [d1.num_nodes + i for i in (1, 1, 2, 2, 3, 3)]
    assert b.edge_index.max() == b.num_nodes - 1
    assert b.virtual_edge_index.min() >= 0 and b.virtual_edge_index[:, -1].min() >= d1.num_nodes
    assert params_of_node(b, d1.num_nodes + 3) == ["1:2.weight", "1:2.bias"]
    assert params_of_node(d2, 3) == ["2.weight", "2.bias"]


def test_depthwise_and_nonlinearity_features():
    model = nn.Sequential(nn.Conv2d(8, 8, 3, groups=8, stride=2), nn.ReLU(), nn.Conv2d(8, 4, 1))
    d = to_data(trace_module(model, (2, 8, 16, 16)))
    col = FEATURE_NAMES.index
    assert d.x_feat[1, col("depthwise")] == 1 and d.x_feat[3, col("depthwise")] == 0
    assert d.x_feat[1, col("before_nonlinearity")] == 1 and d.x_feat[3, col("before_nonlinearity")] == 0
    assert d.x_feat[1, col("log_stride")] == pytest.approx(1.585, abs=1e-3)  # log2(1 + 2)
