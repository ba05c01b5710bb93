"""Low-rank decoder: every weight is a product of factors whose rows follow the target's size.

``W[o, c, k] = sum_r A[o, r] * B[c, r] * S[k, r]`` with ``A = P(n) @ U(h)``, ``B = P(m) @ V(h)`` and
``S = Q(kernel) @ M(h)``, where ``P(n)`` is the fixed encoding of ``n`` positions (by default relative to the width,
:func:`~hypergen.ghn.encodings.index_encoding`; or width-independent; see
:data:`~hypergen.ghn.encodings.INDEX_ENCODINGS`), ``Q`` the centred encoding of the kernel positions plus a constant
column (:func:`~hypergen.ghn.encodings.kernel_position_encoding`), and ``U``, ``V``, ``M`` map the parameter's
conditioning vector ``h`` to small ``E x r`` (``(F + 1) x r``) cores. The kernel factor ``S`` is explicit
(a CP decomposition along the kernel): predicted filters have spatial structure from the start (an additive kernel
code fed through the column head gave nearly flat 3x3 filters, ~5% of their variance across positions, and the GHN
learned slowly); vectors and matrices skip it. The decoder's size depends
on ``hidden``, ``E`` and ``r`` only: any width, vocabulary, number of classes or kernel size works, and the full
factors are never larger than the target (unlike decoders that build maximal factors and slice them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hypergen.ghn.decoders.base import DenseParams, LowRankParams, ParamDecoder, TensorLayout
from hypergen.ghn.encodings import INDEX_ENCODINGS, KERNEL_FEATURES, kernel_position_encoding
from hypergen.registry import lookup

__all__ = ["LowRankDecoder"]

_CACHE_SIZE = 512  # distinct widths whose index encodings are kept


class LowRankDecoder(ParamDecoder):
    """Rank-``r`` decoder for vectors, matrices and convolution kernels of any size.

    Args:
        hidden: width of the conditioning vectors.
        rank: ``r``.
        index_features: ``E``, width of the index encodings.
        mip: magnitude-invariant parametrization: unit-norm inputs and outputs added to learned input-independent
            cores (HyperLight).
        seed: seed of the index encodings' pseudo-random frequencies.
        index_encoding: name in :data:`~hypergen.ghn.encodings.INDEX_ENCODINGS` (``"absolute"``, ``"relative"``).

    Raises:
        ValueError: odd ``index_features``. KeyError: unknown ``index_encoding`` (lists the known ones).
    """

    def __init__(self, hidden: int, rank: int = 16, index_features: int = 64, mip: bool = False, seed: int = 0,
                 index_encoding: str = "relative"):
        super().__init__()
        if index_features % 2:
            raise ValueError(f"index_features must be even, got {index_features}")
        self.rank, self.features, self.mip, self.seed = rank, index_features, mip, seed
        self.encode_index = lookup(INDEX_ENCODINGS, index_encoding, "index encoding")
        self._cache: dict[tuple[int, str], Tensor] = {}  # fixed encodings by (width, device); not parameters
        core = index_features * rank
        self.row_head = nn.Linear(hidden, core)
        self.col_head = nn.Linear(hidden, core)
        self.kernel_head = nn.Linear(hidden, (KERNEL_FEATURES + 1) * rank)
        self.vector_head = nn.Linear(hidden, index_features)
        if mip:
            self.row_base = nn.Parameter(torch.randn(core) / math.sqrt(hidden))
            self.col_base = nn.Parameter(torch.randn(core) / math.sqrt(hidden))
            self.vector_base = nn.Parameter(torch.randn(index_features) / math.sqrt(hidden))

    def _index_encoding(self, n: int, device: torch.device) -> Tensor:
        """Cached index encoding (the same widths recur in every layer and every step)."""
        key = (n, str(device))
        if key not in self._cache:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = self.encode_index(n, self.features, seed=self.seed, device=device)
        return self._cache[key]

    def _inputs(self, cond: Tensor) -> Tensor:
        return F.normalize(cond, dim=-1) * math.sqrt(cond.shape[-1]) if self.mip else cond

    def forward(self, cond: Tensor, layout: TensorLayout) -> DenseParams | LowRankParams:  # noqa: D102
        cond = self._inputs(cond)
        g, e, r = cond.shape[0], self.features, self.rank
        rows = self._index_encoding(layout.rows, cond.device)  # [n, E]
        if layout.cols is None:
            v = self.vector_head(cond) + (self.vector_base if self.mip else 0)  # [G, E]
            return DenseParams((v @ rows.t() / math.sqrt(e)).reshape(g, *layout.shape), layout)
        row_core = (self.row_head(cond) + (self.row_base if self.mip else 0)).view(g, e, r)
        col_core = (self.col_head(cond) + (self.col_base if self.mip else 0)).view(g, e, r)
        cols = self._index_encoding(layout.cols, cond.device)  # [m, E]
        a = torch.einsum("ne,ger->gnr", rows, row_core)  # [G, n, r]
        b = torch.einsum("me,ger->gmr", cols, col_core)  # [G, m, r]
        if layout.kernel_numel > 1:
            b = (b[:, :, None, :] * self._kernel_factor(cond, layout.kernel)[:, None]).reshape(g, -1, r)  # [G, m*K, r]
        return LowRankParams(a / (e * math.sqrt(r)), b, layout)

    def _kernel_factor(self, cond: Tensor, kernel: tuple[int, ...]) -> Tensor:
        """``S``: ``[G, K, r]`` with unit RMS over the kernel positions of each rank component."""
        code = kernel_position_encoding(kernel, device=cond.device)
        code = torch.cat([code - code.mean(0), torch.ones_like(code[:, :1])], dim=1)  # [K, F + 1]
        s = torch.einsum("kf,gfr->gkr", code, self.kernel_head(cond).view(cond.shape[0], -1, self.rank))
        return s * torch.rsqrt(s.square().mean(1, keepdim=True) + 1e-12)
