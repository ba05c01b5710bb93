"""Tracing never changes the model, whether its forward succeeds or fails (hypergen/graph/isolation.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hypergen.compat import ensure_torchvision_importable
from hypergen.graph import TraceError, trace_module


class Mutating(nn.Module):
    """A forward that changes its module in every way a forward can, then fails if told to."""

    def __init__(self, fail: bool) -> None:
        super().__init__()
        self.fail = fail
        self.body = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        self.anchors = [torch.arange(4.0), torch.ones(2)]  # plain tensors in a list (like AnchorGenerator)
        self.scale = torch.full((4,), 2.0)  # a plain tensor attribute
        self.cache: dict[str, torch.Tensor] = {}
        self.calls = 0
        self.weights = [self.body[0].weight]  # a parameter in a plain list: left as it is, never copied

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.anchors = [a.to(x.device) for a in self.anchors]  # reassigned on the tracing device
        self.scale.mul_(3)  # in-place write into a plain tensor attribute
        self.cache["last"] = x
        self.calls += 1
        self.register_buffer("seen", torch.ones(1, device=x.device))
        self.body[1].train(not self.body[1].training)
        self.body.register_forward_hook(lambda *args: None)
        self.extra = nn.Linear(1, 1)
        y = self.body(x) * self.scale.to(x.device)
        if self.fail:
            raise RuntimeError("boom after mutating everything")
        return y


def _observable_state(model: nn.Module) -> dict:
    return {
        "state_dict": {k: (v.device, v.clone()) for k, v in model.state_dict().items()},
        "attributes": {name: sorted(vars(m)) for name, m in model.named_modules()},
        "modules": [name for name, _ in model.named_modules()],
        "training": {name: m.training for name, m in model.named_modules()},
        "hooks": {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in model.named_modules()},
        "tensors": {name: (t.device, t.clone()) for name, t in _plain_tensors(model)},
        "cache": dict(getattr(model, "cache", {})),
        "calls": getattr(model, "calls", None),
    }


def _plain_tensors(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    out = []
    for mname, module in model.named_modules():
        for key, value in vars(module).items():
            values = value if isinstance(value, (list, tuple)) else [value]
            out += [(f"{mname}.{key}.{i}", v) for i, v in enumerate(values) if isinstance(v, torch.Tensor)]
    return out


def _assert_same(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key in ("attributes", "modules", "training", "hooks", "cache", "calls"):
        assert before[key] == after[key], key
    for key in ("state_dict", "tensors"):
        assert before[key].keys() == after[key].keys(), key
        for name, (device, value) in before[key].items():
            assert after[key][name][0] == device and torch.equal(after[key][name][1], value), name


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("fail", [True, False])
def test_model_is_identical_after_a_failing_or_succeeding_trace(fail, device):
    model = Mutating(fail).eval()
    model.body[0].register_forward_pre_hook(lambda *args: None)  # the user's own hook stays, and only it
    before = _observable_state(model)
    anchors, scale = model.anchors, model.scale
    if fail:
        with pytest.raises(TraceError, match="boom after mutating everything"):
            trace_module(model, (2, 4), device=device)
    else:
        graph = trace_module(model, (2, 4), device=device)
        assert graph.coverage.complete
    _assert_same(before, _observable_state(model))
    assert model.anchors is anchors and model.scale is scale  # the very objects, not copies
    assert model.scale.tolist() == [2.0] * 4 and not hasattr(model, "extra") and "seen" not in model._buffers
    assert model.weights[0] is model.body[0].weight


def test_real_forward_still_works_after_a_failed_meta_trace():
    model = Mutating(fail=True)
    with pytest.raises(TraceError):
        trace_module(model, (2, 4), device="meta")
    model.fail = False
    assert model(torch.randn(2, 4)).device.type == "cpu"  # before: anchors moved to meta, no data to copy


def test_torchvision_detection_model_keeps_its_anchors_after_failed_traces():
    if not ensure_torchvision_importable():
        pytest.skip("torchvision is not installed")
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None)
    images = [torch.rand(3, 320, 320), torch.rand(3, 320, 320)]
    before = _observable_state(model)
    anchors = model.rpn.anchor_generator.cell_anchors
    for mode in ("train", "eval"):  # train: targets are missing; eval: nonzero on meta, then NMS...
        with pytest.raises(TraceError):
            trace_module(model, (images,), device="meta", mode=mode)
    _assert_same(before, _observable_state(model))
    assert model.rpn.anchor_generator.cell_anchors is anchors
    assert all(a.device.type == "cpu" for a in anchors)  # before: moved to meta, the model was broken
    model.eval()
    with torch.no_grad():
        features = model.backbone(model.transform(images)[0].tensors)
        assert len(model.rpn.anchor_generator(model.transform(images)[0], list(features.values()))) == 2


def test_tracing_on_cpu_leaves_the_global_random_stream_as_it_was():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))  # dropout draws random numbers in train mode
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    trace_module(model, (2, 4), device="cpu")  # the input is drawn at random too
    assert torch.equal(torch.rand(3), expected)
