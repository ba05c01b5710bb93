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

import functools
import random
from collections.abc import Callable, Mapping, Sequence
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


# --- recipes: hashable descriptions of the modules a net is made of ------------------------------------------------
# Nets are built from recipes ``(name, *args)``; counting a spec's parameters adds up the (cached) counts of its
# recipes instead of building the whole net, which makes rejection sampling under parameter bounds ~30x cheaper.

Recipe = tuple[Any, ...]


def _stem(c_in: int, c_stem: int, stride: int, layers: int, norm: str) -> nn.Module:
    stem = [ConvNormAct(c_in, c_stem, 3, stride, norm=norm, act=None)]
    if layers == 2:
        stem += [nn.ReLU(), ConvNormAct(c_stem, c_stem, 3, norm=norm, act=None)]
    return nn.Sequential(*stem)


def _preprocess(c_in: int, c_out: int, reduce: bool, norm: str) -> nn.Module:
    """Brings a cell input to the cell's channels (and, after a reduction cell, to its resolution)."""
    return FactorizedReduce(c_in, c_out, norm) if reduce else _relu_conv_norm(c_in, c_out, 1, 1, norm)


_RECIPES: dict[str, Callable[..., nn.Module]] = {
    "stem": _stem,
    "preprocess": _preprocess,
    "op": lambda op, c, stride, norm: CELL_OPS[op](c, stride, norm),
    "head": lambda c, classes, hidden: ClassifierHead(c, classes, hidden=hidden),
}


def _make(recipe: Recipe) -> nn.Module:
    return _RECIPES[recipe[0]](*recipe[1:])


@functools.lru_cache(maxsize=16384)
def _recipe_params(recipe: Recipe) -> int:
    """Parameters of the module of ``recipe`` (built once on ``meta``)."""
    with torch.device("meta"):
        return sum(p.numel() for p in _make(recipe).parameters())


def _cell_recipes(nodes: Cell, c_pp: int, c_p: int, channels: int, reduction: bool, reduction_prev: bool,
                  norm: str) -> tuple[Recipe | None, Recipe, list[list[Recipe]]]:
    """``(pre0, pre1, ops per node)`` of a cell; ``pre0`` is None when no node reads state 0."""
    reads_s0 = any(inp == 0 for node in nodes for _, inp in node)
    pre0 = ("preprocess", c_pp, channels, reduction_prev, norm) if reads_s0 else None  # built only when used
    ops = [[("op", op, channels, 2 if reduction and inp < 2 else 1, norm) for op, inp in node] for node in nodes]
    return pre0, ("preprocess", c_p, channels, False, norm), ops


def _net_plan(spec: Mapping[str, Any]) -> tuple[Recipe, list[tuple[Any, ...]], Recipe]:
    """``(stem recipe, DeepNetCell arguments per cell, head recipe)`` of a spec."""
    c, norm, geno = spec["channels"], spec["norm"], spec["genotype"]
    c_stem = spec["stem_multiplier"] * c
    stem = ("stem", spec["input_shape"][0], c_stem, spec["stem_stride"], spec["stem_layers"], norm)
    c_pp, c_p, reduction_prev = c_stem, c_stem, False
    cells = []
    for i in range(spec["num_cells"]):
        reduction = i in spec["reduction_cells"]
        if reduction:
            c *= spec["channel_multiplier"]
        kind = "reduce" if reduction else "normal"
        cells.append((geno[kind], geno[f"{kind}_concat"], c_pp, c_p, c, reduction, reduction_prev, norm))
        c_pp, c_p, reduction_prev = c_p, len(geno[f"{kind}_concat"]) * c, reduction
    return stem, cells, ("head", c_p, spec["num_classes"], spec["fc_hidden"])


def count_deepnet_params(spec: Mapping[str, Any]) -> int:
    """Parameters of the :class:`DeepNet` of ``spec``, without building it (equal to building it; tested)."""
    stem, cells, head = _net_plan(spec)
    total = _recipe_params(stem) + _recipe_params(head)
    for nodes, _concat, *args in cells:
        pre0, pre1, ops = _cell_recipes(nodes, *args)
        total += (_recipe_params(pre0) if pre0 else 0) + _recipe_params(pre1)
        total += sum(_recipe_params(op) for node in ops for op in node)
    return total


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
        pre0, pre1, ops = _cell_recipes(nodes, c_pp, c_p, channels, reduction, reduction_prev, norm)
        self.pre0 = _make(pre0) if pre0 is not None else None
        self.pre1 = _make(pre1)
        self.ops = nn.ModuleList(nn.ModuleList(_make(op) for op in node) for node in ops)
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
        stem, cells, head = _net_plan(spec)
        self.stem = _make(stem)
        self.cells = nn.ModuleList(DeepNetCell(*args) for args in cells)
        self.head = _make(head)

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


