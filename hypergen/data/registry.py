"""The registry of task datasets: name -> :class:`DatasetSpec` subclass.

A spec is a small frozen dataclass. Its fields are the dataset's options (``root``, ``download`` and whatever the
dataset adds, e.g. ``image_size``); its properties say what a model trained on it must accept and predict
(``input_shape``, ``num_classes``), which task it is (``task``: ``"classification"`` or ``"language_model"``) and,
for classification, how inputs are normalised (``mean``, ``std``); :meth:`DatasetSpec.load` returns the raw ``train``
or ``test`` split, and ``val`` where the dataset has its own (``provides_val_split``). Each dataset registers its
spec in its own module with ``@register_dataset("name")``; the modules of ``hypergen.data`` that do so are imported
on the first lookup (see :class:`hypergen.registry.Registry`), and import their optional libraries (torchvision,
mnist1d, tokenizers) inside their functions, so ``import hypergen.data`` pulls in none of them.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, overload

from torch.utils.data import Dataset

from hypergen.registry import Registry
from hypergen.tasks import CLASSIFICATION

__all__ = [
    "AugmentConfig", "DatasetSpec", "Split", "get_dataset_class", "get_dataset_spec", "list_datasets",
    "register_dataset",
]

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class AugmentConfig:
    """Train-time augmentation of one sample (applied before normalisation, as torchvision does).

    Attributes:
        crop_padding: zero-pad every spatial side by this many pixels, then crop back to the input size at a random
            offset (``RandomCrop(size, padding=crop_padding)``); 0 turns it off.
        horizontal_flip: flip the last (width) axis with probability 1/2.
    """

    crop_padding: int = 0
    horizontal_flip: bool = False

    def __post_init__(self) -> None:
        if self.crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0, got {self.crop_padding}")

    @property
    def enabled(self) -> bool:
        """Whether any augmentation is switched on."""
        return self.crop_padding > 0 or self.horizontal_flip


@dataclass(frozen=True, kw_only=True)
class DatasetSpec(abc.ABC):
    """A dataset: its options (the dataclass fields), its properties and a loader.

    Subclasses set the properties either as class attributes (fixed datasets) or as properties computed from their
    fields (e.g. ``input_shape`` from ``image_size``).

    Attributes:
        root: folder holding the data (each dataset documents its layout and default).
        download: let the dataset download missing files (only datasets with a public download support it).
        name: a readable name for messages (class attribute), e.g. ``"Fashion-MNIST"``.
        default_augment: augmentation used when the caller does not choose one (class attribute).
        task: one of :data:`hypergen.tasks.TASKS` (class attribute). ``"classification"`` (default): samples ``(input, label)``,
            normalised with ``mean``/``std`` and augmented by :class:`~hypergen.data.TaskDataModule`.
            ``"language_model"``: samples ``(ids [T], next ids [T])`` int64, used unchanged; ``mean``/``std`` may
            raise.
        provides_val_split: ``load("val")`` gives the dataset's own validation set (class attribute); when False
            (default) the caller carves one out of ``load("train")``.
    """

    root: str | Path | None = None
    download: bool = False

    name: ClassVar[str] = ""
    default_augment: ClassVar[AugmentConfig] = AugmentConfig()
    task: ClassVar[str] = CLASSIFICATION
    provides_val_split: ClassVar[bool] = False

    @property
    @abc.abstractmethod
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample without the batch axis, e.g. ``(1, 28, 28)`` or ``(1, 40)``."""

    @property
    @abc.abstractmethod
    def num_classes(self) -> int:
        """Number of target classes; labels are ``0 .. num_classes - 1``."""

    @property
    @abc.abstractmethod
    def mean(self) -> tuple[float, ...]:
        """Per-channel mean of the training inputs (after scaling ``uint8`` to ``[0, 1]``), ``[channels]``.

        Classification datasets only; a ``"language_model"`` dataset raises ``TypeError`` (token ids are not
        normalised)."""

    @property
    @abc.abstractmethod
    def std(self) -> tuple[float, ...]:
        """Per-channel standard deviation of the training inputs, ``[channels]`` (classification datasets only)."""

    def prepare(self) -> None:
        """Download or generate files on disk (called once, on one process, before :meth:`load`); default: nothing."""
        return None

    @abc.abstractmethod
    def load(self, split: Split) -> Dataset:
        """Load one split.

        Args:
            split: ``"train"`` (the full training set; unless ``provides_val_split``, the validation set is carved
                out of it by the caller), ``"test"``, or ``"val"`` (only when ``provides_val_split``).

        Returns:
            A map-style dataset. Classification: ``(input, label)``, ``input`` ``uint8`` (images, ``[C, H, W]``,
            scaled by 1/255 later) or floating point (signals, ``[C, L]``), not yet normalised or augmented;
            ``label`` an int. Language modelling: ``(ids, next_ids)``, both int64 ``[T]``.
        """


