"""Splits: registry, hash parts of train/test, parameter bounds."""

from __future__ import annotations

import pytest

from hypergen.archs import Split, get_split, list_splits
from hypergen.archs.splits import TEST_BUCKETS, in_test_part


def test_splits_of_the_references_are_registered():
    assert list_splits() == ["train", "test", "wide", "deep", "dense", "no_norm"]
    assert get_split("train").part == "train" and get_split("test").part == "test"
    assert get_split("wide").wide and get_split("deep").deep and get_split("dense").dense
    assert not get_split("no_norm").norm and get_split("train").norm
    assert get_split("train").param_bounds == (1_000, 2_000_000)
    custom = Split("tiny", param_bounds=(0, 10))
    assert get_split(custom) is custom


def test_unknown_split_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown architecture split 'val'; known splits: \['train', 'test'"):
        get_split("val")


def test_bad_bounds():
    with pytest.raises(ValueError, match=r"split 'x': param_bounds must be \(min, max\)"):
        Split("x", param_bounds=(10, 5))


def test_test_part_is_one_bucket_in_ten():
    share = sum(in_test_part(f'{{"i":{i}}}') for i in range(5000)) / 5000
    assert TEST_BUCKETS == 10 and abs(share - 0.1) < 0.015
    assert in_test_part('{"i":7}') == in_test_part('{"i":7}')
