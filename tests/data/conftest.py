"""Fixtures for the data tests: the installed Fashion-MNIST, and small fake datasets written to ``tmp_path``."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest

from hypergen.data.fashion_mnist import FashionMNISTSpec, find_idx_file
from hypergen.data.registry import get_dataset_spec


@pytest.fixture(scope="session")
def fashion_spec() -> FashionMNISTSpec:
    """The Fashion-MNIST spec at its default root (skips where the Debian package is not installed)."""
    spec = get_dataset_spec("fashion_mnist")
    try:
        find_idx_file(spec.data_root, "train-images-idx3-ubyte")
    except FileNotFoundError as err:
        pytest.skip(f"Fashion-MNIST is not installed ({err})")
    return spec


@pytest.fixture(scope="session")
def fashion_train(fashion_spec):
    return fashion_spec.load("train")


@pytest.fixture(scope="session")
def fashion_test(fashion_spec):
    return fashion_spec.load("test")


@pytest.fixture(scope="session")
def mnist1d_spec():
    """The default MNIST-1D spec, generated once per session (about 1.5 s)."""
    pytest.importorskip("mnist1d", reason="install with `pip install 'hypergen[data]'`")
    spec = get_dataset_spec("mnist1d")
    spec.prepare()
    return spec


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# What torchvision expects of each CIFAR release (torchvision/datasets/cifar.py).
_CIFAR_LAYOUTS = {
    "cifar10": {
        "class": "CIFAR10", "folder": "cifar-10-batches-py", "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": "test_batch", "num_classes": 10, "meta": "batches.meta", "meta_key": "label_names",
        "label_key": "labels",
    },
    "cifar100": {
        "class": "CIFAR100", "folder": "cifar-100-python", "train": ["train"], "test": "test", "num_classes": 100,
        "meta": "meta", "meta_key": "fine_label_names", "label_key": "fine_labels",
    },
}


def _write_cifar_batch(path: Path, images: np.ndarray, labels: list[int], label_key: str) -> None:
    # The release stores each image as 3072 bytes: the red plane, then green, then blue (CHW).
    entry = {"data": images.transpose(0, 3, 1, 2).reshape(len(images), -1), label_key: labels}
    if label_key == "fine_labels":
        entry["coarse_labels"] = [label // 5 for label in labels]
    path.write_bytes(pickle.dumps(entry))


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    """Write CIFAR-10 or CIFAR-100 in torchvision's python-pickle layout under ``tmp_path``.

    Returns ``make(kind, train_per_file=6, num_test=5) -> (root, {"train": (images, labels), "test": ...})`` with
    images ``[N, 32, 32, 3]`` uint8 and labels a list of ints. torchvision checks every file against the MD5 of the
    real release, which no fake file can match, so the fixture sets torchvision's expected digests (the class
    attributes ``train_list``, ``test_list`` and ``meta``, restored after the test) to the digests of the fake
    files; the integrity check and the whole loading code path then run unchanged.
    """
    datasets = pytest.importorskip("torchvision.datasets")

    def make(kind: str, train_per_file: int = 6, num_test: int = 5):
        layout = _CIFAR_LAYOUTS[kind]
        directory = tmp_path / layout["folder"]
        directory.mkdir()
        rng = np.random.default_rng(0)
        files = [("train", name, train_per_file) for name in layout["train"]] + [("test", layout["test"], num_test)]
        written: dict[str, list] = {"train": [], "test": []}
        for split, name, count in files:
            images = rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)
            labels = rng.integers(0, layout["num_classes"], size=count).tolist()
            _write_cifar_batch(directory / name, images, labels, layout["label_key"])
            written[split].append((images, labels))
        meta = {layout["meta_key"]: [f"class_{i}" for i in range(layout["num_classes"])]}
        (directory / layout["meta"]).write_bytes(pickle.dumps(meta))

        cls = getattr(datasets, layout["class"])
        monkeypatch.setattr(cls, "train_list", [[name, _md5(directory / name)] for name in layout["train"]])
        monkeypatch.setattr(cls, "test_list", [[layout["test"], _md5(directory / layout["test"])]])
        meta_md5 = _md5(directory / layout["meta"])
        monkeypatch.setattr(cls, "meta", {"filename": layout["meta"], "key": layout["meta_key"], "md5": meta_md5})
        merged = {
            split: (np.concatenate([images for images, _ in parts]), [y for _, labels in parts for y in labels])
            for split, parts in written.items()
        }
        return tmp_path, merged

    return make


@pytest.fixture
def fake_imagefolder(tmp_path):
    """``tmp_path/train/<class>/*.png`` and ``tmp_path/val/<class>/*.png``: 3 classes, 4 + 2 images each.

    Each image is filled with one colour per class (class ``k`` -> RGB ``(40 k, 100, 250 - 40 k)``), sizes vary
    (10x12 and 12x10) so that resizing and cropping are exercised. Returns the root.
    """
    image_module = pytest.importorskip("PIL.Image")
    for split, per_class in (("train", 4), ("val", 2)):
        for k, name in enumerate(["ant", "bee", "cat"]):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                height, width = (10, 12) if i % 2 == 0 else (12, 10)
                pixels = np.empty((height, width, 3), dtype=np.uint8)
                pixels[...] = (40 * k, 100, 250 - 40 * k)
                image_module.fromarray(pixels).save(folder / f"{i}.png")
    return tmp_path
