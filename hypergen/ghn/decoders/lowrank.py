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
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hypergen.ghn.decoders.base import DenseParams, LowRankParams, ParamDecoder, TensorLayout
from hypergen.ghn.decoders.registry import register_decoder
from hypergen.ghn.encodings import CYCLIC_TILT, KERNEL_FEATURES, IndexCodeCache, kernel_position_encoding

if TYPE_CHECKING:
    from hypergen.ghn.config import GHNConfig

__all__ = ["MIX_LOGIT_FLOOR", "LowRankDecoder", "lowrank_decoder", "magnitude_invariant", "mix_head", "mix_offset",
           "with_seeded_base"]


def mix_offset(rank: int, layout: TensorLayout) -> float:
    """Logit of the initial mix ``t0``: ``sin(t0)^2 = rank / min(rows, cols * kernel)``, capped at ``1 - 1e-3``.

    A rank-``r`` product with the mean square of an ``n x m`` tensor has singular values about ``sqrt(min(n, m) / r)``
    times larger than a full-rank one's; with this share they are about the base's, so wide layers start mostly
    full-rank, while layers no wider than ``r`` start as (nearly) the product alone: the GHN's own prediction, with
    nothing random in the way of learning. (Trained GHNs move the learned logit towards the product: by +0.4 to +5
    over 1300-step runs, 7 GHNs, 643 tensors each. A share set by the product's effective rank instead, which bounds
    its largest singular value by the base's, left 25-40% of the variance to the product in our training nets, and
    GHNs trained with 15% learned nothing in 340 steps.)
    """
    share = min(rank / min(layout.rows, (layout.cols or 1) * layout.kernel_numel), 1 - 1e-3)
    fraction = math.asin(math.sqrt(share)) / (math.pi / 2)  # t0 / (pi / 2)
    return math.log(fraction / (1 - fraction))


#: Lowest learned mix logit ``z(h)`` (relative to the start :func:`mix_offset`): the product keeps at least the share
#: ``sin(pi/2 * sigmoid(z0 - 1))^2`` (0.99 of a layer no wider than the rank). Without it, one GHN of 12 (cyclic
#: index codes, seed 1) walked every tensor's logit to -11 and predicted nothing but the seeded base; every other
#: trained GHN's logits stayed above +0.35, where this floor changes nothing (docs/results.md, issue 15).
MIX_LOGIT_FLOOR = -1.0


def magnitude_invariant(cond: Tensor) -> Tensor:
    """``[G, hidden]`` conditioning vectors rescaled to norm ``sqrt(hidden)`` (MIP's inputs: only their direction
    reaches the decoder's heads)."""
    return F.normalize(cond, dim=-1) * math.sqrt(cond.shape[-1])


