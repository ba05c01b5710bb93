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

__all__ = ["INITIAL_MIX_LOGIT", "LowRankDecoder", "with_seeded_base"]

_CACHE_SIZE = 512  # distinct widths whose index encodings are kept


_POWER_STEPS = 12
#: ``t = pi/2 * sigmoid(logit)`` starts at ``pi/6``: the product weighs half the base (``tan(pi/6) = 0.58``), so even
#: in its own directions it amplifies less than a typical direction of the base (ResNet-50, untrained GHN, eval mode
#: with BatchNorm statistics kept: output std 12x default init's at ``pi/4``).
INITIAL_MIX_LOGIT = -math.log(2.0)


def _top_singular_value(a: Tensor, b: Tensor) -> Tensor:
    """``[G]`` largest singular value of ``a[g] @ b[g].T`` from ``r x r`` Gram matrices (power iteration)."""
    m = (a.transpose(1, 2) @ a) @ (b.transpose(1, 2) @ b)  # [G, r, r], eigenvalues = squared singular values
    v = torch.ones(m.shape[0], m.shape[1], 1, device=m.device, dtype=m.dtype)
    with torch.no_grad():  # the direction converges without gradients; the value below keeps them
        for _ in range(_POWER_STEPS):
            v = m @ v
            v = v / (v.norm(dim=1, keepdim=True) + 1e-30)
    return ((v.transpose(1, 2) @ m @ v).squeeze(-1).squeeze(-1) / (v.square().sum((1, 2)) + 1e-30)).clamp(
        min=0).sqrt()


def with_seeded_base(a: Tensor, b: Tensor, layout: TensorLayout, mix_logit: Tensor,
                     ids: Tensor | None) -> LowRankParams:
    """``cos(t) * R + sin(t) * s * A B^T`` as :class:`LowRankParams`, with ``R`` the seeded base of ``ids``
    (unit variance), ``s`` scaling the product's largest singular value to the base's root-mean-square one
    (``sqrt(max(n, m K))``) and ``t = pi/2 * sigmoid(mix_logit)`` (``pi/6`` at init, :data:`INITIAL_MIX_LOGIT`): no direction of the product
    amplifies more than a typical direction of the base, so the products of consecutive layers, which share the index
    codes' subspace, do not compound through depth.

    Raises:
        ValueError: ``ids`` is None (the base is seeded by them).
    """
    if ids is None:
        raise ValueError("this low-rank decoder has a seeded base and needs the tensors' ids")
    t = (math.pi / 2) * torch.sigmoid(mix_logit)  # [G]
    reference = math.sqrt(max(layout.rows, (layout.cols or 1) * layout.kernel_numel))
    a = a * (torch.sin(t) * reference / (_top_singular_value(a, b) + 1e-12)).view(-1, 1, 1)
    return LowRankParams(a, b, layout, base_scale=torch.cos(t), base_ids=ids)


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
        base: matrices and kernels get a seeded full-rank base next to the low-rank product:
            ``cos(t) * R + sin(t) * s L`` with ``R`` fixed pseudo-random values of unit variance (seeded by the
            tensor's id, :func:`~hypergen.ghn.encodings.seeded_uniform`), ``L`` the low-rank product and the mix
            ``t = pi/2 * sigmoid(z(h))`` learned per tensor, the product scaled so its largest singular value
            is the base's (:func:`with_seeded_base`). Predictions are full-rank at any
            width, and consecutive layers' factors, which share the index codes' subspace, no longer compound.

    Raises:
        ValueError: odd ``index_features``. KeyError: unknown ``index_encoding`` (lists the known ones).
    """

    def __init__(self, hidden: int, rank: int = 16, index_features: int = 64, mip: bool = False, seed: int = 0,
                 index_encoding: str = "relative", base: bool = False):
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
        self.mix_head = nn.Linear(hidden, 1) if base else None
        if self.mix_head is not None:
            nn.init.zeros_(self.mix_head.weight)
            nn.init.constant_(self.mix_head.bias, INITIAL_MIX_LOGIT)
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

    def forward(self, cond: Tensor, layout: TensorLayout,  # noqa: D102
                ids: Tensor | None = None) -> DenseParams | LowRankParams:
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
        a = a / (e * math.sqrt(r))
        if self.mix_head is None:
            return LowRankParams(a, b, layout)
        return with_seeded_base(a, b, layout, self.mix_head(cond).squeeze(-1), ids)

    def _kernel_factor(self, cond: Tensor, kernel: tuple[int, ...]) -> Tensor:
        """``S``: ``[G, K, r]`` with unit RMS over the kernel positions of each rank component."""
        code = kernel_position_encoding(kernel, device=cond.device)
        code = torch.cat([code - code.mean(0), torch.ones_like(code[:, :1])], dim=1)  # [K, F + 1]
        s = torch.einsum("kf,gfr->gkr", code, self.kernel_head(cond).view(cond.shape[0], -1, self.rank))
        return s * torch.rsqrt(s.square().mean(1, keepdim=True) + 1e-12)
