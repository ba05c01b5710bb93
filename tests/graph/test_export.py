import json

from torch import nn

from hypergen.graph import trace_module
from hypergen.graph.export import graph_summary, graph_to_dot, graph_to_json


def test_json_round_trip_has_everything():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    g = trace_module(model, (2, 3, 5, 5))
    data = json.loads(graph_to_json(g))
    assert [n["op"] for n in data["nodes"]] == ["input", "conv2d", "relu", "output"]
    assert data["edges"] == [[0, 1], [1, 2], [2, 3]]
    assert data["params"]["0.weight"] == {"shape": [4, 3, 3, 3], "node": 1, "local_name": "weight",
                                          "aliases": [], "kind": "weight"}
    assert data["coverage"]["fraction"] == 1.0


def test_dot_and_summary():
    g = trace_module(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), (2, 3, 5, 5))
    dot = graph_to_dot(g)
    assert dot.startswith('digraph "Sequential"') and "n0 -> n1;" in dot and "4x3x3x3" in dot
    summary = graph_summary(g)
    assert "nodes: 4   edges: 3   parameters: 112 in 2 tensors" in summary
    assert "2/2 parameter tensors attached (100.00% of scalars)" in summary
