"""``mobilenet``: MobileNet-V2/V3-like CNNs of inverted residual blocks over images.

Spec fields::

    stem_width     int     channels of the 3x3 stem conv
    stem_stride    int     stride of the stem conv (1; 1 or 2 for inputs >= 32 px)
    depths         [int]   blocks per stage        base 3..5 stages of 1..3 blocks, deep 4..5 stages of 4..6
    widths         [int]   output channels per stage  base first 8..24, wide first 32..64; x1.25..x2 per stage
    strides        [int]   stride of each stage's first block (1 or 2)
    expand_ratios  [int]   hidden / input channels of each stage's blocks (1..6)
    kernel_sizes   [int]   depthwise kernel per stage (3, 5 or 7)
    se             [bool]  squeeze-excitation in each stage's blocks
    head_width     int     channels of a final 1x1 conv before pooling (0: none)
    activation     str     "relu6", "hardswish" or "silu"
    norm           str     "bn" or "none" (no_norm split)
    dense          bool    each block reads the mean of all earlier block outputs of its stage (dense split)
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from hypergen.archs.blocks import ClassifierHead, ConvNormAct, DenseSequence, SqueezeExcite
from hypergen.archs.draw import draw_choice, draw_int, draw_stage_widths, round_to, stage_strides
from hypergen.archs.registry import ArchFamily, register_family
from hypergen.archs.splits import Split
from hypergen.archs.validation import (
    check_bool, check_choice, check_choice_list, check_int, check_int_list, check_same_length,
)

__all__ = ["InvertedResidual", "MobileNet", "MobileNetFamily"]


class InvertedResidual(nn.Module):
    """1x1 expand -> kxk depthwise (strided) -> optional squeeze-excite -> 1x1 project, residual if shapes match.

    Args:
        c_in, c_out: channels. stride: of the depthwise conv. expand: hidden / input channels (1: no expand conv).
        kernel: depthwise kernel. se: add squeeze-excitation. act: activation name. norm: norm kind.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, kernel: int, se: bool, act: str,
                 norm: str) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvNormAct(c_in, hidden, 1, norm=norm, act=act))
        layers.append(ConvNormAct(hidden, hidden, kernel, stride, groups=hidden, norm=norm, act=act))
        if se:
            layers.append(SqueezeExcite(hidden, max(8, round_to(c_in / 4, 8)), act=act))
        layers.append(ConvNormAct(hidden, c_out, 1, norm=norm, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        """``[B, c_in, H, W]`` -> ``[B, c_out, ceil(H / stride), ceil(W / stride)]``."""
        out = self.block(x)
        return out + x if self.residual else out


class MobileNet(nn.Module):
    """A MobileNet-like CNN from a ``mobilenet`` spec (see the module docstring for the fields)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        norm, act = spec["norm"], spec["activation"]
        self.stem = ConvNormAct(spec["input_shape"][0], spec["stem_width"], 3, spec["stem_stride"], norm=norm,
                                act=act)
        c_in, stages = spec["stem_width"], []
        for depth, width, stride, expand, kernel, se in zip(spec["depths"], spec["widths"], spec["strides"],
                                                            spec["expand_ratios"], spec["kernel_sizes"], spec["se"]):
            blocks = [InvertedResidual(c_in if i == 0 else width, width, stride if i == 0 else 1, expand, kernel, se,
                                       act, norm) for i in range(depth)]
            stages.append(DenseSequence(blocks, spec["dense"]))
            c_in = width
        self.stages = nn.Sequential(*stages)
        head_width = spec["head_width"]
        self.head_conv = ConvNormAct(c_in, head_width, 1, norm=norm, act=act) if head_width else nn.Identity()
        self.head = ClassifierHead(head_width or c_in, spec["num_classes"])

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, num_classes]``."""
        return self.head(self.head_conv(self.stages(self.stem(x))))


_FIRST_WIDTH = {False: (8, 24), True: (32, 64)}  # by split.wide
_STAGES = {False: (3, 5), True: (4, 5)}  # by split.deep
_STAGE_DEPTH = {(False, False): (1, 3), (False, True): (2, 4), (True, False): (4, 6), (True, True): (4, 6)}


@register_family
class MobileNetFamily(ArchFamily):
    """MobileNet-like CNNs over images ``[C, H, W]`` (see the module docstring)."""

    name = "mobilenet"
    keys = ("stem_width", "stem_stride", "depths", "widths", "strides", "expand_ratios", "kernel_sizes", "se",
            "head_width", "activation", "norm", "dense")
    input_ranks = (3,)
    input_description = "[channels, height, width]"

    def sample(self, rng: random.Random, split: Split, input_shape: tuple[int, ...], num_classes: int) -> dict:
        """Draw stages (depth, width, expansion, kernel, SE), stem and head for ``split``."""
        size = min(input_shape[1:])
        stages = draw_int(rng, _STAGES[split.deep])
        widths = draw_stage_widths(rng, _FIRST_WIDTH[split.wide], stages, (1.25, 1.5, 2.0))
        stem_stride = draw_int(rng, (1, 2)) if size >= 32 else 1
        return {
            "stem_width": draw_choice(rng, (8, 16, 16, 32)) * (2 if split.wide else 1),
            "stem_stride": stem_stride,
            "depths": [draw_int(rng, _STAGE_DEPTH[split.deep, split.dense]) for _ in range(stages)],
            "widths": widths,
            "strides": stage_strides(stages, -(-size // stem_stride)),
            "expand_ratios": [draw_choice(rng, (1, 2, 3, 4, 6)) for _ in range(stages)],
            "kernel_sizes": [draw_choice(rng, (3, 5, 7)) for _ in range(stages)],
            "se": [rng.random() < 0.5 for _ in range(stages)],
            "head_width": draw_choice(rng, (0, 2, 4)) * widths[-1],
            "activation": draw_choice(rng, ("relu6", "hardswish", "silu")),
            "norm": "bn" if split.norm else "none",
            "dense": split.dense,
        }

    def validate(self, spec: Mapping[str, Any]) -> None:
        """Check every field; the six per-stage lists must have equal lengths."""
        w = self.where
        check_int(spec["stem_width"], w("stem_width"), 1, 4096)
        check_choice(spec["stem_stride"], w("stem_stride"), (1, 2))
        check_int_list(spec["depths"], w("depths"), 1, 64, 1, 10)
        check_int_list(spec["widths"], w("widths"), 1, 8192, 1, 10)
        check_choice_list(spec["strides"], w("strides"), (1, 2), 1, 10)
        check_int_list(spec["expand_ratios"], w("expand_ratios"), 1, 8, 1, 10)
        check_choice_list(spec["kernel_sizes"], w("kernel_sizes"), (3, 5, 7), 1, 10)
        check_choice_list(spec["se"], w("se"), (False, True), 1, 10)
        check_same_length(spec, self.name, ("depths", "widths", "strides", "expand_ratios", "kernel_sizes", "se"))
        check_int(spec["head_width"], w("head_width"), 0, 8192)
        check_choice(spec["activation"], w("activation"), ("relu6", "hardswish", "silu", "relu"))
        check_choice(spec["norm"], w("norm"), ("bn", "none"))
        check_bool(spec["dense"], w("dense"))

    def build(self, spec: Mapping[str, Any]) -> nn.Module:
        """The :class:`MobileNet` of ``spec``."""
        return MobileNet(spec)

    def summary(self, spec: Mapping[str, Any]) -> dict[str, float]:
        """``depth`` (blocks), ``width`` (first stage), ``max_width``, ``stages``, ``se_stages``."""
        return {"depth": sum(spec["depths"]), "width": spec["widths"][0], "max_width": max(spec["widths"]),
                "stages": len(spec["depths"]), "se_stages": sum(spec["se"])}

    def reference_nets(self, input_shape: tuple[int, ...], num_classes: int) -> dict[str, dict]:
        """``mobilenet_v2``: MobileNet-V2 (width 1.0) with the first strides set to 1 for inputs < 64 px."""
        large = min(input_shape[1:]) >= 64
        return {"mobilenet_v2": {
            "stem_width": 32, "stem_stride": 2 if large else 1, "depths": [1, 2, 3, 4, 3, 3, 1],
            "widths": [16, 24, 32, 64, 96, 160, 320], "strides": [1, 2 if large else 1, 2, 2, 1, 2, 1],
            "expand_ratios": [1, 6, 6, 6, 6, 6, 6], "kernel_sizes": [3] * 7, "se": [False] * 7, "head_width": 1280,
            "activation": "relu6", "norm": "bn", "dense": False,
        }}
