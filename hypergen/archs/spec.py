"""Specs: validation, canonical JSON, building modules and example inputs.

A spec is a plain dict ``{"family": str, "input_shape": [int, ...], "num_classes": int, **family fields}`` that
survives ``json.loads(json.dumps(spec))`` unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from hypergen.archs.registry import COMMON_KEYS, ArchFamily, get_family, list_families
from hypergen.archs.validation import InvalidSpecError, check_int, check_keys

__all__ = [
    "build", "count_params", "example_input", "output_shape", "spec_from_json", "spec_key", "spec_summary",
    "validate_spec", "validate_task", "MAX_NUM_CLASSES",
]

#: Upper bound on ``num_classes`` (large enough for any tokenizer's vocabulary).
MAX_NUM_CLASSES = 1_000_000
_MAX_DIM = 1 << 16


def _registered_family(name: Any) -> ArchFamily | None:
    """The family registered as ``name``, or ``None`` (also for a name that is not a string)."""
    try:
        return get_family(name)
    except (KeyError, TypeError):
        return None


def _family_of(spec: Any) -> ArchFamily:
    if not isinstance(spec, Mapping):
        raise InvalidSpecError(f"an architecture spec must be a dict, got {type(spec).__name__}")
    if "family" not in spec:
        raise InvalidSpecError(f"spec has no 'family' key; use one of {list_families()}")
    family = _registered_family(spec["family"])
    if family is None:
        raise InvalidSpecError(f"spec 'family' {spec['family']!r} is not registered; use one of {list_families()}")
    return family


def validate_task(family: ArchFamily, input_shape: Any, num_classes: Any) -> None:
    """Check that ``family`` can take inputs of ``input_shape`` (a list of ints) and predict ``num_classes``.

    Raises:
        InvalidSpecError: naming ``input_shape`` or ``num_classes`` and what the family accepts.
    """
    where = f"{family.name} spec: 'input_shape'"
    if not isinstance(input_shape, list) or len(input_shape) not in family.input_ranks:
        lengths = " or ".join(map(str, family.input_ranks))
        raise InvalidSpecError(f"{where} must be a list {family.input_description} ({lengths} positive ints), "
                               f"got {input_shape!r}")
    for i, dim in enumerate(input_shape):
        check_int(dim, f"{where}[{i}]", 1, _MAX_DIM)
    check_int(num_classes, f"{family.name} spec: 'num_classes'", 1, MAX_NUM_CLASSES)


def validate_spec(spec: Mapping[str, Any]) -> None:
    """Check that ``spec`` can be built: common keys first, then the family's fields.

    Raises:
        InvalidSpecError: (a ``ValueError``) naming the offending key and its valid values or range.
    """
    family = _family_of(spec)
    check_keys(spec, f"{family.name} spec", (*COMMON_KEYS, *family.keys), family.optional_keys)
    validate_task(family, spec["input_shape"], spec["num_classes"])
    family.validate(spec)


def spec_key(spec: Mapping[str, Any]) -> str:
    """Canonical JSON of a spec (sorted keys, no spaces, optional fields at their default left out): specs that
    build the same net give equal keys; used for hashing and caching."""
    family = _registered_family(spec.get("family"))
    defaults = family.optional_keys if family is not None else {}
    canonical = {k: v for k, v in spec.items() if k not in defaults or v != defaults[k]}
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"))


def spec_from_json(text: str) -> dict[str, Any]:
    """Parse and validate a spec written by ``json.dumps`` or :func:`spec_key`.

    Raises:
        InvalidSpecError: if the JSON is not a valid spec.
    """
    spec = json.loads(text)
    validate_spec(spec)
    return spec


def build(spec: Mapping[str, Any], device: torch.device | str = "cpu", *, validate: bool = True) -> nn.Module:
    """Build the module described by ``spec`` with its parameters on ``device`` (``"meta"`` allocates nothing).

    Raises:
        InvalidSpecError: if ``validate`` and the spec is invalid.
    """
    family = _family_of(spec)
    if validate:
        validate_spec(spec)
    with torch.device(device):
        return family.build(spec)


def example_input(spec: Mapping[str, Any], batch_size: int = 2, device: torch.device | str = "cpu") -> Tensor:
    """A batch the model of ``spec`` accepts.

    Shapes: images ``[B, C, H, W]``, 1-D signals ``[B, C, L]``, MLP inputs ``[B, *input_shape]`` (flattened by the
    model), token ids ``[B, T]`` (int64, ``gpt``). Values are random on real devices, uninitialised on ``meta``.
    """
    return _family_of(spec).example_input(spec, batch_size, torch.device(device))


def output_shape(spec: Mapping[str, Any], batch_size: int = 2) -> tuple[int, ...]:
    """Shape of the model's output for a batch: ``[B, num_classes]``, or ``[B, T, num_classes]`` for ``gpt``."""
    return _family_of(spec).output_shape(spec, batch_size)


def count_params(spec: Mapping[str, Any]) -> int:
    """Number of parameter scalars of the spec's model (tied parameters counted once; see
    :meth:`ArchFamily.count_params`)."""
    return _family_of(spec).count_params(spec)


def spec_summary(spec: Mapping[str, Any]) -> dict[str, float]:
    """The family's size statistics of a spec (``depth``, ``width`` and family-specific entries)."""
    return _family_of(spec).summary(spec)
