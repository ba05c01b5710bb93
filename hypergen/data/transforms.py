"""Per-sample input pipeline: scale to float, augment, normalise, reshape -- in plain torch, no torchvision.

Works for any channel-first sample ``[C, *spatial]`` (images ``[C, H, W]``, signals ``[C, L]``). Random numbers come
from the ``generator`` passed in (the training loader gives every sample its own, seeded by run seed, epoch and index,
so augmentation does not depend on workers or on where a run was resumed), else from torch's global generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from hypergen.data.registry import AugmentConfig

__all__ = ["IdentityTransform", "SampleTransform", "random_crop", "random_horizontal_flip"]


def random_crop(sample: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero-pad every spatial side by ``padding``, then crop back to the input size at a uniform random offset.

    Args:
        sample: ``[C, *spatial]`` (1 to 3 spatial axes).
        padding: pixels added on each side; the crop offset per axis is uniform in ``0 .. 2 * padding``.
        generator: source of the offsets (None: torch's global generator).

    Returns:
        ``[C, *spatial]``, same dtype.
    """
    if padding == 0:
        return sample
    spatial = sample.shape[1:]
    padded = F.pad(sample, [padding] * (2 * len(spatial)))
    offsets = torch.randint(0, 2 * padding + 1, (len(spatial),), generator=generator).tolist()
    window = tuple(slice(start, start + size) for start, size in zip(offsets, spatial, strict=True))
    return padded[(slice(None), *window)]


def random_horizontal_flip(sample: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Reverse the last axis (image width, signal time) with probability 1/2.

    Args:
        sample: ``[C, *spatial]``.
        generator: source of the coin flip (None: torch's global generator).

    Returns:
        ``[C, *spatial]``.
    """
    return sample.flip(-1) if torch.rand((), generator=generator) < 0.5 else sample


class SampleTransform:
    """``uint8`` / float sample ``[C, *spatial]`` -> normalised float32 input of the declared ``output_shape``.

    Order as in torchvision recipes: scale ``uint8`` by 1/255, augment (padding is zero, i.e. black), subtract
    ``mean`` and divide by ``std`` per channel, reshape (e.g. ``[1, 40] -> [40]``).

    Args:
        mean: per-channel means ``[C]`` (length 1 is broadcast over all channels).
        std: per-channel standard deviations ``[C]``.
        output_shape: shape of the returned tensor (same number of elements as the sample).
        augment: augmentation to apply; None or a disabled config for evaluation.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        output_shape: Sequence[int],
        augment: AugmentConfig | None = None,
    ) -> None:
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} channels but std has {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {tuple(std)}")
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.std = torch.tensor(std, dtype=torch.float32)
        self.output_shape = tuple(output_shape)
        self.augment = augment if augment is not None and augment.enabled else None

    def __call__(self, sample: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Transform one sample ``[C, *spatial]`` into ``output_shape``; ``generator`` drives the augmentation (None:
        torch's global generator)."""
        x = sample.float().div_(255.0) if sample.dtype == torch.uint8 else sample.float()
        if self.augment is not None:
            x = random_crop(x, self.augment.crop_padding, generator)
            if self.augment.horizontal_flip:
                x = random_horizontal_flip(x, generator)
        view = (-1,) + (1,) * (x.dim() - 1)
        x = (x - self.mean.view(view)) / self.std.view(view)
        return x.reshape(self.output_shape)

    def __repr__(self) -> str:
        return (
            f"SampleTransform(mean={self.mean.tolist()}, std={self.std.tolist()}, "
            f"output_shape={self.output_shape}, augment={self.augment})"
        )


class IdentityTransform:
    """Returns the sample unchanged: the pipeline of samples that are not normalised, e.g. token ids ``[T]``.

    Same call signature as :class:`SampleTransform` (the generator is accepted and not used), and picklable, so
    DataLoader workers can run it.
    """

    def __call__(self, sample: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``sample`` itself."""
        return sample

    def __repr__(self) -> str:
        return "IdentityTransform()"
