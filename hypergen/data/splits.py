"""Seeded index splits: train/validation from one training set, and fixed random subsets.

Pure functions of ``(size, fraction, seed)``: every process of a distributed run computes the same split.
"""

from __future__ import annotations

import torch

__all__ = ["random_subset", "train_val_split"]


def _permutation(num_items: int, seed: int) -> torch.Tensor:
    return torch.randperm(num_items, generator=torch.Generator().manual_seed(seed))


def train_val_split(
    num_items: int, val_fraction: float, seed: int, train_subset: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``range(num_items)`` at random into disjoint training and validation indices.

    Args:
        num_items: size of the training set to split.
        val_fraction: share for validation, in ``[0, 1)``; ``round(val_fraction * num_items)`` items, at least one
            when ``val_fraction > 0``.
        seed: seed of the permutation (independent of torch's global generator).
        train_subset: keep only this many training indices (a fixed random subset), e.g. for quick runs.

    Returns:
        ``train [num_train]`` and ``val [num_val]`` int64 indices, each sorted ascending.

    Raises:
        ValueError: ``val_fraction`` outside ``[0, 1)``, nothing left for training, or ``train_subset`` < 1.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    num_val = max(1, round(val_fraction * num_items)) if val_fraction > 0 else 0
    if num_val >= num_items:
        raise ValueError(f"val_fraction={val_fraction} of {num_items} items leaves nothing to train on")
    if train_subset is not None and train_subset < 1:
        raise ValueError(f"train_subset must be a positive number of samples or None, got {train_subset}")
    order = _permutation(num_items, seed)
    val, train = order[:num_val], order[num_val:]
    if train_subset is not None:
        train = train[:train_subset]
    return train.sort().values, val.sort().values


def random_subset(indices: torch.Tensor, size: int | None, seed: int) -> torch.Tensor:
    """A fixed random subset of ``indices`` (all of them if ``size`` is None or not smaller).

    Args:
        indices: ``[N]`` int64 indices.
        size: how many to keep.
        seed: seed of the choice.

    Returns:
        ``[min(size, N)]`` int64 indices, sorted ascending.
    """
    if size is None or size >= indices.numel():
        return indices
    if size < 1:
        raise ValueError(f"subset size must be a positive number of samples or None, got {size}")
    return indices[_permutation(indices.numel(), seed)[:size]].sort().values
