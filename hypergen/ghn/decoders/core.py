"""Low-rank decoder with a dense core: ``W = P(n) C(h) P(m)^T`` per kernel position, rank ``r`` at any width.

``C(h)`` is an ``r x r x 3 x 3`` block emitted by one linear map of the conditioning vector (fitted to the kernel
as the tiling decoder fits its blocks: centre, middle row, crop or interpolation) and ``P(n)`` a fixed ``[n, r]``
index encoding (:data:`~hypergen.ghn.encodings.INDEX_ENCODINGS`; the default ``"cyclic"``, like ``"identity"``,
makes the product the core itself, cropped, for layers up to ``r`` units wide; beyond, unit ``i + r`` leans towards
unit ``i`` with ``"cyclic"`` and is a fixed mixture of all ``r`` with ``"identity"``). So every weight is a
rank-``r`` product whose size does not depend on the target's width, like :class:`~hypergen.ghn.decoders.
LowRankDecoder`, but its values are *linear* in the decoder's parameters, as GHN-2's tiled blocks are: the
decoder's bias is a template every layer starts from and each output is one linear read-out of ``h``, where the
factor decoder's ``U(h) V(h)^T`` is bilinear (its gradients vanish together with either factor). Unlike tiling, no
two units are ever copies: the ``n`` rows of ``P(n)`` are distinct at every width.

With ``vocab_codes > 0`` the rows of matrices indexed by ids (token and position embeddings, output layers:
:attr:`~hypergen.ghn.decoders.base.TensorLayout.vocab_rows`) read their codes from a learned ``[vocab_codes, r]``
table instead, initialised to the fixed codes (an untrained decoder predicts what it does without it): with fixed
codes, rows ``>= r`` are fixed mixtures of the first ``r``, so a language model's tokens could never get embeddings of
their own (LoGAH's decoder learns one row per index for the same reason). Rows beyond the table keep fixed codes.

With ``fixed_output`` the GHN's output layers get :meth:`CoreDecoder.fixed_output` instead: a fixed read-out,
``P(classes) Q P(width)^T`` with ``Q`` the zero-sum rows of a Hadamard matrix (:func:`hadamard_readout`).

With ``hidden_width > 0`` the core is a two-layer map of the conditioning vector instead of one linear read-out, as
GHN-2's own decoder is (ppuda's ``ConvDecoder``: a ReLU layer per kernel position, then a map to the channel block):
``h`` is lifted to ``hidden_width`` features per position of the ``3 x 3`` block, passed through GELU, and each
position's features are mapped to its ``r x r`` slice by one shared linear layer (:class:`KernelMLP`). For
``hidden_width`` up to about ``hidden * 3`` it has fewer parameters than the linear head (``hidden * 9 * r^2``).

With ``base=True`` the product is mixed with a seeded full-rank base, as in ``LowRankDecoder``
(:func:`~hypergen.ghn.decoders.lowrank.with_seeded_base`). With ``mip=True`` (HyperLight's magnitude-invariant
parametrization) the conditioning vectors are rescaled to norm ``sqrt(hidden)`` before any head reads them, so their
magnitude cannot scale the predictions; the heads' biases already are the learned input-independent part.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hypergen.ghn.decoders.base import DenseParams, LowRankParams, ParamDecoder, TensorLayout
from hypergen.ghn.decoders.lowrank import magnitude_invariant, mix_head, with_seeded_base
from hypergen.ghn.decoders.registry import register_decoder
from hypergen.ghn.decoders.tiling import fit_kernel
from hypergen.ghn.encodings import CYCLIC_TILT, WIDTH_INDEPENDENT_ENCODINGS, IndexCodeCache

if TYPE_CHECKING:
    from hypergen.ghn.config import GHNConfig

__all__ = ["CoreDecoder", "KernelMLP", "core_decoder", "hadamard_readout"]

_BLOCK_KERNEL = 3


def hadamard_readout(rank: int) -> Tensor:
    """``[rank, rank]`` Sylvester-Hadamard rows reordered so that row ``c`` is row ``c + 1 (mod rank)``: the first
    ``rank - 1`` rows sum to zero and are orthogonal, entries +-1 (the fixed read-out core of
    :meth:`CoreDecoder.fixed_output`: class ``c < rank - 1`` reads feature ``j < rank`` with weight ``Q[c, j]``, and a
    feature offset shared by all units shifts no class against another).

    Raises:
        ValueError: ``rank`` is not a power of two (Sylvester's construction has no other sizes).
    """
    if rank < 2 or rank & (rank - 1):
        raise ValueError(f"a Hadamard read-out needs a power-of-two rank, got rank={rank}; use rank 16, 32 or 64, "
                         "or fixed_output=False")
    matrix, doubling = torch.ones(1, 1), torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    while matrix.shape[0] < rank:
        matrix = torch.kron(matrix, doubling)
    return matrix.roll(-1, dims=0)


class KernelMLP(nn.Module):
    """``[G, hidden] -> [G, r * r * 3 * 3]`` (laid out as the linear head's ``[r, r, 3, 3]``) by two layers: ``h`` to
    ``width`` features for each of the 9 kernel positions, GELU, then one linear map shared by the positions from a
    position's features to its ``r x r`` slice of the core.

    Args:
        hidden: width of the conditioning vectors.
        width: features per kernel position.
        rank: ``r``.
    """

    def __init__(self, hidden: int, width: int, rank: int) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"a KernelMLP needs width >= 1, got {width}; set core_hidden=0 for the linear head")
        self.rank, self.width = rank, width
        self.lift = nn.Linear(hidden, width * _BLOCK_KERNEL ** 2)
        self.out = nn.Linear(width, rank * rank)

    def forward(self, cond: Tensor) -> Tensor:  # noqa: D102 (see the class)
        g, k = cond.shape[0], _BLOCK_KERNEL ** 2
        features = F.gelu(self.lift(cond).view(g, k, self.width))
        return self.out(features).view(g, k, self.rank, self.rank).permute(0, 2, 3, 1).reshape(g, -1)


class CoreDecoder(ParamDecoder):
    """Rank-``r`` decoder with a dense ``r x r x 3 x 3`` core per tensor.

    Args:
        hidden: width of the conditioning vectors.
        rank: ``r``, the core's size (even); weights have rank at most ``r``.
        base: mix a seeded full-rank base into matrices and kernels (learned per-tensor mix).
        seed: seed of the index encodings' pseudo-random frequencies.
        index_encoding: name in :data:`~hypergen.ghn.encodings.INDEX_ENCODINGS`.
        index_tilt: tilt of ``"cyclic"`` codes beyond ``rank`` (:func:`~hypergen.ghn.encodings.cyclic_index_encoding`).
        vocab_codes: rows of the learned code table for ``vocab_rows`` layouts (0: none, every code fixed).
        mip: rescale each conditioning vector to norm ``sqrt(hidden)`` first (magnitude-invariant inputs).
        fixed_output: check now that ``rank`` has a fixed read-out (:meth:`fixed_output`, used when the GHN's config
            asks for it).
        hidden_width: 0 for a linear core head; otherwise the core is a :class:`KernelMLP` with this many features
            per kernel position.

    Raises:
        ValueError: odd ``rank``; ``vocab_codes`` with an index encoding that depends on the width (``"relative"``:
            no single table matches it). KeyError: unknown ``index_encoding``.
    """

    def __init__(self, hidden: int, rank: int = 32, base: bool = True, seed: int = 0,
                 index_encoding: str = "cyclic", vocab_codes: int = 0, index_tilt: float = CYCLIC_TILT,
                 mip: bool = False, fixed_output: bool = False, hidden_width: int = 0) -> None:
        super().__init__()
        if rank % 2:
            raise ValueError(f"the core decoder's rank must be even, got {rank}")
        if fixed_output:
            hadamard_readout(rank)  # refuses ranks without one now, not at the first output layer
        if vocab_codes < 0 or (vocab_codes and index_encoding not in WIDTH_INDEPENDENT_ENCODINGS):
            raise ValueError(f"vocab_codes={vocab_codes} needs a non-negative size and a width-independent index "
                             f"encoding {WIDTH_INDEPENDENT_ENCODINGS}, got index_encoding={index_encoding!r}; set "
                             "vocab_codes=0 or index_encoding='identity'")
        self.rank, self.seed, self.mip = rank, seed, mip
        self._codes = IndexCodeCache(index_encoding, rank, seed, tilt=index_tilt)
        if hidden_width < 0:
            raise ValueError(f"core_hidden must be >= 0 (0: a linear core head), got {hidden_width}")
        self.core_head: nn.Module = (KernelMLP(hidden, hidden_width, rank) if hidden_width
                                     else nn.Linear(hidden, rank * rank * _BLOCK_KERNEL ** 2))
        self.vector_head = nn.Linear(hidden, rank)
        self.mix_head = mix_head(hidden) if base else None
        # [vocab_codes, r], starting at the fixed codes: the same predictions until trained
        self.vocab_codes = (nn.Parameter(self._codes.encode(vocab_codes, rank, seed=seed))
                            if vocab_codes else None)

    def row_codes(self, layout: TensorLayout, device: torch.device) -> Tensor:
        """``[rows, r]`` codes of the layout's rows: learned ones (up to the table's size) for ``vocab_rows``
        layouts when the decoder has a table, the fixed index encoding otherwise."""
        fixed = self._codes(layout.rows, device)
        if self.vocab_codes is None or not layout.vocab_rows:
            return fixed
        learned = self.vocab_codes[:layout.rows]
        return learned if learned.shape[0] == layout.rows else torch.cat([learned, fixed[learned.shape[0]:]])

    def fixed_output(self, layout: TensorLayout, count: int, device: torch.device) -> LowRankParams:
        """``count`` copies of the fixed read-out of an output layer: ``P(n) Q P(m)^T / r`` with the fixed index
        codes ``P`` and ``Q`` = :func:`hadamard_readout` (``GHNConfig.fixed_output``); no base, nothing learned.

        Raises:
            ValueError: for a layout that is not a matrix (an output layer is a linear layer's weight).
        """
        if layout.cols is None or layout.kernel_numel != 1:
            raise ValueError(f"a fixed read-out is a matrix; got an output layer of shape {layout.shape}")
        r = self.rank
        core = hadamard_readout(r).to(device)
        a = self._codes(layout.rows, device)  # [n, r]
        b = self._codes(layout.cols, device) @ core.t() / r  # [m, r]: P(m) Q^T
        return LowRankParams(a.expand(count, -1, -1), b.expand(count, -1, -1), layout)

    def forward(self, cond: Tensor, layout: TensorLayout,  # noqa: D102 (see ParamDecoder)
                ids: Tensor | None = None) -> DenseParams | LowRankParams:
        if self.mip:
            cond = magnitude_invariant(cond)
        g, r = cond.shape[0], self.rank
        rows = self.row_codes(layout, cond.device)  # [n, r]
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
    """The dense-core low-rank decoder sized by ``hidden``, ``rank``, ``base``, ``index_encoding``, ``index_tilt``,
    ``vocab_codes``, ``mip``, ``fixed_output`` and ``core_hidden`` of ``config``."""
    return CoreDecoder(config.hidden, config.rank, base=config.base, index_encoding=config.index_encoding,
                       vocab_codes=config.vocab_codes, index_tilt=config.index_tilt, mip=config.mip,
                       fixed_output=config.fixed_output, hidden_width=config.core_hidden)
