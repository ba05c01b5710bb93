"""cnn1d: 1-D signals of any channels and length."""

from __future__ import annotations

import torch

from hypergen.archs import ArchSampler, build, reference_spec, trace_spec


def test_mnist1d_reference():
    spec = reference_spec("cnn1d_resnet", (1, 40), 10)
    assert spec["strides"] == [1, 2, 2]
    model = build(spec)
    with torch.no_grad():
        assert model(torch.randn(4, 1, 40)).shape == (4, 10)
    ops = trace_spec(spec)[1].op_counts()
    assert ops["conv1d"] == 1 + 3 * 2 + 2 and ops["add"] == 3  # stem, 2 per block, 2 projection shortcuts


def test_plain_blocks_have_no_shortcut():
    spec = dict(reference_spec("cnn1d_resnet", (1, 40), 10), residual=False, pool="max")
    assert all(block.shortcut is None for stage in build(spec, "meta").stages for block in stage.blocks)
    assert "add" not in trace_spec(spec)[1].op_counts()


def test_short_signals_stop_downsampling():
    for spec in ArchSampler("cnn1d", "deep", (1, 6), 10).take(3):
        assert spec["strides"][:3] == [1, 2, 2] and set(spec["strides"][3:]) <= {1}
