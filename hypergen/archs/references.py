"""Named hand-designed reference nets (ResNet-20/18, ViT-Ti, MobileNet-V2, DARTS, ...) for a task's input shape.

Each family lists its reference nets (:meth:`~hypergen.archs.registry.ArchFamily.reference_nets`); here they are
collected for the families that accept the input shape. Reference nets are held-out architectures: they are not
constrained by any split's parameter bounds.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from hypergen.archs.registry import get_family, list_families
from hypergen.archs.spec import validate_spec, validate_task
from hypergen.archs.validation import InvalidSpecError

__all__ = ["reference_spec", "reference_specs"]


def reference_specs(input_shape: Sequence[int], num_classes: int,
                    families: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every reference net of ``families`` (default: all) that can take ``input_shape``: name -> spec.

    Raises:
        KeyError: for an unknown family name.
    """
    shape = [int(d) for d in input_shape]
    specs: dict[str, dict[str, Any]] = {}
    for name in families if families is not None else list_families():
        family = get_family(name)
        try:
            validate_task(family, shape, num_classes)
        except InvalidSpecError:
            if families is not None:
                raise
            continue
        for net, fields in family.reference_nets(tuple(shape), num_classes).items():
            spec = {"family": family.name, "input_shape": list(shape), "num_classes": num_classes,
                    **copy.deepcopy(fields)}
            validate_spec(spec)
            specs[net] = spec
    return specs


def reference_spec(name: str, input_shape: Sequence[int], num_classes: int) -> dict[str, Any]:
    """The reference net called ``name`` for a task.

    Raises:
        KeyError: if no family that accepts ``input_shape`` has a reference net called ``name`` (lists those that do).
    """
    specs = reference_specs(input_shape, num_classes)
    try:
        return specs[name]
    except KeyError:
        raise KeyError(f"no reference net {name!r} for input_shape {list(input_shape)}; available: "
                       f"{sorted(specs)}") from None
