"""What every parameter decoder receives and returns, and how a tensor shape maps to rows, columns and kernel."""

from __future__ import annotations

import dataclasses

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hypergen.ghn.encodings import seeded_uniform

__all__ = ["TensorLayout", "ParamDecoder", "RawParams", "DenseParams", "LowRankParams"]


@dataclass(frozen=True)
class TensorLayout:
    """How a decoder sees a parameter shape: ``rows x cols x kernel`` (or a vector of ``rows``).

    Leading size-1 dims are dropped first, so a ViT position embedding ``[1, 197, 768]`` is a ``197 x 768`` matrix
    and a class token ``[1, 1, 768]`` a vector; a conv weight ``[out, in/groups, *kernel]`` keeps its kernel.

    ``vocab_rows`` marks matrices whose rows are indexed by ids (tokens, positions, output classes: embedding tables
    and output layers) rather than by units; decoders with learned row codes (the core decoder's ``vocab_codes``)
    use them there, the others ignore it. The GHN sets it only when its config asks for learned codes.
    """

    shape: tuple[int, ...]
    rows: int
    cols: int | None
    kernel: tuple[int, ...]
    vocab_rows: bool = False

    @classmethod
    def of(cls, shape: tuple[int, ...], vocab_rows: bool = False) -> TensorLayout:
        """Layout of a parameter shape (``()`` counts as one element); ``vocab_rows`` only applies to matrices."""
        dims = list(shape)
        while len(dims) > 1 and dims[0] == 1:
            dims.pop(0)
        if len(dims) <= 1:
            return cls(tuple(shape), dims[0] if dims else 1, None, ())
        return cls(tuple(shape), dims[0], dims[1], tuple(dims[2:]), vocab_rows)

    @property
    def kernel_numel(self) -> int:
        """Number of kernel positions (1 without a kernel)."""
        return math.prod(self.kernel)


class RawParams:
    """Raw decoder output for ``G`` tensors of one layout, kept in whatever form is cheapest until materialised."""

    layout: TensorLayout

    def rms(self) -> Tensor:
        """``[G]`` root-mean-square of each tensor."""
        raise NotImplementedError

    def mean(self) -> Tensor:
        """``[G]`` mean of each tensor."""
        raise NotImplementedError

    def materialize(self, scale: Tensor, offset: Tensor, out: Tensor | None = None) -> Tensor:
        """``[G, *shape]`` values ``scale * raw + offset`` with ``scale, offset`` of shape ``[G]``.

        ``out`` (contiguous float32 ``[G, *shape]``) receives the values without an intermediate copy.
        """
        raise NotImplementedError

    def select(self, index: int) -> RawParams:
        """The raw values of tensor ``index`` alone (``G = 1``)."""
        raise NotImplementedError

    def finite(self) -> Tensor:
        """``[G]`` whether every stored value of each tensor is finite (checked on factors, not the product)."""
        raise NotImplementedError

    def center_units(self) -> RawParams:
        """The same tensors less their mean unit (output row): what all units share, which would give them one
        template (a classifier whose rows are equal predicts every class alike). Vectors are returned unchanged."""
        raise NotImplementedError


@dataclass
class DenseParams(RawParams):
    """Raw values held densely: ``values [G, *shape]``."""

    values: Tensor
    layout: TensorLayout

    def rms(self) -> Tensor:  # noqa: D102
        flat = self.values.reshape(self.values.shape[0], -1)  # 0-dim parameters too: [G] -> [G, 1]
        return torch.linalg.vector_norm(flat, dim=1) / math.sqrt(max(flat.shape[1], 1))

    def mean(self) -> Tensor:  # noqa: D102
        return self.values.reshape(self.values.shape[0], -1).mean(dim=1)

    def materialize(self, scale: Tensor, offset: Tensor, out: Tensor | None = None) -> Tensor:  # noqa: D102
        view = (-1,) + (1,) * (self.values.dim() - 1)
        if out is None:
            return torch.addcmul(offset.view(view), self.values, scale.view(view))
        return torch.addcmul(offset.view(view), self.values, scale.view(view), out=out)

    def select(self, index: int) -> DenseParams:  # noqa: D102
        return DenseParams(self.values[index:index + 1], self.layout)

    def finite(self) -> Tensor:  # noqa: D102
        return torch.isfinite(self.values.reshape(self.values.shape[0], -1)).all(1)

    def center_units(self) -> DenseParams:  # noqa: D102
        if self.layout.cols is None:
            return self
        return DenseParams(self.values - self.values.mean(dim=1, keepdim=True), self.layout)


