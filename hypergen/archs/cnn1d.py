"""``cnn1d``: 1-D CNNs over signals ``[C, L]`` (MNIST-1D and similar).

A stem conv, stages of basic blocks (two kxk ``Conv1d`` + norm, an optional residual shortcut), global pooling and
a linear classifier.

Spec fields::

    stem_width    int    channels of the stem conv
    stem_kernel   int    kernel of the stem conv (3, 5, 7 or 9)
    depths        [int]  blocks per stage           base 1..3 stages of 1..2, deep 3..4 stages of 3..6
    widths        [int]  channels per stage         base first 8..64, wide first 96..256; x1, x1.5 or x2 per stage
    strides       [int]  stride of each stage's first block (1 or 2)
    kernel_sizes  [int]  block kernel per stage (3, 5, 7 or 9)
    residual      bool   blocks have shortcut connections
    pool          str    global pooling before the classifier: "avg" or "max"
    activation    str    "relu", "gelu" or "silu"
    norm          str    "bn" or "none" (no_norm split)
    dense         bool   each block reads the mean of all earlier block outputs of its stage (dense split)
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from hypergen.archs.blocks import BasicBlock, ClassifierHead, ConvNormAct, DenseSequence
from hypergen.archs.draw import draw_choice, draw_int, draw_stage_widths, stage_strides
from hypergen.archs.registry import ArchFamily, register_family
from hypergen.archs.splits import Split
from hypergen.archs.validation import (
    check_bool, check_choice, check_choice_list, check_int, check_int_list, check_same_length,
)

__all__ = ["CNN1d", "CNN1dFamily"]

_KERNELS = (3, 5, 7, 9)


class CNN1d(nn.Module):
    """A 1-D CNN from a ``cnn1d`` spec (see the module docstring for the fields)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        norm, act = spec["norm"], spec["activation"]
        self.stem = ConvNormAct(spec["input_shape"][0], spec["stem_width"], spec["stem_kernel"], dims=1, norm=norm,
                                act=act)
        c_in, stages = spec["stem_width"], []
        for depth, width, stride, kernel in zip(spec["depths"], spec["widths"], spec["strides"],
                                                spec["kernel_sizes"]):
            blocks = [BasicBlock(c_in if i == 0 else width, width, kernel, stride if i == 0 else 1, dims=1, norm=norm,
                                 act=act, residual=spec["residual"]) for i in range(depth)]
            stages.append(DenseSequence(blocks, spec["dense"]))
            c_in = width
        self.stages = nn.Sequential(*stages)
        self.head = ClassifierHead(c_in, spec["num_classes"], dims=1, pool=spec["pool"])

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, L]`` -> ``[B, num_classes]``."""
        return self.head(self.stages(self.stem(x)))


_FIRST_WIDTH = {False: (8, 64), True: (96, 256)}  # by split.wide
_STAGES = {False: (1, 3), True: (3, 4)}  # by split.deep
_STAGE_DEPTH = {(False, False): (1, 2), (False, True): (2, 4), (True, False): (3, 6), (True, True): (3, 6)}


@register_family
class CNN1dFamily(ArchFamily):
    """1-D CNNs over signals ``[C, L]`` (see the module docstring)."""

    name = "cnn1d"
    keys = ("stem_width", "stem_kernel", "depths", "widths", "strides", "kernel_sizes", "residual", "pool",
            "activation", "norm", "dense")
    input_ranks = (2,)
    input_description = "[channels, length]"

    def sample(self, rng: random.Random, split: Split, input_shape: tuple[int, ...], num_classes: int) -> dict:
        """Draw stages (depth, width, kernel), stem, shortcuts and pooling for ``split``."""
        stages = draw_int(rng, _STAGES[split.deep])
        widths = draw_stage_widths(rng, _FIRST_WIDTH[split.wide], stages, (1.0, 1.5, 2.0))
        return {
            "stem_width": draw_choice(rng, (widths[0], max(4, widths[0] // 2))),
            "stem_kernel": draw_choice(rng, _KERNELS),
            "depths": [draw_int(rng, _STAGE_DEPTH[split.deep, split.dense]) for _ in range(stages)],
            "widths": widths,
            "strides": stage_strides(stages, input_shape[1]),
            "kernel_sizes": [draw_choice(rng, _KERNELS) for _ in range(stages)],
            "residual": rng.random() < 0.7,
            "pool": draw_choice(rng, ("avg", "max")),
            "activation": draw_choice(rng, ("relu", "gelu", "silu")),
            "norm": "bn" if split.norm else "none",
            "dense": split.dense,
        }

    def validate(self, spec: Mapping[str, Any]) -> None:
        """Check every field; the four per-stage lists must have equal lengths."""
        w = self.where
        check_int(spec["stem_width"], w("stem_width"), 1, 4096)
        check_choice(spec["stem_kernel"], w("stem_kernel"), (1, *_KERNELS))
        check_int_list(spec["depths"], w("depths"), 1, 64, 1, 8)
        check_int_list(spec["widths"], w("widths"), 1, 8192, 1, 8)
        check_choice_list(spec["strides"], w("strides"), (1, 2), 1, 8)
        check_choice_list(spec["kernel_sizes"], w("kernel_sizes"), (1, *_KERNELS), 1, 8)
        check_same_length(spec, self.name, ("depths", "widths", "strides", "kernel_sizes"))
        check_bool(spec["residual"], w("residual"))
        check_choice(spec["pool"], w("pool"), ("avg", "max"))
        check_choice(spec["activation"], w("activation"), ("relu", "gelu", "silu"))
        check_choice(spec["norm"], w("norm"), ("bn", "none"))
        check_bool(spec["dense"], w("dense"))

    def build(self, spec: Mapping[str, Any]) -> nn.Module:
        """The :class:`CNN1d` of ``spec``."""
        return CNN1d(spec)

    def summary(self, spec: Mapping[str, Any]) -> dict[str, float]:
        """``depth`` (blocks), ``width`` (first stage), ``max_width``, ``stages``."""
        return {"depth": sum(spec["depths"]), "width": spec["widths"][0], "max_width": max(spec["widths"]),
                "stages": len(spec["depths"])}

    def reference_nets(self, input_shape: tuple[int, ...], num_classes: int) -> dict[str, dict]:
        """``cnn1d_resnet``: three residual stages of 32/64/128 channels (kernels 5, 3, 3)."""
        return {"cnn1d_resnet": {
            "stem_width": 32, "stem_kernel": 5, "depths": [1, 1, 1], "widths": [32, 64, 128],
            "strides": stage_strides(3, input_shape[1]), "kernel_sizes": [5, 3, 3], "residual": True, "pool": "avg",
            "activation": "relu", "norm": "bn", "dense": False,
        }}
