"""mobilenet: inverted residuals, squeeze-excite."""

from __future__ import annotations

import torch

from hypergen.archs import build, reference_spec, trace_spec
from hypergen.archs.mobilenet import InvertedResidual


def test_inverted_residual():
    block = InvertedResidual(16, 16, 1, 6, 5, True, "hardswish", "bn")
    assert block.residual and block.block[1][0].groups == 96 and block.block[1][0].kernel_size == (5, 5)
    assert not InvertedResidual(16, 24, 2, 1, 3, False, "relu6", "bn").residual
    assert block(torch.randn(2, 16, 9, 9)).shape == (2, 16, 9, 9)


def test_squeeze_excite_stages_trace():
    spec = reference_spec("mobilenet_v2", (3, 32, 32), 10)
    spec["se"] = [True] + [False] * 6
    graph = trace_spec(spec)[1]
    assert graph.coverage.complete and graph.op_counts()["hardsigmoid"] == 0 and graph.op_counts()["sigmoid"] == 1
    assert build(spec, "meta").head.fc[0].in_features == 1280
