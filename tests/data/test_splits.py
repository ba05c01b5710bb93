"""Seeded train/val splits and subsets: sizes, disjointness, determinism."""

from __future__ import annotations

import pytest
import torch

from hypergen.data.splits import random_subset, train_val_split


def test_split_is_disjoint_covering_and_sized():
    train, val = train_val_split(60000, 0.1, seed=0)
    assert train.numel() == 54000 and val.numel() == 6000 and train.dtype == torch.int64
    assert torch.equal(torch.cat([train, val]).sort().values, torch.arange(60000))
    assert torch.all(train[1:] > train[:-1]) and torch.all(val[1:] > val[:-1])


def test_split_depends_only_on_seed():
    torch.manual_seed(1)
    first = train_val_split(1000, 0.2, seed=5)
    torch.manual_seed(2)  # the global generator must not matter (every DDP rank must agree)
    second = train_val_split(1000, 0.2, seed=5)
    other = train_val_split(1000, 0.2, seed=6)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not torch.equal(first[1], other[1])


def test_train_subset_is_a_subset_and_val_unchanged():
    full_train, full_val = train_val_split(1000, 0.2, seed=3)
    train, val = train_val_split(1000, 0.2, seed=3, train_subset=100)
    assert train.numel() == 100 and torch.equal(val, full_val)
    assert torch.isin(train, full_train).all()


def test_zero_and_tiny_fractions():
    train, val = train_val_split(10, 0.0, seed=0)
    assert train.numel() == 10 and val.numel() == 0
    assert train_val_split(10, 0.01, seed=0)[1].numel() == 1  # a positive fraction keeps at least one sample


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\)"),
        ({"val_fraction": 0.95}, "leaves nothing to train on"),
        ({"val_fraction": 0.1, "train_subset": 0}, "train_subset must be a positive"),
    ],
)
def test_split_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_val_split(10, seed=0, **kwargs)


def test_random_subset():
    indices = torch.arange(100, 200)
    subset = random_subset(indices, 10, seed=0)
    assert subset.numel() == 10 and torch.isin(subset, indices).all() and torch.equal(subset, subset.sort().values)
    assert torch.equal(subset, random_subset(indices, 10, seed=0))
    assert random_subset(indices, None, seed=0) is indices and random_subset(indices, 500, seed=0) is indices
