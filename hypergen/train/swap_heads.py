"""Swapped output layers: each net of a meta-batch is also scored with another net's predicted output layer.

A GHN trained only on each net's own loss can give every net good features whose *meaning* is the net's own: on
the default GHN's held-out nets the best linear read-out of the predicted features reaches 62.6% top-1, the read-outs
fitted to other nets' features 24.5% (``benchmarks/bench_readout.py``), so each output layer has to be inferred from
its graph, and the predicted ones reach 43.6%. This auxiliary loss asks for features that one output layer can read
across nets: net ``k`` is also scored by the output layer predicted for net ``k + 1`` (cyclically within the
meta-batch), carried over to net ``k``'s width through the core decoder's index codes (the decoder emits ``W = P(c)
C P(n)^T``, so an output layer's core ``C`` fits any width ``n``; :func:`transfer_matrix`).

Measured (issue 15's twenty-first round, ``docs/results.md``): with weight 0.5 the swapped loss on training nets
came within 0.04 nats of the nets' own, but held-out top-1 fell 5 points (35.0 +- 1.5% over 3 seeds) and held-out
features became no more alike; an option, off by default.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["HeadCapture", "SwappedHeads", "capture_output_layer", "transfer_matrix"]


def transfer_matrix(codes_from: Tensor, codes_to: Tensor) -> Tensor:
    """``[n_from, n_to]`` matrix ``T`` with ``W @ T`` the weight ``W = M P_from^T`` re-emitted at the other width,
    ``M P_to^T`` (``M``: the least-squares, minimum-norm solution); ``codes_*``: ``[n, r]`` index codes.

    Where both widths are at most the codes' rank and the codes are the identity's (the ``identity`` and ``cyclic``
    encodings), this keeps the first ``min(n_from, n_to)`` columns and pads with zeros: channel ``i`` stays channel
    ``i``.
    """
    return torch.linalg.pinv(codes_from.t().double()).mm(codes_to.t().double()).to(codes_from.dtype)


@dataclass
class HeadCapture:
    """What one net's output layer saw and used during its forward: ``features [B, n]``, ``weight [c, n]`` and
    ``bias [c]`` (zeros where it has none)."""

    features: Tensor
    weight: Tensor
    bias: Tensor


@contextmanager
def capture_output_layer(model: nn.Module, num_outputs: int, name: str = "") -> Iterator[list[HeadCapture]]:
    """Within the block, record the last call of a linear layer of ``model`` with ``num_outputs`` outputs (its input
    and the parameters it ran with, predicted ones under :func:`~hypergen.apply.functional.forward_with`).

    Yields a list that holds one :class:`HeadCapture` after the block.

    Raises:
        ValueError: after the block, if no such call happened (names ``name``, the net).
    """
    calls: list[HeadCapture] = []

    def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
        if output.shape[-1] == num_outputs:
            bias = module.bias if module.bias is not None else module.weight.new_zeros(num_outputs)
            calls.append(HeadCapture(args[0], module.weight, bias))

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Linear)]
    result: list[HeadCapture] = []
    try:
        yield result
    finally:
        for handle in hooks:
            handle.remove()
    if not calls:
        raise ValueError(f"module.swap_heads needs a linear output layer with {num_outputs} outputs; net {name[:200]} "
                         "has none (a convolutional or pooled-attention head?); remove module.swap_heads")
    if calls[-1].features.dim() != 2:
        raise ValueError(f"module.swap_heads expects the output layer of net {name[:200]} to read [batch, features], "
                         f"got {tuple(calls[-1].features.shape)}; remove module.swap_heads")
    result.append(calls[-1])


@dataclass
class SwappedHeads:
    """The swapped-output-layer loss.

    Args:
        codes: ``n -> [n, r]`` the GHN decoder's index codes of ``n`` units (``CoreDecoder.row_codes``).
    """

    codes: Callable[[int], Tensor]
    _transfers: dict[tuple, Tensor] = field(default_factory=dict, repr=False)

    def carry(self, weight: Tensor, width: int) -> Tensor:
        """``weight [c, n]`` re-emitted at ``width`` input features, rescaled by ``sqrt(n / width)`` as the fan-in rule
        would."""
        n = weight.shape[1]
        if n == width:
            return weight
        key = (n, width, weight.device, weight.dtype)
        if key not in self._transfers:  # kept where the weights live: no copy per step
            self._transfers[key] = transfer_matrix(self.codes(n), self.codes(width)).to(weight.device, weight.dtype)
        return weight.mm(self._transfers[key]) * math.sqrt(n / width)

    def loss(self, heads: list[HeadCapture], targets: Tensor) -> Tensor:
        """Mean over nets ``k`` of the cross-entropy of net ``k``'s features read by net ``k + 1``'s output layer.

        Raises:
            ValueError: fewer than two nets.
        """
        if len(heads) < 2:
            raise ValueError(f"swapping output layers needs at least 2 nets per step, got {len(heads)}; set "
                             "module.meta_batch >= 2 or remove module.swap_heads")
        losses = []
        for k, own in enumerate(heads):
            other = heads[(k + 1) % len(heads)]
            weight = self.carry(other.weight, own.features.shape[1])
            losses.append(F.cross_entropy(F.linear(own.features, weight, other.bias), targets))
        return torch.stack(losses).mean()
