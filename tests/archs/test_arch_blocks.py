"""Shared blocks: dense connectivity, same-padding convs, heads, squeeze-excite."""

from __future__ import annotations

import torch
from torch import nn

from hypergen.archs.blocks import (
    BasicBlock, BottleneckBlock, ClassifierHead, ConvNormAct, DenseSequence, SqueezeExcite, conv_layer,
)


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def test_dense_sequence_feeds_each_block_the_mean_of_all_earlier_outputs():
    x = torch.ones(1)
    plain = DenseSequence([Scale(2.0), Scale(3.0), Scale(5.0)])
    dense = DenseSequence([Scale(2.0), Scale(3.0), Scale(5.0)], dense=True)
    assert plain(x).item() == 30.0
    # h0 = 2, h1 = 3 * 2 = 6, h2 = 5 * mean(2, 6) = 20
    assert dense(x).item() == 20.0


def test_same_padding_and_strides():
    x = torch.randn(2, 4, 7, 9)
    for kernel, dilation in [(1, 1), (3, 1), (5, 1), (3, 2), (5, 2)]:
        conv = conv_layer(2, 4, 6, kernel, stride=2, dilation=dilation)
        assert conv(x).shape == (2, 6, 4, 5)
    assert conv_layer(1, 3, 5, 7)(torch.randn(2, 3, 40)).shape == (2, 5, 40)


def test_conv_has_a_bias_only_without_norm():
    assert ConvNormAct(3, 8, norm="bn")[0].bias is None
    with_bias = ConvNormAct(3, 8, norm="none", act=None)
    assert with_bias[0].bias is not None and len(with_bias) == 2 and isinstance(with_bias[1], nn.Identity)


def test_residual_blocks_and_heads():
    x = torch.randn(2, 8, 9, 9)
    assert BasicBlock(8, 16, 3, 2)(x).shape == (2, 16, 5, 5)
    assert BasicBlock(8, 8, residual=False).shortcut is None
    assert BottleneckBlock(8, 32, 3, 1, expansion=4).conv[0].weight.shape == (8, 8, 3, 3)
    assert SqueezeExcite(8, 2)(x).shape == x.shape
    head = ClassifierHead(8, 5, hidden=16)
    assert head(x).shape == (2, 5) and len(head.fc) == 3
    assert ClassifierHead(3, 4, dims=1, pool="max")(torch.randn(2, 3, 11)).shape == (2, 4)
