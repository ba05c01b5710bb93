"""Orthogonalising predicted weights before fine-tuning: keep the GHN's singular directions, flatten its spectrum.

A GHN's predictions are structured: tiled blocks repeat rows, low-rank factors span few directions, and layers of
one shape often get near-copies of one tensor. Such a net starts above chance but fine-tunes slowly, because most of
each layer's singular values are close to zero. Replacing every weight matrix ``W = U S V^T`` by its polar factor
``U V^T`` (rescaled to ``W``'s Frobenius norm) keeps the directions the GHN chose and gives every one of them equal
weight, in the spirit of ppuda, which orthogonalises GHN-2's predictions (and adds noise) before fine-tuning. The
no-training accuracy drops (the spectrum carried part of the function); how it fine-tunes is measured in
``docs/results.md``.

The polar factor comes from the eigendecomposition of the smaller Gram matrix (``W W^T`` or ``W^T W``, in float64),
several times cheaper than an SVD of a wide matrix; where that matrix is too ill-conditioned for it (a singular value
below :data:`GRAM_MIN_RATIO` times the largest: repeated rows, a pure low-rank product) the SVD is used.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["GRAM_MIN_RATIO", "orthogonalize", "orthogonalize_"]

#: Smallest ratio of singular values (smallest / largest) for which the polar factor is taken from the Gram matrix's
#: eigendecomposition; its float64 error grows like 1e-16 times the squared ratio's inverse (~1e-8 at this bound).
GRAM_MIN_RATIO = 1e-4


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
    polar = _polar_from_gram(matrix)
    if polar is None:
        u, _, vh = torch.linalg.svd(matrix, full_matrices=False)
        polar = u @ vh  # every singular value 1: Frobenius norm sqrt(min(rows, cols))
    polar *= matrix.norm() / math.sqrt(min(matrix.shape))
    return polar.reshape(weight.shape).to(weight.dtype)


def _polar_from_gram(matrix: Tensor) -> Tensor | None:
    """``U V^T`` of a float64 ``matrix`` from the eigendecomposition of its smaller Gram matrix, or ``None`` when a
    singular value is below ``GRAM_MIN_RATIO`` times the largest (the eigenvalues cannot resolve its direction)."""
    wide = matrix.shape[0] <= matrix.shape[1]
    short = matrix if wide else matrix.T  # rows <= columns
    eigenvalues, vectors = torch.linalg.eigh(short @ short.T)  # ascending: sigma^2
    if not eigenvalues[0] > GRAM_MIN_RATIO ** 2 * eigenvalues[-1]:
        return None
    polar = (vectors * eigenvalues.rsqrt()) @ (vectors.T @ short)  # Q S^-1 Q^T A = U V^T
    return polar if wide else polar.T


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
