"""Map-style datasets shared by the dataset specs: tensors in memory, and a transformed view of a subset."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset

__all__ = ["InMemoryDataset", "TransformedSubset"]


class InMemoryDataset(Dataset):
    """Samples held as two tensors.

    Args:
        inputs: ``[N, C, *spatial]``, ``uint8`` images or floating-point signals.
        targets: ``[N]`` integer class labels.
    """

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        if inputs.shape[0] != targets.shape[0]:
            raise ValueError(f"inputs hold {inputs.shape[0]} samples but targets {targets.shape[0]}")
        if targets.dim() != 1 or targets.is_floating_point():
            raise ValueError(
                f"targets must be a 1-d integer tensor, got {targets.dtype} of shape {tuple(targets.shape)}"
            )
        self.inputs = inputs
        self.targets = targets.long()

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.inputs[index], int(self.targets[index])


class TransformedSubset(Dataset):
    """The samples ``indices`` of ``base``, with ``transform`` applied to each input.

    A sample is read with its position (``subset[i]``), or with its position and a seed (``subset[(i, seed)]``, what
    :class:`~hypergen.data.resumable.EpochSampler` yields): the transform's random numbers then come from a generator
    seeded with ``seed``, so the same key always gives the same augmented sample, in any worker and after a resume.

    Args:
        base: map-style dataset of ``(input, label)``; ``label`` an int, or a tensor target such as next-token ids
            ``[T]`` (returned as is).
        indices: ``[M]`` positions in ``base``; None for all of it.
        transform: applied to each input, e.g. :class:`~hypergen.data.transforms.SampleTransform`; called as
            ``transform(input, generator)`` for seeded keys.
    """

    def __init__(
        self,
        base: Dataset,
        indices: torch.Tensor | None,
        transform: Callable[..., torch.Tensor],
    ) -> None:
        self.base = base
        self.indices = torch.arange(len(base)) if indices is None else indices.long()  # type: ignore[arg-type]
        self.transform = transform

    def __len__(self) -> int:
        return self.indices.numel()

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int | torch.Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        sample, label = self.base[int(self.indices[index])]
        if seed is None:
            return self.transform(sample), _target(label)
        return self.transform(sample, torch.Generator().manual_seed(seed)), _target(label)


def _target(label: int | torch.Tensor) -> int | torch.Tensor:
    """A class label as an int; a target tensor with axes (next-token ids ``[T]``) unchanged."""
    return label if isinstance(label, torch.Tensor) and label.dim() > 0 else int(label)
