"""Task data: the datasets a GHN's predicted models are trained and evaluated on.

A registry maps names to dataset specs (:func:`get_dataset_spec`, :func:`list_datasets`, :func:`register_dataset`):
``fashion_mnist`` (default), ``mnist1d``, ``cifar10``, ``cifar100``, ``imagefolder`` (classification) and ``text``
(causal language modelling). :class:`TaskDataModule` wraps any of them for Lightning. See ``docs/data.md``.

``TaskDataModule`` is imported on first access, since it imports ``lightning``; the registry needs only torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypergen.data.registry import (AugmentConfig, DatasetSpec, Split, get_dataset_class, get_dataset_spec,
                                     list_datasets, register_dataset)
from hypergen.data.transforms import SampleTransform

if TYPE_CHECKING:
    from hypergen.data.datamodule import TaskDataModule

__all__ = [
    "AugmentConfig", "DatasetSpec", "SampleTransform", "Split", "TaskDataModule", "get_dataset_class",
    "get_dataset_spec", "list_datasets", "register_dataset",
]


def __getattr__(name: str) -> Any:
    if name == "TaskDataModule":
        from hypergen.data.datamodule import TaskDataModule

        return TaskDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
