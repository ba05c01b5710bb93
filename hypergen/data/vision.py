"""Image datasets read through ``torchvision.datasets``: CIFAR-10, CIFAR-100 and ImageNet-style folders.

torchvision (the ``zoo`` extra) is imported on first use, after :func:`hypergen.compat.ensure_torchvision_importable`.
CIFAR is downloaded only when ``download=True``; its arrays are then kept in memory as ``uint8`` tensors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import torch
from torch.utils.data import Dataset

from hypergen.data.datasets import InMemoryDataset
from hypergen.data.registry import AugmentConfig, DatasetSpec, Split, register_dataset

__all__ = ["DATA_ROOT_ENV_VAR", "CIFAR10Spec", "CIFAR100Spec", "ImageFolderSpec", "default_data_root"]

DATA_ROOT_ENV_VAR = "HYPERGEN_DATA_ROOT"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def default_data_root() -> Path:
    """``$HYPERGEN_DATA_ROOT``, else ``~/.cache/hypergen/datasets``: where downloadable datasets live by default."""
    return Path(os.environ.get(DATA_ROOT_ENV_VAR) or Path.home() / ".cache" / "hypergen" / "datasets")


def _torchvision_datasets() -> ModuleType:
    from hypergen.compat import ensure_torchvision_importable

    if not ensure_torchvision_importable():
        raise ImportError("image datasets need torchvision; install it with `pip install 'hypergen[zoo]'`")
    import torchvision.datasets

    return torchvision.datasets


@register_dataset("cifar10")
@dataclass(frozen=True, kw_only=True)
class CIFAR10Spec(DatasetSpec):
    """CIFAR-10: inputs ``[3, 32, 32]``, 10 classes, 50000 train / 10000 test images.

    ``root`` (default :func:`default_data_root`) holds ``cifar-10-batches-py/``, torchvision's layout; files are
    checked against torchvision's MD5 sums. Default augmentation: 4-pixel padded random crop and horizontal flip.
    """

    name: ClassVar[str] = "CIFAR-10"
    input_shape: ClassVar[tuple[int, ...]] = (3, 32, 32)
    num_classes: ClassVar[int] = 10
    # Per-channel mean and std over the 50000 training images (pixels scaled to [0, 1]).
    mean: ClassVar[tuple[float, ...]] = (0.4914, 0.4822, 0.4465)
    std: ClassVar[tuple[float, ...]] = (0.2470, 0.2435, 0.2616)
    default_augment: ClassVar[AugmentConfig] = AugmentConfig(crop_padding=4, horizontal_flip=True)
    torchvision_class: ClassVar[str] = "CIFAR10"

    @property
    def data_root(self) -> Path:
        """``root`` or :func:`default_data_root`."""
        return Path(self.root) if self.root is not None else default_data_root()

    def _open(self, split: Split) -> Dataset:
        dataset_class = getattr(_torchvision_datasets(), self.torchvision_class)
        try:
            return dataset_class(str(self.data_root), train=split == "train", download=self.download)
        except RuntimeError as err:
            if self.download:
                raise
            raise FileNotFoundError(
                f"{self.name} not found or corrupted under {self.data_root} ({err}). Pass download=True "
                f"(TaskDataModule(..., download=True)) to fetch it, or root= / ${DATA_ROOT_ENV_VAR} pointing at a "
                f"folder that holds {dataset_class.base_folder}/"
            ) from err

    def prepare(self) -> None:
        """Download both splits if ``download`` is set and they are missing (torchvision skips present files)."""
        if self.download:
            for split in ("train", "test"):
                self._open(split)

    def load(self, split: Split) -> InMemoryDataset:
        """Load ``split``: inputs ``[N, 3, 32, 32]`` uint8, labels ``[N]``."""
        dataset = self._open(split)
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
        return InMemoryDataset(images, torch.as_tensor(dataset.targets, dtype=torch.long))


@register_dataset("cifar100")
@dataclass(frozen=True, kw_only=True)
class CIFAR100Spec(CIFAR10Spec):
    """CIFAR-100 (fine labels): inputs ``[3, 32, 32]``, 100 classes; ``root`` holds ``cifar-100-python/``."""

    name: ClassVar[str] = "CIFAR-100"
    num_classes: ClassVar[int] = 100
    mean: ClassVar[tuple[float, ...]] = (0.5071, 0.4865, 0.4409)
    std: ClassVar[tuple[float, ...]] = (0.2673, 0.2564, 0.2762)
    torchvision_class: ClassVar[str] = "CIFAR100"


@register_dataset("imagefolder")
@dataclass(frozen=True, kw_only=True)
class ImageFolderSpec(DatasetSpec):
    """ImageNet-style folders: ``<root>/<train_dir>/<class>/*.jpg`` and ``<root>/<test_dir>/<class>/*.jpg``.

    Images are decoded with PIL per sample, converted to RGB, resized (shorter side to ``resize_size``) and
    centre-cropped to ``image_size``; classes are the sub-folder names in sorted order (torchvision's rule).
    Default augmentation: horizontal flip.

    Attributes:
        root: the folder holding ``train_dir`` and ``test_dir`` (required).
        image_size: side of the square input (default 224).
        resize_size: shorter side before the crop; default ``round(image_size / 0.875)`` (256 for 224).
        mean: per-channel mean used for normalisation (default ImageNet's).
        std: per-channel standard deviation (default ImageNet's).
        train_dir: sub-folder of the training images (the validation set is carved out of it).
        test_dir: sub-folder of the test images (ImageNet's ``val``).
    """

    image_size: int = 224
    resize_size: int | None = None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    train_dir: str = "train"
    test_dir: str = "val"

    name: ClassVar[str] = "ImageFolder"
    default_augment: ClassVar[AugmentConfig] = AugmentConfig(horizontal_flip=True)

    def __post_init__(self) -> None:
        if self.root is None:
            raise ValueError("dataset 'imagefolder' needs a root, the folder holding train/ and val/ class folders: "
                             "pass root=<folder> (hypergen-train / hypergen-eval: data.root=<folder>)")
        if self.download:
            raise ValueError("imagefolder cannot download; pass download=False and a local root")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"imagefolder images are RGB: mean and std need 3 values, got {self.mean}, {self.std}")

    @property
    def input_shape(self) -> tuple[int, ...]:  # type: ignore[override]
        """``(3, image_size, image_size)``."""
        return (3, self.image_size, self.image_size)

    @property
    def classes(self) -> list[str]:
        """Class names: the sub-folders of ``<root>/<train_dir>``, sorted."""
        classes, _ = _torchvision_datasets().folder.find_classes(str(self._split_dir("train")))
        return classes

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        """Number of class folders under ``<root>/<train_dir>``."""
        return len(self.classes)

    def _split_dir(self, split: Split) -> Path:
        directory = Path(self.root) / (self.train_dir if split == "train" else self.test_dir)  # type: ignore[arg-type]
        if not directory.is_dir():
            option = "train_dir" if split == "train" else "test_dir"
            raise FileNotFoundError(
                f"imagefolder {split} folder {directory} does not exist; create it with one sub-folder per class, "
                f"or set {option}= (dataset_options) to the right sub-folder of root"
            )
        return directory

    def load(self, split: Split) -> Dataset:
        """Load ``split`` lazily: samples decode to ``[3, image_size, image_size]`` uint8 on access, labels int."""
        from torchvision import transforms

        datasets = _torchvision_datasets()
        resize = self.resize_size if self.resize_size is not None else round(self.image_size / 0.875)
        pipeline = transforms.Compose(
            [transforms.Resize(resize), transforms.CenterCrop(self.image_size), transforms.PILToTensor()]
        )
        dataset = datasets.ImageFolder(str(self._split_dir(split)), transform=pipeline)
        if dataset.classes != self.classes:
            raise ValueError(
                f"imagefolder: the class folders of {self._split_dir(split)} ({len(dataset.classes)}) differ from "
                f"those of {self._split_dir('train')} ({len(self.classes)}); both splits need the same class folders"
            )
        return dataset
