"""Checks of spec fields: each raises :class:`InvalidSpecError` naming the family, the key and the valid range."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

__all__ = [
    "InvalidSpecError", "check_bool", "check_choice", "check_choice_list", "check_float", "check_int",
    "check_int_list", "check_keys", "check_same_length",
]


class InvalidSpecError(ValueError):
    """An architecture spec has a missing, unknown or out-of-range field; the message names it."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_keys(mapping: Mapping[str, Any], where: str, keys: Collection[str], optional: Collection[str] = ()) -> None:
    """Require exactly ``keys`` in ``mapping``, plus any of ``optional``; ``where`` names it in messages (e.g.
    ``"resnet spec"``).

    Raises:
        InvalidSpecError: naming the first missing key (with all valid keys) or the unknown keys.
    """
    missing = [k for k in keys if k not in mapping]
    valid = sorted({*keys, *optional})
    if missing:
        raise InvalidSpecError(f"{where}: missing key {missing[0]!r}; it needs the keys {sorted(keys)}"
                               + (f" (optional: {sorted(optional)})" if optional else ""))
    unknown = sorted(k for k in mapping if k not in valid)
    if unknown:
        raise InvalidSpecError(f"{where}: unknown key(s) {unknown}; valid keys are {valid}")


def check_int(value: Any, where: str, lo: int, hi: int) -> int:
    """``value`` must be an int in ``[lo, hi]``; ``where`` names it in the message (e.g. ``"vit spec: 'depth'"``)."""
    if not _is_int(value) or not lo <= value <= hi:
        raise InvalidSpecError(f"{where} must be an int in [{lo}, {hi}], got {value!r}")
    return value


def check_float(value: Any, where: str, lo: float, hi: float) -> float:
    """``value`` must be a number in ``[lo, hi]`` (ints are accepted)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidSpecError(f"{where} must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def check_bool(value: Any, where: str) -> bool:
    """``value`` must be ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise InvalidSpecError(f"{where} must be true or false, got {value!r}")
    return value


def check_choice(value: Any, where: str, choices: Iterable[Any]) -> Any:
    """``value`` must be one of ``choices``."""
    choices = list(choices)
    if not any(type(value) is type(choice) and value == choice for choice in choices):  # 1.0 / True are not 1
        raise InvalidSpecError(f"{where} must be one of {choices}, got {value!r}")
    return value


def check_int_list(value: Any, where: str, lo: int, hi: int, min_len: int = 1, max_len: int = 64) -> list[int]:
    """``value`` must be a list of ``min_len..max_len`` ints, each in ``[lo, hi]``."""
    if not isinstance(value, list) or not min_len <= len(value) <= max_len:
        raise InvalidSpecError(f"{where} must be a list of {min_len} to {max_len} ints, got {value!r}")
    for i, item in enumerate(value):
        check_int(item, f"{where}[{i}]", lo, hi)
    return value


def check_choice_list(value: Any, where: str, choices: Iterable[Any], min_len: int = 1, max_len: int = 64) -> list:
    """``value`` must be a list of ``min_len..max_len`` items, each one of ``choices``."""
    choices = list(choices)
    if not isinstance(value, list) or not min_len <= len(value) <= max_len:
        raise InvalidSpecError(f"{where} must be a list of {min_len} to {max_len} items from {choices}, got {value!r}")
    for i, item in enumerate(value):
        check_choice(item, f"{where}[{i}]", choices)
    return value


def check_same_length(spec: Mapping[str, Any], family: str, keys: Iterable[str]) -> None:
    """The lists under ``keys`` (one entry per stage) must have equal lengths."""
    keys = list(keys)
    lengths = {k: len(spec[k]) for k in keys}
    if len(set(lengths.values())) > 1:
        raise InvalidSpecError(f"{family} spec: {keys} are per-stage lists and must have the same length, got "
                               f"lengths {lengths}")
