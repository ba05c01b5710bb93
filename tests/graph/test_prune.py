"""Post-processing after the last learnable layer is dropped from graphs; plain tails of real architectures stay."""

import torch
from torch import nn

from hypergen.graph import trace_module


class TopScores(nn.Module):
    """A classifier whose forward ends in selection: the top-3 scores above a threshold (post-processing)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 10))

    def forward(self, x):
        scores = self.body(x).softmax(-1)
        top = scores.topk(3, dim=-1).values
        return top[top > 0.05]


def test_selecting_tail_is_dropped_and_the_output_reattached():
    graph = trace_module(TopScores(), (4, 8), device="cpu")
    ops = [n.op for n in graph.nodes]
    assert ops.count("linear") == 2 and "mask" not in ops and "index" not in ops
    last_linear = max(n.index for n in graph.nodes if n.op == "linear")
    output = next(n.index for n in graph.nodes if n.op == "output")
    assert (last_linear, output) in graph.edges  # the output now hangs from the last learnable layer
    assert graph.coverage.fraction == 1.0


def test_plain_tail_stays():
    model = nn.Sequential(nn.Conv2d(3, 10, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())  # SqueezeNet's end
    assert [n.op for n in trace_module(model, (2, 3, 8, 8)).nodes] == [
        "input", "conv2d", "relu", "adaptive_avg_pool", "output"]  # flatten is folded away, as before


def test_detection_graph_keeps_the_network_not_its_post_processing(torchvision_models):
    torch.manual_seed(0)
    model = torchvision_models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).eval()
    images = [torch.rand(3, 320, 320)]
    graph = trace_module(model, (images,), mode="eval")
    counts = graph.op_counts()
    assert graph.coverage.fraction == 1.0
    assert counts["conv2d"] == 98 and counts["output"] == 3  # boxes, scores, labels
    assert counts["index"] == counts["mask"] == counts["unknown_op"] == 0  # 364, 91 and 181 before
    assert graph.num_nodes < 300  # 947 with the post-processing
    heads = {n.index for n in graph.nodes if n.op == "conv2d"}
    assert all(any((src, out.index) in graph.edges for src in heads) for out in graph.nodes if out.op == "output")
    with torch.no_grad():
        assert len(model(images)[0]["boxes"]) > 0  # the model still runs (on hypergen's CPU NMS kernel)
