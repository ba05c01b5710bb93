"""Low-rank decoder with a dense core: ``W = P(n) C(h) P(m)^T`` per kernel position, rank ``r`` at any width.

``C(h)`` is an ``r x r x 3 x 3`` block emitted by one linear map of the conditioning vector (fitted to the kernel
as the tiling decoder fits its blocks: centre, middle row, crop or interpolation) and ``P(n)`` a fixed ``[n, r]``
index encoding (:data:`~hypergen.ghn.encodings.INDEX_ENCODINGS`; the default ``"identity"`` makes the product the core
itself, cropped, for layers up to ``r`` units wide, and fixed mixtures of its rows beyond). So every weight is a
rank-``r`` product whose size does not depend on the target's width, like :class:`~hypergen.ghn.decoders.
LowRankDecoder`, but its values are *linear* in the decoder's parameters, as GHN-2's tiled blocks are: the
decoder's bias is a template every layer starts from and each output is one linear read-out of ``h``, where the
factor decoder's ``U(h) V(h)^T`` is bilinear (its gradients vanish together with either factor). Unlike tiling, no
two units are ever copies: the ``n`` rows of ``P(n)`` are distinct at every width.

With ``base=True`` the product is mixed with a seeded full-rank base, as in ``LowRankDecoder``
(:func:`~hypergen.ghn.decoders.lowrank.with_seeded_base`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from hypergen.ghn.decoders.base import DenseParams, LowRankParams, ParamDecoder, TensorLayout
from hypergen.ghn.decoders.lowrank import mix_head, with_seeded_base
from hypergen.ghn.decoders.registry import register_decoder
from hypergen.ghn.decoders.tiling import fit_kernel
from hypergen.ghn.encodings import IndexCodeCache

if TYPE_CHECKING:
    from hypergen.ghn.config import GHNConfig

__all__ = ["CoreDecoder", "core_decoder"]

_BLOCK_KERNEL = 3


class CoreDecoder(ParamDecoder):
    """Rank-``r`` decoder with a dense ``r x r x 3 x 3`` core per tensor.

    Args:
        hidden: width of the conditioning vectors.
        rank: ``r``, the core's size (even); weights have rank at most ``r``.
        base: mix a seeded full-rank base into matrices and kernels (learned per-tensor mix).
        seed: seed of the index encodings' pseudo-random frequencies.
        index_encoding: name in :data:`~hypergen.ghn.encodings.INDEX_ENCODINGS`.

    Raises:
        ValueError: odd ``rank``. KeyError: unknown ``index_encoding``.
    """

    def __init__(self, hidden: int, rank: int = 32, base: bool = True, seed: int = 0,
                 index_encoding: str = "identity") -> None:
        super().__init__()
        if rank % 2:
            raise ValueError(f"the core decoder's rank must be even, got {rank}")
        self.rank, self.seed = rank, seed
        self._codes = IndexCodeCache(index_encoding, rank, seed)
        self.core_head = nn.Linear(hidden, rank * rank * _BLOCK_KERNEL ** 2)
        self.vector_head = nn.Linear(hidden, rank)
        self.mix_head = mix_head(hidden) if base else None

    def forward(self, cond: Tensor, layout: TensorLayout,  # noqa: D102 (see ParamDecoder)
                ids: Tensor | None = None) -> DenseParams | LowRankParams:
        g, r = cond.shape[0], self.rank
        rows = self._codes(layout.rows, cond.device)  # [n, r]
        if layout.cols is None:
            return DenseParams((self.vector_head(cond) @ rows.t() / math.sqrt(r)).reshape(g, *layout.shape), layout)
        core = self.core_head(cond).view(g, r, r, _BLOCK_KERNEL, _BLOCK_KERNEL)
        core = fit_kernel(core, layout.kernel).reshape(g, r, r, layout.kernel_numel)  # [G, r(rows), r(cols), K]
        cols = self._codes(layout.cols, cond.device)  # [m, r]
        b = torch.einsum("mf,gefk->gmke", cols, core).reshape(g, layout.cols * layout.kernel_numel, r) / r
        a = rows.unsqueeze(0).expand(g, -1, -1)
        if self.mix_head is None:
            return LowRankParams(a, b, layout)
        return with_seeded_base(a, b, layout, self.mix_head(cond).squeeze(-1), r, ids)


@register_decoder("core")
def core_decoder(config: GHNConfig) -> CoreDecoder:
    """The dense-core low-rank decoder sized by ``hidden``, ``rank``, ``base``, ``index_encoding`` of ``config``."""
    return CoreDecoder(config.hidden, config.rank, base=config.base, index_encoding=config.index_encoding)