def _sample_cell(rng: random.Random, nodes: int, inputs: tuple[int, int],
                 ops: Sequence[str]) -> tuple[Cell, list[int]]:
    """A random cell of ``ops`` reading the previous cell at least once; its concat list is the nodes no other node
    reads."""
    cell: Cell = []
    for i in range(nodes):
        sources = sorted(rng.sample(range(i + 2), min(draw_int(rng, inputs), i + 2)))
        cell.append([[draw_choice(rng, ops), src] for src in sources])
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
    options = {
        "ops": f"cell ops to draw from, a subset of {list(CELL_OPS)} (default: all)",
        "stem_stride": "stem strides to draw from, a subset of [1, 2] (default: [1, 2] for inputs of at least 32 "
                       "pixels, else [1]); [2] runs every cell at half the input resolution (4x cheaper)",
        "num_cells": "[min, max] cells (default: the split's range, 4..18; not with the 'deep' split, whose point "
                     "is its depth)",
    }

    def check_options(self, options: Mapping[str, Any], input_shape: tuple[int, ...]) -> None:
        """Check ``ops`` (known, distinct, at least one) and ``stem_stride`` (a non-empty subset of ``[1, 2]``)."""
        super().check_options(options, input_shape)
        ops = options.get("ops")
        if ops is not None:
            unknown = [op for op in ops if op not in CELL_OPS]
            if not ops or unknown or len(set(ops)) != len(ops):
                raise ValueError(f"deepnets option 'ops' must list distinct cell ops of {list(CELL_OPS)}, got "
                                 f"{list(ops)}" + (f" (unknown: {unknown})" if unknown else ""))
        strides = options.get("stem_stride")
        if strides is not None and (not strides or not set(strides) <= {1, 2}):
            raise ValueError(f"deepnets option 'stem_stride' must be a non-empty subset of [1, 2], got {strides}")
        cells = options.get("num_cells")
        if cells is not None and (len(cells) != 2 or not 1 <= cells[0] <= cells[1] <= 64):
            raise ValueError(f"deepnets option 'num_cells' must be [min, max] with 1 <= min <= max <= 64, got {cells}")

    def check_split_options(self, split: Split, options: Mapping[str, Any]) -> None:
        """``num_cells`` would undo what the ``deep`` split is about.

        Raises:
            ValueError: ``num_cells`` with a split that samples more cells than training.
        """
        if split.deep and options.get("num_cells") is not None:
            raise ValueError(f"deepnets option 'num_cells' cannot be used with the {split.name!r} split: its nets are "
                             "deeper than any training net by construction; drop the option for this split")

    def sample(self, rng: random.Random, split: Split, input_shape: tuple[int, ...], num_classes: int, *,
               ops: Sequence[str] | None = None, stem_stride: Sequence[int] | None = None,
               num_cells: Sequence[int] | None = None) -> dict:
        """Draw channels, cells, reductions, stem, head and the two cell genotypes for ``split``.

        Args:
            ops: cell ops to draw from (default: every op of :data:`CELL_OPS`).
            stem_stride: stem strides to draw from (default: 1 or 2 for inputs of at least 32 pixels, else 1).
            num_cells: ``(min, max)`` cells (default: the split's range).
        """
        ops = list(ops) if ops is not None else list(CELL_OPS)
        num_cells = draw_int(rng, tuple(num_cells) if num_cells is not None else _CELLS[split.wide, split.deep])
        nodes, inputs = _NODES[split.dense], _INPUTS_PER_NODE[split.dense]
        normal, normal_concat = _sample_cell(rng, draw_int(rng, nodes), inputs, ops)
        reduce, reduce_concat = _sample_cell(rng, draw_int(rng, nodes), inputs, ops)
        if stem_stride is None:
            stem_stride = (1, 2) if min(input_shape[1:]) >= 32 else (1,)
        return {
            "channels": 4 * draw_int(rng, (_CHANNELS[split.wide][0] // 4, _CHANNELS[split.wide][1] // 4)),
            "num_cells": num_cells,
            "reduction_cells": _reduction_positions(num_cells, draw_int(rng, (1, min(3, num_cells)))),
            "channel_multiplier": draw_choice(rng, (1, 2, 2)),
            "stem_multiplier": draw_int(rng, (1, 3)),
            "stem_layers": draw_int(rng, (1, 2)),
            # a single choice draws nothing (specs of 28-px tasks stay those of earlier versions)
            "stem_stride": draw_int(rng, (1, 2)) if len(set(stem_stride)) > 1 else stem_stride[0],
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

    def count_params(self, spec: Mapping[str, Any]) -> int:
        """Parameters of ``spec``'s net from cached per-module counts (see :func:`count_deepnet_params`)."""
        return count_deepnet_params(spec)

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
