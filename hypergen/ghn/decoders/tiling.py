"""GHN-2 style tiling decoder (baseline): one ``T x T x 3 x 3`` block per parameter, repeated to the target shape."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor, nn

from hypergen.ghn.decoders.base import DenseParams, ParamDecoder, TensorLayout
from hypergen.ghn.decoders.registry import register_decoder

if TYPE_CHECKING:
    from hypergen.ghn.config import GHNConfig

__all__ = ["TilingDecoder", "fit_kernel", "tiling_decoder"]

_BLOCK_KERNEL = 3


def _fit(x: Tensor, size: int, dim: int) -> Tensor:
    """Centre-crop ``x`` along ``dim`` to ``size`` or, when larger, interpolate linearly (GHN-3 for big kernels)."""
    current = x.shape[dim]
    if size <= current:
        start = (current - size) // 2
        return x.narrow(dim, start, size)
    moved = x.movedim(dim, -1)
    flat = moved.reshape(-1, 1, current)
    resized = F.interpolate(flat, size=size, mode="linear", align_corners=True)
    return resized.reshape(*moved.shape[:-1], size).movedim(-1, dim)


def _tile(x: Tensor, size: int, dim: int) -> Tensor:
    """Repeat ``x`` along ``dim`` until it covers ``size``, then crop."""
    reps = [1] * x.dim()
    reps[dim] = math.ceil(size / x.shape[dim])
    return x.repeat(*reps).narrow(dim, 0, size)


def fit_kernel(block: Tensor, kernel: tuple[int, ...]) -> Tensor:
    """A ``[..., 3, 3]`` block of kernels fitted to ``kernel``: the centre for no kernel, the middle row for 1-D
    kernels, centre-cropped (or linearly interpolated, above 3) for 2-D ones, the 2-D kernel repeated over depth for
    3-D ones. Returns ``[..., *kernel]``."""
    centre = _BLOCK_KERNEL // 2
    if not kernel:
        return block[..., centre, centre]
    if len(kernel) == 1:
        return _fit(block[..., centre, :], kernel[0], -1)
    out = _fit(_fit(block, kernel[-2], -2), kernel[-1], -1)
    for size in reversed(kernel[:-2]):  # conv3d: the 2-D kernel repeated over depth
        out = out.unsqueeze(-3).expand(*out.shape[:-2], size, *out.shape[-2:])
    return out


class TilingDecoder(ParamDecoder):
    """Decoder of GHN-2: an MLP emits a fixed block that is tiled over channels and cropped/resized over kernels.

    Its size does not grow with the target's width either, but every ``T x T`` tile of a wide layer is the same
    block (low diversity); kept as a baseline behind the :class:`ParamDecoder` interface.

    Args:
        hidden: width of the conditioning vectors.
        tile_size: ``T``.
    """

    def __init__(self, hidden: int, tile_size: int = 32) -> None:
        super().__init__()
        self.tile = tile_size
        self.block_head = nn.Linear(hidden, tile_size * tile_size * _BLOCK_KERNEL**2)
        self.vector_head = nn.Linear(hidden, tile_size)

    def forward(self, cond: Tensor, layout: TensorLayout,  # noqa: D102 (see ParamDecoder)
                ids: Tensor | None = None) -> DenseParams:
        g, t = cond.shape[0], self.tile
        if layout.cols is None:
            return DenseParams(_tile(self.vector_head(cond), layout.rows, 1).reshape(g, *layout.shape), layout)
        block = self.block_head(cond).view(g, t, t, _BLOCK_KERNEL, _BLOCK_KERNEL)
        w = _tile(_tile(fit_kernel(block, layout.kernel), layout.rows, 1), layout.cols, 2)
        return DenseParams(w.reshape(g, *layout.shape), layout)


@register_decoder("tiling")
def tiling_decoder(config: GHNConfig) -> TilingDecoder:
    """GHN-2's tiling decoder sized by ``hidden`` and ``tile_size`` of ``config``."""
    if config.vocab_codes:
        raise ValueError(f"the 'tiling' decoder has no learned row codes; set vocab_codes=0 (got "
                         f"{config.vocab_codes}) or decoder='core'")
    if config.mip:
        raise ValueError("the 'tiling' decoder has no magnitude-invariant parametrization; set mip=false or "
                         "decoder='core' / 'lowrank'")
    return TilingDecoder(config.hidden, config.tile_size)
