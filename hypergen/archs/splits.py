"""Splits of the architecture space: in-distribution ``train``/``test`` and held-out ``wide``/``deep``/``dense``/``no_norm``.

A :class:`Split` is a few knobs that every family interprets in its sampler (wider stages, more layers, denser
connections, no normalisation layers) plus parameter-count bounds. ``train`` and ``test`` draw from the same
distribution and are made disjoint by the spec's hash (:func:`in_test_part`): a spec belongs to ``test`` iff its
canonical JSON hashes into the test bucket, so no test spec is ever sampled for training, whatever the seeds.
The held-out splits are disjoint from ``train`` by construction (their knob ranges do not overlap the training
ranges; see ``docs/archs.md``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

__all__ = ["Split", "get_split", "in_test_part", "list_splits", "register_split", "TEST_BUCKETS"]

#: One spec in ``TEST_BUCKETS`` (by hash) belongs to the in-distribution ``test`` split, the rest to ``train``.
TEST_BUCKETS = 10


@dataclass(frozen=True)
class Split:
    """One split of an architecture family's space.

    Attributes:
        name: registry name, e.g. ``"wide"``.
        wide: sample stage widths above the training range.
        deep: sample more layers/cells/blocks than the training range.
        dense: denser connectivity (more nodes and inputs per DARTS cell; every block reading the mean of all
            earlier block outputs of its stage elsewhere).
        norm: whether nets have normalisation layers (``False``: every norm is left out).
        part: ``"train"`` / ``"test"``: keep only specs of that hash part (in-distribution splits); ``None``: all.
        param_bounds: inclusive ``(min, max)`` parameter counts of accepted specs.
        description: one line for docs and messages.
    """

    name: str
    wide: bool = False
    deep: bool = False
    dense: bool = False
    norm: bool = True
    part: Literal["train", "test"] | None = None
    param_bounds: tuple[int, int] = (1_000, 2_000_000)
    description: str = ""

    def __post_init__(self) -> None:
        lo, hi = self.param_bounds
        if not 0 <= lo <= hi:
            raise ValueError(f"split {self.name!r}: param_bounds must be (min, max) with 0 <= min <= max, got "
                             f"{self.param_bounds}")


_SPLITS: dict[str, Split] = {}


def register_split(split: Split) -> Split:
    """Add (or replace) a split under ``split.name``; returns it."""
    _SPLITS[split.name] = split
    return split


def get_split(name: str | Split) -> Split:
    """The split called ``name`` (a :class:`Split` is returned as is).

    Raises:
        KeyError: for an unknown name; the message lists the known splits.
    """
    if isinstance(name, Split):
        return name
    try:
        return _SPLITS[name]
    except KeyError:
        raise KeyError(f"unknown architecture split {name!r}; known splits: {list_splits()}") from None


def list_splits() -> list[str]:
    """Registered split names, in registration order."""
    return list(_SPLITS)


def in_test_part(spec_key: str) -> bool:
    """Whether the spec with canonical JSON ``spec_key`` belongs to the in-distribution ``test`` part."""
    digest = hashlib.sha256(spec_key.encode()).digest()
    return int.from_bytes(digest[:8], "little") % TEST_BUCKETS == 0


for _split in (
    Split("train", part="train", description="in-distribution nets for training"),
    Split("test", part="test", description="in-distribution held-out nets (same distribution, disjoint by hash)"),
    Split("wide", wide=True, param_bounds=(1_000, 30_000_000), description="wider stages than any train net"),
    Split("deep", deep=True, param_bounds=(1_000, 10_000_000), description="more cells/blocks than any train net"),
    Split("dense", dense=True, param_bounds=(1_000, 5_000_000), description="denser cells / dense block connections"),
    Split("no_norm", norm=False, description="train-like nets without normalisation layers"),
):
    register_split(_split)
