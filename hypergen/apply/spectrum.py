"""Orthogonalising predicted weights before fine-tuning: keep the GHN's singular directions, flatten its spectrum.

A GHN's predictions are structured: tiled blocks repeat rows, low-rank factors span few directions, and layers of
one shape often get near-copies of one tensor. Such a net starts above chance but fine-tunes slowly, because most of
each layer's singular values are close to zero. Replacing every weight matrix ``W = U S V^T`` by its polar factor
``U V^T`` (rescaled to ``W``'s Frobenius norm) keeps the directions the GHN chose and gives every one of them equal
weight, in the spirit of ppuda, which orthogonalises GHN-2's predictions (and adds noise) before fine-tuning. The
no-training accuracy drops (the spectrum carried part of the function); how it fine-tunes is measured in
``docs/results.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["orthogonalize", "orthogonalize_"]


def orthogonalize(weight: Tensor) -> Tensor:
    """The polar factor of ``weight`` seen as a ``[size(0), rest]`` matrix, with ``weight``'s Frobenius norm.

    Singular values that are zero (exactly repeated rows, a low-rank product) get directions chosen by the SVD,
    which also breaks the symmetry between repeated rows.

    Args:
        weight: a tensor of rank >= 2 (conv ``[out, in, *kernel]``, linear ``[out, in]``, ...).

    Returns:
        A new tensor of ``weight``'s shape and dtype.

    Raises:
        ValueError: ``weight`` has rank < 2 (a vector has no spectrum to flatten).
    """
    if weight.dim() < 2:
        raise ValueError(f"orthogonalize needs a tensor of rank >= 2, got shape {tuple(weight.shape)}")
    matrix = weight.detach().reshape(weight.shape[0], -1).double()
    u, _, vh = torch.linalg.svd(matrix, full_matrices=False)
    polar = u @ vh  # every singular value 1: Frobenius norm sqrt(min(rows, cols))
    polar *= matrix.norm() / math.sqrt(min(matrix.shape))
    return polar.reshape(weight.shape).to(weight.dtype)


def orthogonalize_(tensors: Iterable[Tensor]) -> int:
    """:func:`orthogonalize` every tensor of rank >= 2 in place (vectors are left as they are).

    Returns:
        How many tensors were changed.
    """
    changed = 0
    with torch.no_grad():
        for tensor in tensors:
            if tensor.dim() >= 2:
                tensor.copy_(orthogonalize(tensor))
                changed += 1
    return changed