def mix_head(hidden: int) -> nn.Linear:
    """The per-tensor mix logit ``z(h)`` of :func:`with_seeded_base`: zero at init (the start is :func:`mix_offset`)."""
    head = nn.Linear(hidden, 1)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def with_seeded_base(a: Tensor, b: Tensor, layout: TensorLayout, mix_logit: Tensor, rank: int,
                     ids: Tensor | None) -> LowRankParams:
    """``cos(t) * R + sin(t) * A B^T / rms(A B^T)`` as :class:`LowRankParams`, with ``R`` the seeded base of ``ids``
    (unit variance) and ``t = pi/2 * sigmoid(max(mix_logit, MIX_LOGIT_FLOOR) + z0)`` (``z0``: :func:`mix_offset` of
    ``rank``; the floor keeps the GHN from handing a tensor over to the base, :data:`MIX_LOGIT_FLOOR`).

    Raises:
        ValueError: ``ids`` is None (the base is seeded by them).
    """
    if ids is None:
        raise ValueError("this low-rank decoder has a seeded base and needs the tensors' ids")
    t = (math.pi / 2) * torch.sigmoid(mix_logit.clamp(min=MIX_LOGIT_FLOOR) + mix_offset(rank, layout))  # [G]
    low = LowRankParams(a, b, layout).low_rank_rms()
    a = a * (torch.sin(t) / (low + 1e-12)).view(-1, 1, 1)
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
        index_tilt: tilt of ``"cyclic"`` codes beyond ``index_features`` (:func:`~hypergen.ghn.encodings.
            cyclic_index_encoding`).
        base: matrices and kernels get a seeded full-rank base next to the low-rank product:
            ``cos(t) * R + sin(t) * L / rms(L)`` with ``R`` fixed pseudo-random values of unit variance (seeded by the
            tensor's id, :func:`~hypergen.ghn.encodings.seeded_uniform`), ``L`` the low-rank product and the mix
            ``t = pi/2 * sigmoid(z(h) + z0)`` learned per tensor, starting where the product's largest singular
            values match the base's (``z0``: :func:`mix_offset`). Predictions are full-rank at any
            width, and consecutive layers' factors, which share the index codes' subspace, no longer compound.

    Raises:
        ValueError: odd ``index_features``. KeyError: unknown ``index_encoding`` (lists the known ones).
    """

    def __init__(self, hidden: int, rank: int = 16, index_features: int = 64, mip: bool = False, seed: int = 0,
                 index_encoding: str = "relative", base: bool = False, index_tilt: float = CYCLIC_TILT):
        super().__init__()
        if index_features % 2:
            raise ValueError(f"index_features must be even, got {index_features}")
        self.rank, self.features, self.mip, self.seed = rank, index_features, mip, seed
        # fixed codes, not parameters
        self._index_encoding = IndexCodeCache(index_encoding, index_features, seed, tilt=index_tilt)
        core = index_features * rank
        self.row_head = nn.Linear(hidden, core)
        self.col_head = nn.Linear(hidden, core)
        self.kernel_head = nn.Linear(hidden, (KERNEL_FEATURES + 1) * rank)
        self.vector_head = nn.Linear(hidden, index_features)
        self.mix_head = mix_head(hidden) if base else None
        if mip:
            self.row_base = nn.Parameter(torch.randn(core) / math.sqrt(hidden))
            self.col_base = nn.Parameter(torch.randn(core) / math.sqrt(hidden))
            self.vector_base = nn.Parameter(torch.randn(index_features) / math.sqrt(hidden))

    def _inputs(self, cond: Tensor) -> Tensor:
        return magnitude_invariant(cond) if self.mip else cond

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
        return with_seeded_base(a, b, layout, self.mix_head(cond).squeeze(-1), r, ids)

    def _kernel_factor(self, cond: Tensor, kernel: tuple[int, ...]) -> Tensor:
        """``S``: ``[G, K, r]`` with unit RMS over the kernel positions of each rank component."""
        code = kernel_position_encoding(kernel, device=cond.device)
        code = torch.cat([code - code.mean(0), torch.ones_like(code[:, :1])], dim=1)  # [K, F + 1]
        s = torch.einsum("kf,gfr->gkr", code, self.kernel_head(cond).view(cond.shape[0], -1, self.rank))
        return s * torch.rsqrt(s.square().mean(1, keepdim=True) + 1e-12)


@register_decoder("lowrank")
def lowrank_decoder(config: GHNConfig) -> LowRankDecoder:
    """The factor-pair decoder sized by ``hidden``, ``rank``, ``index_features``, ``mip``, ``index_encoding``,
    ``index_tilt``, ``base`` of ``config``."""
    if config.vocab_codes:
        raise ValueError(f"the 'lowrank' decoder has no learned row codes; set vocab_codes=0 (got "
                         f"{config.vocab_codes}) or decoder='core'")
    return LowRankDecoder(config.hidden, config.rank, config.index_features, config.mip,
                          index_encoding=config.index_encoding, base=config.base, index_tilt=config.index_tilt)