@dataclass
class LowRankParams(RawParams):
    """Raw values as factors: tensor ``g`` is ``(a[g] @ b[g].T).reshape(shape)``, never formed before scaling,
    plus, when ``base_scale`` is given, ``base_scale[g]`` times a seeded full-rank base
    (:func:`~hypergen.ghn.encodings.seeded_uniform` of ``base_ids[g]``: mean 0, variance 1).

    Attributes:
        a: ``[G, rows, r]``.
        b: ``[G, cols * kernel, r]``.
        base_scale: ``[G]`` weight of the base, or ``None`` for none.
        base_ids: ``[G]`` ids seeding the base.
    """

    a: Tensor
    b: Tensor
    layout: TensorLayout
    base_scale: Tensor | None = None
    base_ids: Tensor | None = None

    def low_rank_rms(self) -> Tensor:
        """``[G]`` root-mean-square of the low-rank part alone."""
        # ||A B^T||_F^2 = trace((A^T A)(B^T B)): r x r products instead of the full tensor.
        gram_a = self.a.transpose(1, 2) @ self.a
        gram_b = self.b.transpose(1, 2) @ self.b
        sq = (gram_a * gram_b).sum(dim=(1, 2)).clamp(min=0)
        return torch.sqrt(sq / (self.a.shape[1] * self.b.shape[1]) + 1e-12)  # eps: finite gradient at 0

    def rms(self) -> Tensor:  # noqa: D102
        # the base has unit mean square and is uncorrelated with the factors (up to O(1/sqrt(numel)))
        low = self.low_rank_rms()
        return low if self.base_scale is None else torch.sqrt(low.square() + self.base_scale.square())

    def mean(self) -> Tensor:  # noqa: D102
        # mean of A B^T = (sum of A's rows) . (sum of B's rows) / (rows * cols); the base has mean 0
        return (self.a.sum(1) * self.b.sum(1)).sum(-1) / (self.a.shape[1] * self.b.shape[1])

    def materialize(self, scale: Tensor, offset: Tensor, out: Tensor | None = None) -> Tensor:  # noqa: D102
        # scale * A B^T + offset = [scale * A, offset] [B, 1]^T: one batched matmul writes the result once (added to
        # the scaled base, drawn straight into the result, when there is one)
        g, rows, _ = self.a.shape
        cols = self.b.shape[1]
        a = torch.cat([self.a * scale.view(-1, 1, 1), offset.view(-1, 1, 1).expand(g, rows, 1)], dim=2)
        b = torch.cat([self.b, self.b.new_ones(g, cols, 1)], dim=2).transpose(1, 2)
        target = out.view(g, rows, cols) if out is not None else None
        base_scale = None if self.base_scale is None else (scale * self.base_scale).view(-1, 1, 1)
        if base_scale is None:
            values = torch.bmm(a, b, out=target) if target is not None else torch.bmm(a, b)
        elif torch.is_grad_enabled() and (a.requires_grad or b.requires_grad or base_scale.requires_grad):
            base = seeded_uniform(self.base_ids, rows * cols).view(g, rows, cols)
            values = torch.baddbmm(base * base_scale, a, b)
        else:
            # no autograd (inference, init_ writing into parameters): the base is drawn straight into the result and
            # scaled and added to in place, one buffer instead of three (the draws dominate prediction time; each
            # extra buffer cost a pass and fresh pages)
            values = target if target is not None else a.new_empty(g, rows, cols)
            seeded_uniform(self.base_ids, rows * cols, out=values)
            values.mul_(base_scale).baddbmm_(a, b)
        return out if out is not None else values.reshape(g, *self.layout.shape)

    def finite(self) -> Tensor:  # noqa: D102
        ok = torch.isfinite(self.a).flatten(1).all(1) & torch.isfinite(self.b).flatten(1).all(1)
        return ok if self.base_scale is None else ok & torch.isfinite(self.base_scale)

    def center_units(self) -> LowRankParams:  # noqa: D102
        # the mean row of A B^T is (mean row of A) B^T; the seeded base has mean 0 and is left as it is
        return dataclasses.replace(self, a=self.a - self.a.mean(dim=1, keepdim=True))

    def select(self, index: int) -> LowRankParams:  # noqa: D102
        part = slice(index, index + 1)
        return LowRankParams(self.a[part], self.b[part], self.layout,
                             None if self.base_scale is None else self.base_scale[part],
                             None if self.base_ids is None else self.base_ids[part])


class ParamDecoder(nn.Module):
    """Interface: conditioning vectors of ``G`` parameters of one shape -> their raw (unscaled) values.

    Subclasses implement :meth:`forward`; :mod:`hypergen.ghn.scaling` turns raw values into weights without
    materialising them more than once.
    """

    def forward(self, cond: Tensor, layout: TensorLayout, ids: Tensor | None = None) -> RawParams:
        """Decode.

        Args:
            cond: ``[G, hidden]`` one conditioning vector per parameter tensor.
            layout: the common shape of the ``G`` tensors.
            ids: ``[G]`` stable ids of the tensors (their position among their graph's parameters), for decoders
                with a seeded component; ``None`` where the caller has none.

        Returns:
            raw values of the ``G`` tensors (:class:`DenseParams` or :class:`LowRankParams`).
        """
        raise NotImplementedError
