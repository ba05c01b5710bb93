"""Workarounds for the Python environments hypergen runs in (see ``docs/install.md``)."""

from __future__ import annotations

from hypergen.compat.torchvision_ops import ensure_torchvision_importable, torchvision_native_ops_available

__all__ = ["ensure_torchvision_importable", "torchvision_native_ops_available"]
