"""CIFAR-10/100 and ImageFolder through torchvision, on small fake datasets written to tmp_path."""

from __future__ import annotations

import pytest
import torch

from hypergen.data.registry import get_dataset_spec
from hypergen.data.vision import DATA_ROOT_ENV_VAR, default_data_root

pytest.importorskip("torchvision")


@pytest.mark.parametrize(("kind", "train_size", "num_classes"), [("cifar10", 5 * 6, 10), ("cifar100", 6, 100)])
def test_cifar_loads_torchvision_layout(fake_cifar, kind, train_size, num_classes):
    root, written = fake_cifar(kind)
    spec = get_dataset_spec(kind, root=root)
    assert spec.num_classes == num_classes
    for split, size in (("train", train_size), ("test", 5)):
        dataset = spec.load(split)
        images, labels = written[split]
        assert len(dataset) == size and dataset.inputs.shape == (size, 3, 32, 32)
        assert dataset.inputs.dtype == torch.uint8 and dataset.inputs.is_contiguous()
        # Channel-first view of exactly the pixels written (HWC on disk as CHW planes -> our CHW).
        assert torch.equal(dataset.inputs, torch.from_numpy(images).permute(0, 3, 1, 2))
        assert dataset.targets.tolist() == labels


def test_cifar_missing_files_say_how_to_get_them(tmp_path):
    message = r"CIFAR-10 not found or corrupted under .*download=True.*cifar-10-batches-py"
    with pytest.raises(FileNotFoundError, match=message):
        get_dataset_spec("cifar10", root=tmp_path).load("train")


def test_cifar_corrupt_file_fails_the_md5_check(fake_cifar):
    root, _ = fake_cifar("cifar10")
    with open(root / "cifar-10-batches-py" / "data_batch_3", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(FileNotFoundError, match="not found or corrupted"):
        get_dataset_spec("cifar10", root=root).load("test")


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ROOT_ENV_VAR, str(tmp_path))
    assert default_data_root() == tmp_path and get_dataset_spec("cifar100").data_root == tmp_path
    monkeypatch.delenv(DATA_ROOT_ENV_VAR)
    assert default_data_root().parts[-3:] == (".cache", "hypergen", "datasets")


def test_imagefolder_resizes_crops_and_labels(fake_imagefolder):
    spec = get_dataset_spec("imagefolder", root=fake_imagefolder, image_size=8, mean=(0.5,) * 3, std=(0.25,) * 3)
    assert spec.classes == ["ant", "bee", "cat"] and spec.num_classes == 3 and spec.input_shape == (3, 8, 8)
    train, test = spec.load("train"), spec.load("test")
    assert len(train) == 12 and len(test) == 6
    for index in range(len(train)):
        image, label = train[index]
        assert image.shape == (3, 8, 8) and image.dtype == torch.uint8
        # Solid colour per class survives resizing: class k is (40 k, 100, 250 - 40 k).
        assert image[:, 4, 4].tolist() == [40 * label, 100, 250 - 40 * label]
    assert sorted(label for _, label in test) == [0, 0, 1, 1, 2, 2]


def test_imagefolder_errors(fake_imagefolder, tmp_path):
    with pytest.raises(ValueError, match="needs a root.*data.root=<folder>"):
        get_dataset_spec("imagefolder")
    with pytest.raises(FileNotFoundError, match=r"test folder .*nope does not exist.*test_dir="):
        get_dataset_spec("imagefolder", root=fake_imagefolder, test_dir="nope").load("test")
    (fake_imagefolder / "val" / "cat").rename(fake_imagefolder / "val" / "dog")
    with pytest.raises(ValueError, match="both splits need the same class folders"):
        get_dataset_spec("imagefolder", root=fake_imagefolder, image_size=8).load("test")
