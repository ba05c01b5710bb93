"""Helpers shared by hypergen's small registries (op types, model sources, GNNs, decoders, datasets)."""

from __future__ import annotations

import importlib
from typing import TypeVar

__all__ = ["lookup", "resolve"]

T = TypeVar("T")


def lookup(table: dict[str, T], name: str, what: str, error: type[Exception] = KeyError) -> T:
    """``table[name]``, or ``error`` naming ``what`` was asked for and listing the registered names."""
    try:
        return table[name]
    except KeyError:
        raise error(f"unknown {what} {name!r}; registered: {sorted(table)}") from None


def resolve(entry: T | str) -> T:
    """An entry registered lazily as ``"package.module:attribute"`` is imported on first use; others pass through.

    Raises:
        ImportError: if the module cannot be imported (e.g. an optional dependency is missing).
    """
    if not isinstance(entry, str):
        return entry
    module_name, _, attr = entry.partition(":")
    return getattr(importlib.import_module(module_name), attr)