SpecT = TypeVar("SpecT", bound=type[DatasetSpec])

#: Name -> spec class. Each built-in registers itself in its own module of ``hypergen.data`` with
#: ``@register_dataset("name")``; those modules are imported on the first lookup or listing (not at import).
_DATASETS: Registry[type[DatasetSpec]] = Registry(
    "dataset", "hypergen.data", "register_dataset", entry_point_group="hypergen.datasets",
    hint="Add one as a module of hypergen.data (or your own package) with an @register_dataset(<name>) "
         "DatasetSpec subclass (docs/data.md).",
)


@overload
def register_dataset(name: str, spec: None = None) -> Callable[[SpecT], SpecT]: ...


@overload
def register_dataset(name: str, spec: type[DatasetSpec] | str) -> type[DatasetSpec] | str: ...


def register_dataset(name: str, spec: type[DatasetSpec] | str | None = None) -> Any:
    """Register a dataset under ``name``; use as a call or as a class decorator.

    Args:
        name: registry key, e.g. ``"svhn"``; an existing key is replaced.
        spec: a :class:`DatasetSpec` subclass or the ``"module:attribute"`` path of one (imported on first use).
            Omit it to get a decorator.

    Returns:
        ``spec``, or a decorator that registers and returns the class it decorates.

    Example:
        >>> @register_dataset("my_task")
        ... @dataclass(frozen=True, kw_only=True)
        ... class MyTaskSpec(DatasetSpec): ...
    """
    if spec is None:

        def decorator(cls: SpecT) -> SpecT:
            register_dataset(name, cls)
            return cls

        return decorator
    if not isinstance(spec, str) and not (isinstance(spec, type) and issubclass(spec, DatasetSpec)):
        raise TypeError(f"dataset {name!r}: expected a DatasetSpec subclass or 'module:attribute', got {spec!r}")
    _DATASETS.register(name, spec)
    return spec


def list_datasets() -> list[str]:
    """Names of the registered datasets, sorted."""
    return _DATASETS.names()


def get_dataset_class(name: str) -> type[DatasetSpec]:
    """The spec class registered as ``name`` (its class attributes, e.g. ``task``, without building a spec).

    Raises:
        KeyError: ``name`` is not registered (the message lists the registered names).
    """
    return _DATASETS[name]


def get_dataset_spec(name: str, **options: Any) -> DatasetSpec:
    """Build the spec of dataset ``name`` with the given options.

    Args:
        name: a registered name (see :func:`list_datasets`), e.g. ``"fashion_mnist"``.
        **options: the spec's fields, e.g. ``root="/data"``, ``download=True``, ``image_size=64``.

    Returns:
        The spec; ``spec.input_shape``, ``spec.num_classes``, ``spec.mean``/``std`` describe the task.

    Raises:
        KeyError: ``name`` is not registered (the message lists the registered names).
        TypeError: an option is not a field of the spec (the message lists the accepted ones).
    """
    cls = get_dataset_class(name)
    accepted = [field.name for field in dataclasses.fields(cls) if field.init]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(f"dataset {name!r} has no option(s) {unknown}; accepted options: {accepted}")
    return cls(**options)
