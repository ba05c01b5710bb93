"""Dataset registry: names, errors that list the alternatives, and registering a new dataset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from hypergen.data import registry
from hypergen.data.datasets import InMemoryDataset
from hypergen.data.registry import DatasetSpec, get_dataset_spec, list_datasets, register_dataset


def test_builtin_datasets_are_listed():
    assert list_datasets() == ["cifar10", "cifar100", "fashion_mnist", "imagefolder", "mnist1d", "text"]


@pytest.mark.parametrize(
    ("name", "options", "input_shape", "num_classes", "channels"),
    [
        ("fashion_mnist", {}, (1, 28, 28), 10, 1),
        ("mnist1d", {}, (1, 40), 10, 1),
        ("mnist1d", {"flatten": True, "sequence_length": 64}, (64,), 10, 1),
        ("cifar10", {}, (3, 32, 32), 10, 3),
        ("cifar100", {}, (3, 32, 32), 100, 3),
    ],
)
def test_spec_properties(name, options, input_shape, num_classes, channels):
    spec = get_dataset_spec(name, **options)
    assert spec.input_shape == input_shape and spec.num_classes == num_classes
    assert len(spec.mean) == len(spec.std) == channels and all(s > 0 for s in spec.std)


def test_unknown_name_lists_known_datasets():
    with pytest.raises(KeyError, match=r"unknown dataset 'mnist2d'.*'fashion_mnist'.*'mnist1d'"):
        get_dataset_spec("mnist2d")


def test_unknown_option_lists_accepted_options():
    with pytest.raises(TypeError, match=r"'cifar10' has no option\(s\) \['image_size'\]; accepted options: \['root', "):
        get_dataset_spec("cifar10", image_size=64)


def test_download_refused_where_unsupported():
    with pytest.raises(ValueError, match="dataset-fashion-mnist"):
        get_dataset_spec("fashion_mnist", download=True)
    with pytest.raises(ValueError, match="never downloaded"):
        get_dataset_spec("mnist1d", download=True)


def test_register_dataset_as_decorator(monkeypatch):
    monkeypatch.setattr(registry, "_DATASETS", registry._DATASETS.copy())

    @register_dataset("parity")
    @dataclass(frozen=True, kw_only=True)
    class ParitySpec(DatasetSpec):
        length: int = 8
        num_classes: ClassVar[int] = 2
        mean: ClassVar[tuple[float, ...]] = (0.5,)
        std: ClassVar[tuple[float, ...]] = (0.5,)

        @property
        def input_shape(self) -> tuple[int, ...]:
            return (1, self.length)

        def load(self, split):
            bits = torch.randint(0, 2, (32, 1, self.length), generator=torch.Generator().manual_seed(len(split)))
            return InMemoryDataset(bits.float(), bits.sum(dim=(1, 2)) % 2)

    assert "parity" in list_datasets()
    spec = get_dataset_spec("parity", length=5)
    assert isinstance(spec, ParitySpec) and spec.input_shape == (1, 5)
    x, y = spec.load("train")[0]
    assert x.shape == (1, 5) and y == int(x.sum()) % 2


def test_register_rejects_non_specs():
    with pytest.raises(TypeError, match="'bad'"):
        register_dataset("bad", object)  # type: ignore[arg-type]
