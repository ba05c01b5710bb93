"""Fashion-MNIST (Xiao et al., 2017): 70k 28x28 grey images of clothes, 10 classes; the default task.

Read from the IDX files of the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``)
with our own reader, so neither torchvision nor a network connection is needed. The whole set is kept in memory as
``uint8`` (47 MB for the training images).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from hypergen.data.datasets import InMemoryDataset
from hypergen.data.idx import read_idx
from hypergen.data.registry import DatasetSpec, Split, register_dataset

__all__ = ["DEBIAN_ROOT", "ROOT_ENV_VAR", "FashionMNISTSpec", "find_idx_file", "read_fashion_mnist"]

DEBIAN_ROOT = Path("/usr/share/datasets/fashion-mnist")
ROOT_ENV_VAR = "HYPERGEN_FASHION_MNIST_ROOT"
_FILE_PREFIX: dict[str, str] = {"train": "train", "test": "t10k"}
# Also accept torchvision's layout (<root>/FashionMNIST/raw/...) so an existing torchvision download works.
_SUBDIRS: tuple[str, ...] = (".", "FashionMNIST/raw")


def find_idx_file(root: Path, stem: str) -> Path:
    """Locate ``<stem>`` or ``<stem>.gz`` under ``root`` (or its torchvision-style ``FashionMNIST/raw``).

    Args:
        root: folder to search.
        stem: file name without ``.gz``, e.g. ``"train-images-idx3-ubyte"``.

    Raises:
        FileNotFoundError: no candidate exists; says how to install the data.
    """
    candidates = [root / subdir / name for subdir in _SUBDIRS for name in (stem, f"{stem}.gz")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}[.gz] not found under {root} "
        f"(looked in {[str(c.parent) for c in candidates[::2]]}). Install the Debian package with "
        "`sudo apt-get install dataset-fashion-mnist` (or run `bash scripts/setup.sh`), which puts the files in "
        f"{DEBIAN_ROOT}; or point root= / ${ROOT_ENV_VAR} at a folder holding the IDX files."
    )


def read_fashion_mnist(root: Path, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one split of Fashion-MNIST.

    Args:
        root: folder with ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-...``.
        split: ``"train"`` (60000 images) or ``"test"`` (10000 images).

    Returns:
        images ``[N, 1, 28, 28]`` uint8 and labels ``[N]`` int64 in ``0..9``.

    Raises:
        FileNotFoundError: a file is missing (see :func:`find_idx_file`).
        ValueError: the files are corrupt or images and labels disagree in number.
    """
    prefix = _FILE_PREFIX[split]
    images = read_idx(find_idx_file(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find_idx_file(root, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"Fashion-MNIST {split} files under {root} disagree: images {images.shape}, labels {labels.shape}; "
            "expected [N, 28, 28] and [N]"
        )
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long()


@register_dataset("fashion_mnist")
@dataclass(frozen=True, kw_only=True)
class FashionMNISTSpec(DatasetSpec):
    """Fashion-MNIST: inputs ``[1, 28, 28]``, 10 classes, 60000 train / 10000 test images.

    ``root`` defaults to ``$HYPERGEN_FASHION_MNIST_ROOT``, else ``/usr/share/datasets/fashion-mnist``.
    ``download`` is not supported: install the Debian package instead.
    """

    name: ClassVar[str] = "Fashion-MNIST"
    input_shape: ClassVar[tuple[int, ...]] = (1, 28, 28)
    num_classes: ClassVar[int] = 10
    # Mean and std of all 60000 x 784 training pixels scaled to [0, 1] (computed from the files).
    mean: ClassVar[tuple[float, ...]] = (0.2860406,)
    std: ClassVar[tuple[float, ...]] = (0.3530242,)

    def __post_init__(self) -> None:
        if self.download:
            raise ValueError(
                "fashion_mnist does not download: install the Debian package `dataset-fashion-mnist` "
                f"(`bash scripts/setup.sh` does) or set ${ROOT_ENV_VAR}; pass download=False"
            )

    @property
    def data_root(self) -> Path:
        """The folder the IDX files are read from (``root``, the environment variable, or the Debian path)."""
        if self.root is not None:
            return Path(self.root)
        return Path(os.environ.get(ROOT_ENV_VAR) or DEBIAN_ROOT)

    def load(self, split: Split) -> InMemoryDataset:
        """Load ``split`` into memory: inputs ``[N, 1, 28, 28]`` uint8, labels ``[N]``."""
        return InMemoryDataset(*read_fashion_mnist(self.data_root, split))
