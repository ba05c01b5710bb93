"""What every parameter decoder receives and returns, and how a tensor shape maps to rows, columns and kernel."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["TensorLayout", "ParamDecoder", "RawParams", "DenseParams", "LowRankParams"]


@dataclass(frozen=True)
class TensorLayout:
    """How a decoder sees a parameter shape: ``rows x cols x kernel`` (or a vector of ``rows``).

    Leading size-1 dims are dropped first, so a ViT position embedding ``[1, 197, 768]`` is a ``197 x 768`` matrix
    and a class token ``[1, 1, 768]`` a vector; a conv weight ``[out, in/groups, *kernel]`` keeps its kernel.
    """

    shape: tuple[int, ...]
    rows: int
    cols: int | None
    kernel: tuple[int, ...]

    @classmethod
    def of(cls, shape: tuple[int, ...]) -> TensorLayout:
        """Layout of a parameter shape (``()`` counts as one element)."""
        dims = list(shape)
        while len(dims) > 1 and dims[0] == 1:
            dims.pop(0)
        if len(dims) <= 1:
            return cls(tuple(shape), dims[0] if dims else 1, None, ())
        return cls(tuple(shape), dims[0], dims[1], tuple(dims[2:]))

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


@dataclass
class LowRankParams(RawParams):
    """Raw values as factors: tensor ``g`` is ``(a[g] @ b[g].T).reshape(shape)``, never formed before scaling.

    Attributes:
        a: ``[G, rows, r]``.
        b: ``[G, cols * kernel, r]``.
    """

    a: Tensor
    b: Tensor
    layout: TensorLayout

    def rms(self) -> Tensor:  # noqa: D102
        # ||A B^T||_F^2 = trace((A^T A)(B^T B)): r x r products instead of the full tensor.
        gram_a = self.a.transpose(1, 2) @ self.a
        gram_b = self.b.transpose(1, 2) @ self.b
        sq = (gram_a * gram_b).sum(dim=(1, 2)).clamp(min=0)
        return torch.sqrt(sq / (self.a.shape[1] * self.b.shape[1]))

    def mean(self) -> Tensor:  # noqa: D102
        # mean of A B^T = (sum of A's rows) . (sum of B's rows) / (rows * cols)
        return (self.a.sum(1) * self.b.sum(1)).sum(-1) / (self.a.shape[1] * self.b.shape[1])

    def materialize(self, scale: Tensor, offset: Tensor, out: Tensor | None = None) -> Tensor:  # noqa: D102
        # scale * A B^T + offset = [scale * A, offset] [B, 1]^T: one batched matmul writes the result once
        g, rows, _ = self.a.shape
        a = torch.cat([self.a * scale.view(-1, 1, 1), offset.view(-1, 1, 1).expand(g, rows, 1)], dim=2)
        b = torch.cat([self.b, self.b.new_ones(g, self.b.shape[1], 1)], dim=2)
        if out is None:
            return torch.bmm(a, b.transpose(1, 2)).reshape(g, *self.layout.shape)
        torch.bmm(a, b.transpose(1, 2), out=out.view(g, rows, self.b.shape[1]))
        return out

    def select(self, index: int) -> LowRankParams:  # noqa: D102
        return LowRankParams(self.a[index:index + 1], self.b[index:index + 1], self.layout)


class ParamDecoder(nn.Module):
    """Interface: conditioning vectors of ``G`` parameters of one shape -> their raw (unscaled) values.

    Subclasses implement :meth:`forward`; :mod:`hypergen.ghn.scaling` turns raw values into weights without
    materialising them more than once.
    """

    def forward(self, cond: Tensor, layout: TensorLayout) -> RawParams:
        """Decode.

        Args:
            cond: ``[G, hidden]`` one conditioning vector per parameter tensor.
            layout: the common shape of the ``G`` tensors.

        Returns:
            raw values of the ``G`` tensors (:class:`DenseParams` or :class:`LowRankParams`).
        """
        raise NotImplementedError
