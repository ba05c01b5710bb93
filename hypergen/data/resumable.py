"""Training batches that resume exactly: a seeded, rank-sharded sample order per epoch, and a loader that records
how far into it training got (saved in Lightning checkpoints), so a resumed run continues with the next unseen batch.

The order of epoch ``e`` is a permutation seeded by ``(seed, e)``, never by torch's global generator, and every
sample carries its own augmentation seed (see :class:`~hypergen.data.datasets.TransformedSubset`): the batches of a
run are a function of the run seed and the step, whatever the number of workers or where the run was resumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

__all__ = ["EpochSampler", "ResumableDataLoader", "sample_seed"]

_MASK = (1 << 63) - 1


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of sample ``index`` in ``epoch`` of a run seeded ``seed`` (a 63-bit mix of the three)."""
    mixed = (seed * 0x9E3779B97F4A7C15 + (epoch + 1) * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB) & _MASK
    return mixed ^ (mixed >> 31)


class EpochSampler(DistributedSampler):
    """Yields ``(index, augmentation seed)`` keys of a dataset of ``size`` samples: all of them once per epoch, in a
    seeded order, this rank's share only (rank ``r`` of ``w`` takes positions ``r, r + w, ...`` of the order, padded
    as :class:`~torch.utils.data.DistributedSampler` pads).

    A subclass of ``DistributedSampler``, so Lightning keeps it under DDP (and calls :meth:`set_epoch` every epoch)
    instead of wrapping the loader in its own.

    Args:
        size: number of samples.
        seed: seed of the order and of the augmentation seeds.
        shuffle: a new random order every epoch (False: ``0 .. size - 1``).
        num_replicas: number of processes sharing the data (the world size).
        rank: this process's rank.

    Attributes:
        epoch: the epoch whose order is yielded next.
        start: keys of this rank's share to skip at the start of that epoch (set by a resume).
    """

    def __init__(self, size: int, seed: int = 0, shuffle: bool = True, num_replicas: int = 1, rank: int = 0) -> None:
        if size < 1:
            raise ValueError(f"EpochSampler needs at least one sample, got size={size}")
        super().__init__(range(size), num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.size = size
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        """Yield the order of ``epoch`` next; moving to another epoch drops a pending resume offset."""
        if epoch != self.epoch:
            self.start = 0
        super().set_epoch(epoch)

    def order(self, epoch: int) -> list[int]:
        """This rank's sample indices in ``epoch``, all of them (no resume offset)."""
        if self.shuffle:
            everything = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + epoch)).tolist()
        else:
            everything = list(range(self.size))
        everything += everything[: self.total_size - self.size]  # pad so every rank gets num_samples
        return everything[self.rank:self.total_size:self.num_replicas]

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        epoch = self.epoch
        for index in self.order(epoch)[self.start:]:
            yield index, sample_seed(self.seed, epoch, index)


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` over an :class:`EpochSampler` that knows how many batches of the current epoch it has
    handed out, and restores that position: Lightning saves :meth:`state_dict` in every checkpoint and calls
    :meth:`load_state_dict` when it resumes from one, so training continues with the next unseen batch.

    After a complete pass it moves its sampler to the next epoch (Lightning's own ``set_epoch`` agrees), so it also
    gives a new order per epoch outside Lightning.

    Args:
        dataset: map-style dataset taking the sampler's ``(index, seed)`` keys
            (:class:`~hypergen.data.datasets.TransformedSubset`).
        sampler: the order of the samples.
        batch_size: samples per batch (the last batch of an epoch may be smaller).
        kwargs: more ``DataLoader`` arguments (``num_workers``, ``pin_memory``...); not ``shuffle`` or
            ``batch_sampler``.
    """

    def __init__(self, dataset: Dataset, sampler: EpochSampler, batch_size: int = 1, **kwargs: Any) -> None:
        if not isinstance(sampler, EpochSampler):
            raise TypeError(f"ResumableDataLoader needs an EpochSampler, got {type(sampler).__name__}")
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)
        self._epoch, self._batches = sampler.epoch, 0

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        sampler: EpochSampler = self.sampler  # type: ignore[assignment]
        epoch, done = sampler.epoch, sampler.start // self.batch_size  # read when iteration starts (after set_epoch)
        self._epoch, self._batches = epoch, done
        for batch in super().__iter__():
            done += 1
            self._batches = done
            yield batch
        sampler.set_epoch(epoch + 1)

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "batches"}``: the epoch in progress and how many of its batches were handed out."""
        return {"epoch": self._epoch, "batches": self._batches}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Continue after ``state_dict["batches"]`` batches of epoch ``state_dict["epoch"]`` (at the start of the next
        epoch when that one was complete).

        Raises:
            KeyError: ``state_dict`` lacks ``epoch`` or ``batches`` (not a state of this loader).
        """
        epoch, batches = int(state_dict["epoch"]), int(state_dict["batches"])
        if batches >= len(self):
            epoch, batches = epoch + 1, 0
        sampler: EpochSampler = self.sampler  # type: ignore[assignment]
        sampler.set_epoch(epoch)
        sampler.start = batches * self.batch_size  # type: ignore[operator]
        self._epoch, self._batches = epoch, batches
