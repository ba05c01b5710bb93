"""The registry of architecture families: name -> :class:`ArchFamily` (a sampler and a builder of specs).

A *spec* is a JSON-able dict ``{"family": ..., "input_shape": [...], "num_classes": ..., **family fields}``.
A family samples the family fields from a seeded RNG for a :class:`~hypergen.archs.splits.Split`, validates them
and builds an ``nn.Module`` from them. Adding a family is one module under ``hypergen/archs/`` with one
``@register_family`` class (found on the first lookup, see :class:`hypergen.registry.Registry`) plus its
``conf/archs/<name>.yaml`` (see ``docs/archs.md``).
"""

from __future__ import annotations

import abc
import random
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from hypergen.archs.splits import Split
from hypergen.registry import Registry
from hypergen.tasks import CLASSIFICATION, check_task

__all__ = ["ArchFamily", "get_family", "list_families", "register_family", "COMMON_KEYS"]

#: Keys every spec has, whatever its family.
COMMON_KEYS: tuple[str, ...] = ("family", "input_shape", "num_classes")

Spec = Mapping[str, Any]


class ArchFamily(abc.ABC):
    """A family of architectures: sample family fields, validate them, build a module.

    Class attributes:
        name: registry name (the spec's ``"family"``).
        keys: the family's own spec keys (besides :data:`COMMON_KEYS`).
        optional_keys: spec keys that may be left out, each with the value that leaving it out means. A field
            added to a family after specs were published is optional, so earlier specs stay valid; its default is
            left out of the canonical JSON (:func:`hypergen.archs.spec.spec_key`) whether written or not, so a spec
            keeps its hash and train/test membership either way.
        input_ranks: accepted lengths of ``input_shape`` (e.g. ``(3,)`` for ``[C, H, W]`` images).
        input_description: what ``input_shape`` means, for messages, e.g. ``"[channels, height, width]"``.
        options: sampling options the family's :meth:`sample` takes as keyword arguments (name -> description),
            e.g. restricting the ops of ``deepnets`` cells; none by default.
        task: what the nets are trained on, one of :data:`hypergen.tasks.TASKS`: ``"classification"`` (the
            default: logits ``[B, num_classes]`` for labels ``[B]``) or ``"language_model"`` (token ids ``[B, T]`` to
            next-token logits ``[B, T, vocab]``). Training checks it against the dataset's ``task``.
    """

    name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]]
    optional_keys: ClassVar[Mapping[str, Any]] = {}
    input_ranks: ClassVar[tuple[int, ...]]
    input_description: ClassVar[str]
    options: ClassVar[Mapping[str, str]] = {}
    task: ClassVar[str] = CLASSIFICATION

    @abc.abstractmethod
    def sample(self, rng: random.Random, split: Split, input_shape: tuple[int, ...], num_classes: int,
               **options: Any) -> dict:
        """Draw the family fields of one spec (JSON types only: int, float, str, bool, lists, dicts).

        ``options`` are the family's sampling options (:attr:`options`), already checked by :meth:`check_options`.
        """

    def check_options(self, options: Mapping[str, Any], input_shape: tuple[int, ...]) -> None:
        """Check sampling options before any draw: names here, values in the family's override.

        Raises:
            ValueError: an option the family does not have (lists those it has), or a bad value (names it).
        """
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(f"{k} ({v})" for k, v in self.options.items()) or "none"
            raise ValueError(f"architecture family {self.name!r} has no sampling option(s) {unknown}; "
                             f"its options: {known}")

    def check_split_options(self, split: Split, options: Mapping[str, Any]) -> None:
        """Check that ``options`` make sense for ``split`` (e.g. not undo what a held-out split is about).

        Raises:
            ValueError: naming the option and the split.
        """

    @abc.abstractmethod
    def validate(self, spec: Spec) -> None:
        """Check the family fields (the common keys are already valid).

        Raises:
            InvalidSpecError: naming the offending key and its valid range.
        """

    @abc.abstractmethod
    def build(self, spec: Spec) -> nn.Module:
        """Build the module of a valid spec (parameters go to the ambient ``torch.device`` context)."""

    def count_params(self, spec: Spec) -> int:
        """Parameter scalars of the spec's model (tied parameters once). Default: build it on ``meta`` and count;
        families override this with something cheaper where rejection sampling under parameter bounds is slow."""
        with torch.device("meta"):
            model = self.build(spec)
        return sum(p.numel() for p in model.parameters())

    @abc.abstractmethod
    def summary(self, spec: Spec) -> dict[str, float]:
        """Size statistics of a spec: at least ``depth`` (layers/blocks/cells) and ``width`` (base channels)."""

    def reference_nets(self, input_shape: tuple[int, ...], num_classes: int) -> dict[str, dict]:
        """Named hand-designed nets of this family for an input shape: name -> family fields."""
        return {}

    def example_input(self, spec: Spec, batch_size: int, device: torch.device) -> Tensor:
        """A batch of inputs ``[batch_size, *input_shape]`` (standard normal; uninitialised on ``meta``)."""
        shape = (batch_size, *spec["input_shape"])
        return torch.empty(shape, device=device) if device.type == "meta" else torch.randn(shape, device=device)

    def output_shape(self, spec: Spec, batch_size: int) -> tuple[int, ...]:
        """Shape of the model's output for a batch: ``[batch_size, num_classes]`` by default."""
        return (batch_size, spec["num_classes"])

    def where(self, key: str) -> str:
        """Prefix for messages about ``key``: ``"<family> spec: '<key>'"``."""
        return f"{self.name} spec: {key!r}"


#: Name -> family instance. Each built-in registers itself in its own module of ``hypergen.archs`` with
#: ``@register_family``; those modules are imported on the first lookup or listing (not at import).
_FAMILIES: Registry[ArchFamily] = Registry(
    "architecture family", "hypergen.archs", "register_family", entry_point_group="hypergen.families",
    hint="Add one as a module with an @register_family ArchFamily subclass (docs/archs.md).",
)

F = TypeVar("F", bound=type[ArchFamily])


def register_family(cls: F) -> F:
    """Class decorator: register an instance of ``cls`` under ``cls.name`` (replacing an earlier one).

    Raises:
        TypeError: ``cls`` is not an :class:`ArchFamily` subclass or has no ``name``.
        ValueError: ``cls.task`` is not one of :data:`hypergen.tasks.TASKS` (names the family).
    """
    if not (isinstance(cls, type) and issubclass(cls, ArchFamily)) or not getattr(cls, "name", ""):
        raise TypeError(f"@register_family takes an ArchFamily subclass with a class attribute `name`, got {cls!r}")
    check_task(cls.task, f"architecture family {cls.name!r} ({cls.__name__}.task)")
    _FAMILIES.register(cls.name, cls())
    return cls


def get_family(name: str) -> ArchFamily:
    """The family registered as ``name``.

    Raises:
        KeyError: for an unknown name; the message lists the registered families.
    """
    return _FAMILIES[name]


def list_families() -> list[str]:
    """Registered family names, sorted."""
    return _FAMILIES.names()
