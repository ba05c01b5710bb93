"""``mlp``: multi-layer perceptrons over flattened inputs (1-D signals such as MNIST-1D, or images).

The input ``[B, *input_shape]`` is flattened; hidden layers are ``Linear -> norm -> activation``; a final
``Linear`` gives the logits.

Spec fields::

    widths      [int]  hidden layer widths          base 1..4 layers of 32..512, deep 5..12 layers, wide 768..2048
    activation  str    "relu", "gelu", "silu" or "tanh"
    norm        str    "bn", "ln" or "none" (no_norm split)
    dense       bool   each hidden layer after the first reads the mean of all earlier hidden outputs (dense split;
                       needs equal widths)
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from hypergen.archs.blocks import DenseSequence, activation, feature_norm
from hypergen.archs.draw import draw_choice, draw_int, draw_log_int
from hypergen.archs.registry import ArchFamily, register_family
from hypergen.archs.splits import Split
from hypergen.archs.validation import InvalidSpecError, check_bool, check_choice, check_int_list

__all__ = ["MLP", "MLPFamily"]


class MLP(nn.Module):
    """An MLP from an ``mlp`` spec (see the module docstring for the fields)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        features, layers = math.prod(spec["input_shape"]), []
        for width in spec["widths"]:
            layers.append(nn.Sequential(nn.Linear(features, width), feature_norm(spec["norm"], width),
                                        activation(spec["activation"])))
            features = width
        self.hidden = DenseSequence(layers, spec["dense"])
        self.head = nn.Linear(features, spec["num_classes"])

    def forward(self, x: Tensor) -> Tensor:
        """``[B, *input_shape]`` -> ``[B, num_classes]``."""
        return self.head(self.hidden(self.flatten(x)))


_LAYERS = {(False, False): (1, 4), (True, False): (5, 12), (False, True): (3, 6), (True, True): (5, 12)}
_WIDTH = {False: (32, 512), True: (768, 2048)}  # by split.wide


@register_family
class MLPFamily(ArchFamily):
    """MLPs over inputs of any shape (flattened); meant for 1-D signals ``[L]`` or ``[C, L]``."""

    name = "mlp"
    keys = ("widths", "activation", "norm", "dense")
    input_ranks = (1, 2, 3)
    input_description = "[features], [channels, length] or [channels, height, width]"

    def sample(self, rng: random.Random, split: Split, input_shape: tuple[int, ...], num_classes: int) -> dict:
        """Draw the number of layers and their widths (equal widths for dense nets), activation and norm."""
        layers = draw_int(rng, _LAYERS[split.deep, split.dense])
        widths = [draw_log_int(rng, _WIDTH[split.wide], 8) for _ in range(1 if split.dense else layers)]
        return {
            "widths": widths * layers if split.dense else widths,
            "activation": draw_choice(rng, ("relu", "gelu", "silu", "tanh")),
            "norm": draw_choice(rng, ("bn", "ln")) if split.norm else "none",
            "dense": split.dense,
        }

    def validate(self, spec: Mapping[str, Any]) -> None:
        """Check every field; dense MLPs need equal widths."""
        w = self.where
        widths = check_int_list(spec["widths"], w("widths"), 1, 65536, 1, 64)
        check_choice(spec["activation"], w("activation"), ("relu", "gelu", "silu", "tanh"))
        check_choice(spec["norm"], w("norm"), ("bn", "ln", "rms", "none"))
        if check_bool(spec["dense"], w("dense")) and len(set(widths)) > 1:
            raise InvalidSpecError(f"{w('widths')} must all be equal when 'dense' is true, got {widths}")

    def build(self, spec: Mapping[str, Any]) -> nn.Module:
        """The :class:`MLP` of ``spec``."""
        return MLP(spec)

    def summary(self, spec: Mapping[str, Any]) -> dict[str, float]:
        """``depth`` (hidden layers), ``width`` (widest hidden layer)."""
        return {"depth": len(spec["widths"]), "width": max(spec["widths"])}

    def reference_nets(self, input_shape: tuple[int, ...], num_classes: int) -> dict[str, dict]:
        """``mlp_256x2``: two hidden ReLU layers of 256 with batch norm."""
        return {"mlp_256x2": {"widths": [256, 256], "activation": "relu", "norm": "bn", "dense": False}}
