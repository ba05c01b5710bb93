"""``deepnets``: DARTS-style cell networks in the spirit of DeepNets-1M (Knyazev et al., 2021).

A net is a stem, ``num_cells`` cells (those in ``reduction_cells`` halve the resolution and multiply the channels by
``channel_multiplier``) and a classifier of one or two linear layers. Every normal cell shares one genotype and
every reduction cell another. A genotype cell is a list of nodes; node ``i`` sums ops applied to earlier states
(``0``: the cell before the previous one, ``1``: the previous cell, ``j + 2``: node ``j``); the cell outputs the
channel concatenation of the states in its ``*_concat`` list.

Spec fields::

    channels            int    channels of the first cells (C)                      base 8..32, wide 48..96
    num_cells           int    number of cells                                      base 4..18, deep 19..36
    reduction_cells     [int]  indices of the reduction cells (1..3 of them, evenly spaced)
    channel_multiplier  int    channel factor at each reduction cell                1 or 2
    stem_multiplier     int    stem channels = stem_multiplier * channels           1..3
    stem_layers         int    3x3 conv-norm layers of the stem                     1 or 2
    stem_stride         int    stride of the stem's first conv (2 only for inputs >= 32 px)
    norm                str    "bn" or "none" (no_norm split)
    fc_hidden           int    hidden width of a second classifier layer, 0 for a single linear layer
    genotype            dict   {"normal": cell, "normal_concat": [int], "reduce": cell, "reduce_concat": [int]},
                               cell = [[[op, input], ...] per node]; nodes base 2..5, dense 6..9
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hypergen.archs.blocks import ClassifierHead, ConvNormAct, SqueezeExcite, conv_layer, conv_norm, pool_layer
from hypergen.archs.draw import draw_choice, draw_int
from hypergen.archs.registry import ArchFamily, register_family
from hypergen.archs.splits import Split
from hypergen.archs.validation import (
    InvalidSpecError, check_choice, check_int, check_int_list, check_keys,
)

__all__ = ["CELL_OPS", "DeepNet", "DeepNetsFamily", "DARTS_V2"]

Cell = list[list[list[Any]]]  # nodes -> edges -> [op name, input state]


def _relu_conv_norm(c_in: int, c_out: int, kernel: int, stride: int, norm: str) -> nn.Module:
    return nn.Sequential(nn.ReLU(), conv_layer(2, c_in, c_out, kernel, stride, bias=norm == "none"),
                         conv_norm(norm, c_out))


def _dil_conv(c: int, kernel: int, stride: int, norm: str) -> nn.Module:
    """ReLU -> depthwise dilated conv -> pointwise conv -> norm."""
    return nn.Sequential(nn.ReLU(), conv_layer(2, c, c, kernel, stride, groups=c, dilation=2),
                         conv_layer(2, c, c, 1, bias=norm == "none"), conv_norm(norm, c))


def _sep_conv(c: int, kernel: int, stride: int, norm: str) -> nn.Module:
    """Two (ReLU -> depthwise conv -> pointwise conv -> norm) blocks, the first strided (as in DARTS)."""
    def half(s: int) -> list[nn.Module]:
        return [nn.ReLU(), conv_layer(2, c, c, kernel, s, groups=c), conv_layer(2, c, c, 1, bias=norm == "none"),
                conv_norm(norm, c)]
    return nn.Sequential(*half(stride), *half(1))


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two strided 1x1 convs on the input and on it shifted by one.

    Args:
        c_in, c_out: channels (``c_out >= 2``). norm: norm after the concatenation.
    """

    def __init__(self, c_in: int, c_out: int, norm: str) -> None:
        super().__init__()
        self.act = nn.ReLU()
        self.conv1 = conv_layer(2, c_in, c_out // 2, 1, 2, bias=norm == "none")
        self.conv2 = conv_layer(2, c_in, c_out - c_out // 2, 1, 2, bias=norm == "none")
        self.norm = conv_norm(norm, c_out)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, c_in, H, W]`` -> ``[B, c_out, ceil(H/2), ceil(W/2)]`` (odd sizes too: the shift pads by one)."""
        x = self.act(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.norm(torch.cat([self.conv1(x), self.conv2(shifted)], dim=1))


class SpatialSelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map (the DeepNets-1M ``msa`` op).

    Args:
        channels: ``C``; heads: the largest of 4, 2, 1 dividing ``C`` with at least 4 channels per head.
        stride: 2 average-pools the input first (reduction cells).
    """

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        heads = next((h for h in (4, 2) if channels % h == 0 and channels // h >= 4), 1)
        self.pool = pool_layer("avg", 2, 3, stride) if stride > 1 else nn.Identity()
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, C, H / stride, W / stride]``."""
        x = self.pool(x)
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        out = self.attn(tokens, tokens, tokens, need_weights=False)[0]
        return out.transpose(1, 2).reshape(b, c, h, w)


def _channel_se(c: int, stride: int) -> nn.Module:
    """The DeepNets-1M ``cse`` op: (pool if strided) -> squeeze-excitation."""
    se = SqueezeExcite(c, max(1, c // 4))
    return nn.Sequential(pool_layer("avg", 2, 3, stride), se) if stride > 1 else se


def _skip(c: int, stride: int, norm: str) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c, norm)


#: Cell op name -> factory ``(channels, stride, norm) -> module`` (channels are kept, the stride is 1 or 2).
CELL_OPS: dict[str, Callable[[int, int, str], nn.Module]] = {
    "conv_1x1": lambda c, s, norm: _relu_conv_norm(c, c, 1, s, norm),
    "conv_3x3": lambda c, s, norm: _relu_conv_norm(c, c, 3, s, norm),
    "conv_5x5": lambda c, s, norm: _relu_conv_norm(c, c, 5, s, norm),
    "sep_conv_3x3": lambda c, s, norm: _sep_conv(c, 3, s, norm),
    "sep_conv_5x5": lambda c, s, norm: _sep_conv(c, 5, s, norm),
    "dil_conv_3x3": lambda c, s, norm: _dil_conv(c, 3, s, norm),
    "dil_conv_5x5": lambda c, s, norm: _dil_conv(c, 5, s, norm),
    "max_pool_3x3": lambda c, s, norm: pool_layer("max", 2, 3, s),
    "avg_pool_3x3": lambda c, s, norm: pool_layer("avg", 2, 3, s),
    "skip_connect": _skip,
    "msa": lambda c, s, norm: SpatialSelfAttention(c, s),
    "cse": lambda c, s, norm: _channel_se(c, s),
}


class DeepNetCell(nn.Module):
    """One DARTS cell.

    Args:
        nodes: the genotype cell (``[[op, input], ...]`` per node). concat: states concatenated as output.
        c_pp, c_p: channels of the two input states. channels: channels inside the cell.
        reduction: ops reading the cell inputs have stride 2. reduction_prev: ``s0`` has twice the resolution
            of ``s1``. norm: norm kind.
    """

    def __init__(self, nodes: Cell, concat: list[int], c_pp: int, c_p: int, channels: int, reduction: bool,
                 reduction_prev: bool, norm: str) -> None:
        super().__init__()
        reads_s0 = any(inp == 0 for node in nodes for _, inp in node)
        self.pre0 = None
        if reads_s0:  # built only when used, so every parameter is exercised by the forward
            self.pre0 = FactorizedReduce(c_pp, channels, norm) if reduction_prev \
                else _relu_conv_norm(c_pp, channels, 1, 1, norm)
        self.pre1 = _relu_conv_norm(c_p, channels, 1, 1, norm)
        self.ops = nn.ModuleList(
            nn.ModuleList(CELL_OPS[op](channels, 2 if reduction and inp < 2 else 1, norm) for op, inp in node)
            for node in nodes
        )
        self.inputs = [[inp for _, inp in node] for node in nodes]
        self.concat = list(concat)

    def forward(self, s0: Tensor, s1: Tensor) -> Tensor:
        """``s0`` ``[B, c_pp, ...]``, ``s1`` ``[B, c_p, H, W]`` -> ``[B, len(concat) * channels, H', W']``."""
        states = [self.pre0(s0) if self.pre0 is not None else s0, self.pre1(s1)]
        for ops, inputs in zip(self.ops, self.inputs):
            outs = [op(states[i]) for op, i in zip(ops, inputs)]
            states.append(sum(outs[1:], outs[0]))
        picked = [states[i] for i in self.concat]
        return torch.cat(picked, dim=1) if len(picked) > 1 else picked[0]


class DeepNet(nn.Module):
    """A DARTS-style network from a ``deepnets`` spec (see the module docstring for the fields)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        c, norm, geno = spec["channels"], spec["norm"], spec["genotype"]
        c_stem = spec["stem_multiplier"] * c
        stem = [ConvNormAct(spec["input_shape"][0], c_stem, 3, spec["stem_stride"], norm=norm, act=None)]
        if spec["stem_layers"] == 2:
            stem += [nn.ReLU(), ConvNormAct(c_stem, c_stem, 3, norm=norm, act=None)]
        self.stem = nn.Sequential(*stem)
        c_pp, c_p, reduction_prev = c_stem, c_stem, False
        cells = []
        for i in range(spec["num_cells"]):
            reduction = i in spec["reduction_cells"]
            if reduction:
                c *= spec["channel_multiplier"]
            kind = "reduce" if reduction else "normal"
            cells.append(DeepNetCell(geno[kind], geno[f"{kind}_concat"], c_pp, c_p, c, reduction, reduction_prev,
                                     norm))
            c_pp, c_p, reduction_prev = c_p, len(geno[f"{kind}_concat"]) * c, reduction
        self.cells = nn.ModuleList(cells)
        self.head = ClassifierHead(c_p, spec["num_classes"], hidden=spec["fc_hidden"])

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, num_classes]``."""
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.head(s1)


#: The DARTS (second order) genotype of Liu et al. (2019), a reference net of this family.
DARTS_V2: dict[str, Any] = {
    "normal": [[["sep_conv_3x3", 0], ["sep_conv_3x3", 1]], [["sep_conv_3x3", 0], ["sep_conv_3x3", 1]],
               [["sep_conv_3x3", 1], ["skip_connect", 0]], [["skip_connect", 0], ["dil_conv_3x3", 2]]],
    "normal_concat": [2, 3, 4, 5],
    "reduce": [[["max_pool_3x3", 0], ["max_pool_3x3", 1]], [["skip_connect", 2], ["max_pool_3x3", 1]],
               [["max_pool_3x3", 0], ["skip_connect", 2]], [["skip_connect", 2], ["max_pool_3x3", 1]]],
    "reduce_concat": [2, 3, 4, 5],
}

_CHANNELS = {False: (8, 32), True: (48, 96)}  # by split.wide
_CELLS = {(False, False): (4, 18), (True, False): (4, 10), (False, True): (19, 36), (True, True): (19, 36)}
_NODES = {False: (2, 5), True: (6, 9)}  # by split.dense
_INPUTS_PER_NODE = {False: (1, 2), True: (2, 3)}
_FC_HIDDEN = (64, 128, 256)


def _sample_cell(rng: random.Random, nodes: int, inputs: tuple[int, int]) -> tuple[Cell, list[int]]:
    """A random cell reading the previous cell at least once; its concat list is the nodes no other node reads."""
    cell: Cell = []
    for i in range(nodes):
        sources = sorted(rng.sample(range(i + 2), min(draw_int(rng, inputs), i + 2)))
        cell.append([[draw_choice(rng, list(CELL_OPS)), src] for src in sources])
    if not any(src == 1 for node in cell for _, src in node):
        cell[0][0][1] = 1  # node 0 then has the single edge [op, 0]; make the cell depend on the previous cell
    read = {src for node in cell for _, src in node}
    return cell, [j + 2 for j in range(nodes) if j + 2 not in read]


def _reduction_positions(num_cells: int, count: int) -> list[int]:
    """``count`` evenly spaced cell indices (DARTS puts 2 reductions at 1/3 and 2/3 of the depth)."""
    return sorted({min(num_cells - 1, (k + 1) * num_cells // (count + 1)) for k in range(count)})


@register_family
class DeepNetsFamily(ArchFamily):
    """DARTS-style cell networks over images ``[C, H, W]`` (see the module docstring)."""

    name = "deepnets"
    keys = ("channels", "num_cells", "reduction_cells", "channel_multiplier", "stem_multiplier", "stem_layers",
            "stem_stride", "norm", "fc_hidden", "genotype")
    input_ranks = (3,)
    input_description = "[channels, height, width]"

    def sample(self, rng: random.Random, split: Split, input_shape: tuple[int, ...], num_classes: int) -> dict:
        """Draw channels, cells, reductions, stem, head and the two cell genotypes for ``split``."""
        num_cells = draw_int(rng, _CELLS[split.wide, split.deep])
        nodes, inputs = _NODES[split.dense], _INPUTS_PER_NODE[split.dense]
        normal, normal_concat = _sample_cell(rng, draw_int(rng, nodes), inputs)
        reduce, reduce_concat = _sample_cell(rng, draw_int(rng, nodes), inputs)
        return {
            "channels": 4 * draw_int(rng, (_CHANNELS[split.wide][0] // 4, _CHANNELS[split.wide][1] // 4)),
            "num_cells": num_cells,
            "reduction_cells": _reduction_positions(num_cells, draw_int(rng, (1, min(3, num_cells)))),
            "channel_multiplier": draw_choice(rng, (1, 2, 2)),
            "stem_multiplier": draw_int(rng, (1, 3)),
            "stem_layers": draw_int(rng, (1, 2)),
            "stem_stride": draw_int(rng, (1, 2)) if min(input_shape[1:]) >= 32 else 1,
            "norm": "bn" if split.norm else "none",
            "fc_hidden": draw_choice(rng, (0, 0, *_FC_HIDDEN)),
            "genotype": {"normal": normal, "normal_concat": normal_concat, "reduce": reduce,
                         "reduce_concat": reduce_concat},
        }

    def validate(self, spec: Mapping[str, Any]) -> None:
        """Check every field, and that each genotype cell reads the previous cell and leaves no node unused."""
        w = self.where
        check_int(spec["channels"], w("channels"), 4, 1024)
        num_cells = check_int(spec["num_cells"], w("num_cells"), 1, 64)
        cells = check_int_list(spec["reduction_cells"], w("reduction_cells"), 0, num_cells - 1, 0, 6)
        if cells != sorted(set(cells)):
            raise InvalidSpecError(f"{w('reduction_cells')} must be sorted and without repeats, got {cells}")
        check_choice(spec["channel_multiplier"], w("channel_multiplier"), (1, 2))
        check_int(spec["stem_multiplier"], w("stem_multiplier"), 1, 4)
        check_choice(spec["stem_layers"], w("stem_layers"), (1, 2))
        check_choice(spec["stem_stride"], w("stem_stride"), (1, 2))
        check_choice(spec["norm"], w("norm"), ("bn", "none"))
        check_int(spec["fc_hidden"], w("fc_hidden"), 0, 8192)
        geno = spec["genotype"]
        if not isinstance(geno, dict):
            raise InvalidSpecError(f"{w('genotype')} must be a dict, got {type(geno).__name__}")
        check_keys(geno, w("genotype"), ("normal", "normal_concat", "reduce", "reduce_concat"))
        for kind in ("normal", "reduce"):
            self._validate_cell(geno[kind], geno[f"{kind}_concat"], kind)

    def _validate_cell(self, cell: Any, concat: Any, kind: str) -> None:
        where = f"{self.name} spec: genotype[{kind!r}]"
        if not isinstance(cell, list) or not 1 <= len(cell) <= 16:
            raise InvalidSpecError(f"{where} must be a list of 1 to 16 nodes, got {cell!r}")
        for i, node in enumerate(cell):
            if not isinstance(node, list) or not 1 <= len(node) <= 4:
                raise InvalidSpecError(f"{where}[{i}] must be a list of 1 to 4 [op, input] edges, got {node!r}")
            for j, edge in enumerate(node):
                if not isinstance(edge, list) or len(edge) != 2:
                    raise InvalidSpecError(f"{where}[{i}][{j}] must be [op, input], got {edge!r}")
                check_choice(edge[0], f"{where}[{i}][{j}][0] (op)", CELL_OPS)
                check_int(edge[1], f"{where}[{i}][{j}][1] (input state of node {i})", 0, i + 1)
        read = {src for node in cell for _, src in node}
        if 1 not in read:
            raise InvalidSpecError(f"{where} never reads state 1 (the previous cell); add an edge [op, 1]")
        concat = check_int_list(concat, f"{self.name} spec: genotype['{kind}_concat']", 2, len(cell) + 1, 1, 16)
        unused = [j + 2 for j in range(len(cell)) if j + 2 not in read and j + 2 not in concat]
        if unused:
            raise InvalidSpecError(f"{where}: states {unused} are neither read by a node nor in the concat list; "
                                   "add them to the concat list")

    def build(self, spec: Mapping[str, Any]) -> nn.Module:
        """The :class:`DeepNet` of ``spec``."""
        return DeepNet(spec)

    def summary(self, spec: Mapping[str, Any]) -> dict[str, float]:
        """``depth`` (cells), ``width`` (channels), nodes per normal/reduction cell, reductions, FC layers."""
        geno = spec["genotype"]
        return {"depth": spec["num_cells"], "width": spec["channels"], "nodes_normal": len(geno["normal"]),
                "nodes_reduce": len(geno["reduce"]), "reductions": len(spec["reduction_cells"]),
                "fc_layers": 2 if spec["fc_hidden"] else 1}

    def reference_nets(self, input_shape: tuple[int, ...], num_classes: int) -> dict[str, dict]:
        """``darts``: the DARTS-V2 genotype with 16 channels and 8 cells (reductions at cells 2 and 5)."""
        return {"darts": {
            "channels": 16, "num_cells": 8, "reduction_cells": [2, 5], "channel_multiplier": 2, "stem_multiplier": 3,
            "stem_layers": 1, "stem_stride": 1, "norm": "bn", "fc_hidden": 0, "genotype": DARTS_V2,
        }}
