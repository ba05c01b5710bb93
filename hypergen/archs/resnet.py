"""``resnet``: ResNet-like CNNs over images with varied depth, width, kernel size and block type.

Spec fields::

    block            str    "basic" or "bottleneck"
    expansion        int    bottleneck width / inner width (2 or 4; 1 for basic blocks)
    stem_width       int    channels of the stem conv
    stem_kernel      int    kernel of the stem conv (3; 3, 5 or 7 for inputs >= 64 px)
    stem_stride      int    stride of the stem conv (1; 1 or 2 for inputs >= 32 px)
    stem_pool        bool   3x3/2 max pool after the stem (inputs >= 64 px)
    depths           [int]  blocks per stage              base 2..4 stages of 1..3, deep 3..4 stages of 5..8
    widths           [int]  output channels per stage     base first 8..48, wide first 64..128; x1.5 or x2 per stage
    strides          [int]  stride of each stage's first block (1 or 2)
    kernel_size      int    kernel of the blocks' kxk convs (3 or 5)
    activation       str    "relu" or "silu"
    norm             str    "bn" or "none" (no_norm split)
    dense            bool   each block reads the mean of all earlier block outputs of its stage (dense split)
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from hypergen.archs.blocks import BasicBlock, BottleneckBlock, ClassifierHead, ConvNormAct, DenseSequence, pool_layer
from hypergen.archs.draw import draw_choice, draw_int, draw_stage_widths, stage_strides
from hypergen.archs.registry import ArchFamily, register_family
from hypergen.archs.splits import Split
from hypergen.archs.validation import (
    InvalidSpecError, check_bool, check_choice, check_choice_list, check_int, check_int_list, check_same_length,
)

__all__ = ["ResNet", "ResNetFamily"]


class ResNet(nn.Module):
    """A ResNet-like CNN from a ``resnet`` spec (see the module docstring for the fields)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        norm, act = spec["norm"], spec["activation"]
        stem = [ConvNormAct(spec["input_shape"][0], spec["stem_width"], spec["stem_kernel"], spec["stem_stride"],
                            norm=norm, act=act)]
        if spec["stem_pool"]:
            stem.append(pool_layer("max", 2, 3, 2))
        self.stem = nn.Sequential(*stem)
        c_in, stages = spec["stem_width"], []
        for depth, width, stride in zip(spec["depths"], spec["widths"], spec["strides"]):
            blocks = [self._block(spec, c_in if i == 0 else width, width, stride if i == 0 else 1)
                      for i in range(depth)]
            stages.append(DenseSequence(blocks, spec["dense"]))
            c_in = width
        self.stages = nn.Sequential(*stages)
        self.head = ClassifierHead(c_in, spec["num_classes"])

    @staticmethod
    def _block(spec: Mapping[str, Any], c_in: int, c_out: int, stride: int) -> nn.Module:
        kwargs = {"norm": spec["norm"], "act": spec["activation"]}
        if spec["block"] == "bottleneck":
            return BottleneckBlock(c_in, c_out, spec["kernel_size"], stride, expansion=spec["expansion"], **kwargs)
        return BasicBlock(c_in, c_out, spec["kernel_size"], stride, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, num_classes]``."""
        return self.head(self.stages(self.stem(x)))


_FIRST_WIDTH = {False: (8, 48), True: (64, 128)}  # by split.wide
_STAGES = {(False, False): (2, 4), (True, False): (2, 3), (False, True): (3, 4), (True, True): (3, 4)}
_STAGE_DEPTH = {(False, False): (1, 3), (False, True): (2, 4), (True, False): (5, 8), (True, True): (5, 8)}


@register_family
class ResNetFamily(ArchFamily):
    """ResNet-like CNNs over images ``[C, H, W]`` (see the module docstring)."""

    name = "resnet"
    keys = ("block", "expansion", "stem_width", "stem_kernel", "stem_stride", "stem_pool", "depths", "widths",
            "strides", "kernel_size", "activation", "norm", "dense")
    input_ranks = (3,)
    input_description = "[channels, height, width]"

    def sample(self, rng: random.Random, split: Split, input_shape: tuple[int, ...], num_classes: int) -> dict:
        """Draw stages, widths, block type and stem for ``split``."""
        size = min(input_shape[1:])
        stages = draw_int(rng, _STAGES[split.wide, split.deep])
        widths = draw_stage_widths(rng, _FIRST_WIDTH[split.wide], stages, (1.5, 2.0))
        block = draw_choice(rng, ("basic", "basic", "bottleneck"))
        stem_stride = draw_int(rng, (1, 2)) if size >= 32 else 1
        stem_pool = size >= 64 and draw_choice(rng, (False, True))
        reduced = -(-size // stem_stride) // (2 if stem_pool else 1)
        return {
            "block": block,
            "expansion": draw_choice(rng, (2, 4)) if block == "bottleneck" else 1,
            "stem_width": widths[0] if rng.random() < 0.5 else max(4, widths[0] // 2),
            "stem_kernel": draw_choice(rng, (3, 5, 7)) if size >= 64 else 3,
            "stem_stride": stem_stride,
            "stem_pool": stem_pool,
            "depths": [draw_int(rng, _STAGE_DEPTH[split.deep, split.dense]) for _ in range(stages)],
            "widths": widths,
            "strides": stage_strides(stages, reduced),
            "kernel_size": draw_choice(rng, (3, 3, 5)),
            "activation": draw_choice(rng, ("relu", "relu", "silu")),
            "norm": "bn" if split.norm else "none",
            "dense": split.dense,
        }

    def validate(self, spec: Mapping[str, Any]) -> None:
        """Check every field; per-stage lists must have equal lengths; basic blocks need ``expansion`` 1."""
        w = self.where
        block = check_choice(spec["block"], w("block"), ("basic", "bottleneck"))
        expansion = check_choice(spec["expansion"], w("expansion"), (1, 2, 4))
        if block == "basic" and expansion != 1:
            raise InvalidSpecError(f"{w('expansion')} must be 1 for basic blocks, got {expansion}")
        check_int(spec["stem_width"], w("stem_width"), 1, 4096)
        check_choice(spec["stem_kernel"], w("stem_kernel"), (1, 3, 5, 7))
        check_choice(spec["stem_stride"], w("stem_stride"), (1, 2))
        check_bool(spec["stem_pool"], w("stem_pool"))
        check_int_list(spec["depths"], w("depths"), 1, 64, 1, 8)
        check_int_list(spec["widths"], w("widths"), 1, 8192, 1, 8)
        check_choice_list(spec["strides"], w("strides"), (1, 2), 1, 8)
        check_same_length(spec, self.name, ("depths", "widths", "strides"))
        check_choice(spec["kernel_size"], w("kernel_size"), (1, 3, 5, 7))
        check_choice(spec["activation"], w("activation"), ("relu", "silu", "gelu"))
        check_choice(spec["norm"], w("norm"), ("bn", "none"))
        check_bool(spec["dense"], w("dense"))

    def build(self, spec: Mapping[str, Any]) -> nn.Module:
        """The :class:`ResNet` of ``spec``."""
        return ResNet(spec)

    def summary(self, spec: Mapping[str, Any]) -> dict[str, float]:
        """``depth`` (blocks), ``width`` (first stage), ``max_width``, ``stages``."""
        return {"depth": sum(spec["depths"]), "width": spec["widths"][0], "max_width": max(spec["widths"]),
                "stages": len(spec["depths"])}

    def reference_nets(self, input_shape: tuple[int, ...], num_classes: int) -> dict[str, dict]:
        """``resnet20`` (He et al.'s CIFAR ResNet-20) and ``resnet18`` (ImageNet stem for inputs >= 64 px)."""
        large = min(input_shape[1:]) >= 64
        common = {"block": "basic", "expansion": 1, "kernel_size": 3, "activation": "relu", "norm": "bn",
                  "dense": False}
        return {
            "resnet20": {**common, "stem_width": 16, "stem_kernel": 3, "stem_stride": 1, "stem_pool": False,
                         "depths": [3, 3, 3], "widths": [16, 32, 64], "strides": [1, 2, 2]},
            "resnet18": {**common, "stem_width": 64, "stem_kernel": 7 if large else 3, "stem_stride": 2 if large else 1,
                         "stem_pool": large, "depths": [2, 2, 2, 2], "widths": [64, 128, 256, 512],
                         "strides": [1, 2, 2, 2]},
        }
