"""``TaskDataModule``: the task data (train / val / test loaders) of any registered dataset, for Lightning."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from hypergen.compat import ensure_torchvision_importable

# lightning imports torchmetrics, which imports torchvision; on a CPU-only torch that needs the shim first
# (docs/install.md). The class below subclasses LightningDataModule, so the import cannot be deferred.
ensure_torchvision_importable()
import lightning.pytorch as pl  # noqa: E402

from hypergen.data.datasets import TransformedSubset  # noqa: E402
from hypergen.data.registry import AugmentConfig, DatasetSpec, get_dataset_spec  # noqa: E402
from hypergen.data.resumable import EpochSampler, ResumableDataLoader  # noqa: E402
from hypergen.data.splits import random_subset, train_val_split  # noqa: E402
from hypergen.data.transforms import IdentityTransform, SampleTransform  # noqa: E402
from hypergen.tasks import CLASSIFICATION, LANGUAGE_MODEL, TASKS  # noqa: E402

__all__ = ["TaskDataModule"]

logger = logging.getLogger(__name__)

_NEEDS_TRAIN: frozenset[str | None] = frozenset({None, "fit", "validate"})
_NEEDS_TEST: frozenset[str | None] = frozenset({None, "test", "predict"})


class TaskDataModule(pl.LightningDataModule):
    """Loaders of normalised ``(input [B, *input_shape], label [B])`` batches for one registered dataset.

    The validation set is a seeded random part of the training set (the same on every process, so it works under
    DDP, where Lightning adds a ``DistributedSampler``), or the dataset's own validation split where it has one
    (``spec.provides_val_split``, e.g. ``text``: held-out documents; ``val_fraction`` is then not used); the test
    set is the dataset's own test split. Augmentation applies to the training set only.

    Language-model datasets (``spec.task == "language_model"``) give ``(ids [B, T], next ids [B, T])`` int64
    batches, passed through unchanged: no normalisation, no augmentation.

    Training batches come from a :class:`~hypergen.data.resumable.ResumableDataLoader`: their order and augmentation
    follow ``seed`` and the epoch only, each DDP rank takes its own share, and a run resumed from a checkpoint
    continues with the next unseen batch (the loader's position is saved in Lightning checkpoints).

    Args:
        name: registered dataset (:func:`~hypergen.data.list_datasets`), default ``"fashion_mnist"``.
        root: data folder; None for the dataset's default (see ``docs/data.md``).
        batch_size: samples per batch, for all three loaders.
        num_workers: DataLoader worker processes (0 loads in the main process).
        val_fraction: share of the training set held out for validation, in ``[0, 1)``; not used by datasets with
            their own validation split (``text``: see its ``val_fraction`` option).
        seed: seed of the train/val split, of the subsets, of the training order and of the augmentation.
        download: let datasets that support it (CIFAR) download missing files, in :meth:`prepare_data`.
        train_subset: train on a fixed random subset of this many samples (None: all).
        eval_subset: validate and test on fixed random subsets of this many samples (None: all).
        crop_padding: padded random crop for training inputs; None for the dataset's default (0 for
            Fashion-MNIST and MNIST-1D, 4 for CIFAR).
        horizontal_flip: random horizontal flip of training inputs; None for the dataset's default.
        pin_memory: pin batches in page-locked memory (speeds up copies to a GPU).
        dataset_options: further options of the dataset, e.g. ``{"image_size": 64}`` for ``imagefolder`` or
            ``{"flatten": True}`` for ``mnist1d`` (see its spec class).

    Raises:
        KeyError: ``name`` is not registered.
        TypeError: ``dataset_options`` names an option the dataset does not have.
        ValueError: a size or fraction is out of range.
    """

    def __init__(
        self,
        name: str = "fashion_mnist",
        root: str | None = None,
        batch_size: int = 128,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
        download: bool = False,
        train_subset: int | None = None,
        eval_subset: int | None = None,
        crop_padding: int | None = None,
        horizontal_flip: bool | None = None,
        pin_memory: bool = False,
        dataset_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1 or num_workers < 0:
            raise ValueError(f"batch_size must be >= 1 and num_workers >= 0, got {batch_size} and {num_workers}")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        self.save_hyperparameters()
        self.spec: DatasetSpec = get_dataset_spec(name, root=root, download=download, **(dataset_options or {}))
        default = self.spec.default_augment
        self.augment = AugmentConfig(
            crop_padding=default.crop_padding if crop_padding is None else crop_padding,
            horizontal_flip=default.horizontal_flip if horizontal_flip is None else horizontal_flip,
        )
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.val_fraction, self.seed = val_fraction, seed
        self.train_subset, self.eval_subset = train_subset, eval_subset
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.test_dataset: Dataset | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input without the batch axis, e.g. ``(1, 28, 28)``."""
        return tuple(self.spec.input_shape)

    @property
    def num_classes(self) -> int:
        """Number of classes; labels are ``0 .. num_classes - 1``."""
        return self.spec.num_classes

    def transform(self, train: bool) -> SampleTransform | IdentityTransform:
        """The per-sample pipeline: normalisation, plus augmentation when ``train``; the identity for token ids.

        Raises:
            ValueError: the spec's ``task`` is not one of :data:`~hypergen.tasks.TASKS`.
        """
        if self.spec.task == LANGUAGE_MODEL:
            return IdentityTransform()
        if self.spec.task != CLASSIFICATION:
            raise ValueError(
                f"dataset {self.hparams.name!r} declares task={self.spec.task!r}; TaskDataModule handles "
                f"{sorted(TASKS)}"
            )
        return SampleTransform(self.spec.mean, self.spec.std, self.input_shape, self.augment if train else None)

    def prepare_data(self) -> None:
        """Download or generate files (Lightning calls this on one process per node before :meth:`setup`)."""
        self.spec.prepare()

    def setup(self, stage: str | None = None) -> None:
        """Load the splits that ``stage`` needs (``fit``/``validate``: train and val; ``test``/``predict``: test).

        Splits already loaded are kept, so calling it for several stages loads each file once.
        """
        if stage in _NEEDS_TRAIN and self.train_dataset is None:
            base = self.spec.load("train")
            if self.spec.provides_val_split:
                logger.info("%s has its own validation split; val_fraction=%s is not used",
                            self.hparams.name, self.val_fraction)
                train = random_subset(torch.arange(len(base)), self.train_subset, self.seed)
                val_base = self.spec.load("val")
                val = torch.arange(len(val_base))
            else:
                train, val = train_val_split(len(base), self.val_fraction, self.seed, self.train_subset)
                val_base = base
            self.train_dataset = TransformedSubset(base, train, self.transform(train=True))
            self.val_dataset = TransformedSubset(
                val_base, random_subset(val, self.eval_subset, self.seed), self.transform(train=False)
            )
        if stage in _NEEDS_TEST and self.test_dataset is None:
            base = self.spec.load("test")
            indices = random_subset(torch.arange(len(base)), self.eval_subset, self.seed)
            self.test_dataset = TransformedSubset(base, indices, self.transform(train=False))

    def _check_loaded(self, dataset: Dataset | None, split: str) -> Dataset:
        if dataset is None:
            stage = "fit" if split in ("train", "val") else "test"
            raise RuntimeError(f"the {split} set is not loaded; call setup({stage!r}) first (Lightning does this)")
        return dataset

    def _loader(self, dataset: Dataset | None, split: str) -> DataLoader:
        """A loader in a fixed order (evaluation splits); it draws no numbers from torch's global generator."""
        return DataLoader(
            self._check_loaded(dataset, split),
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _rank_and_world(self) -> tuple[int, int]:
        """This process's rank and the number of processes (0 and 1 outside a Lightning trainer)."""
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> ResumableDataLoader:
        """Shuffled, augmented training batches ``(inputs [B, *input_shape] float32, labels [B] int64)``: this rank's
        share of a new seeded order every epoch, resumable mid-epoch (see :mod:`hypergen.data.resumable`); full
        batches only (unless the set is smaller than one batch)."""
        dataset = self._check_loaded(self.train_dataset, "train")
        rank, world = self._rank_and_world()
        sampler = EpochSampler(len(dataset), seed=self.seed, shuffle=True, num_replicas=world, rank=rank)
        return ResumableDataLoader(
            dataset,
            sampler,
            batch_size=self.batch_size,
            # a last, partial batch can hold one sample, on which BatchNorm cannot train (an error mid-epoch); its
            # samples are in the next epoch's new order. Kept when there is no full batch at all.
            drop_last=len(sampler) >= self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def val_dataloader(self) -> DataLoader:
        """Validation batches, in a fixed order (empty when ``val_fraction`` is 0)."""
        return self._loader(self.val_dataset, "val")

    def test_dataloader(self) -> DataLoader:
        """Test batches, in a fixed order."""
        return self._loader(self.test_dataset, "test")

    def predict_dataloader(self) -> DataLoader:
        """The test batches (for ``Trainer.predict``)."""
        return self._loader(self.test_dataset, "test")
