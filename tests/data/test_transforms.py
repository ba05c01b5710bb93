"""Per-sample pipeline: scaling, normalisation, padded random crop, flip, reshape."""

from __future__ import annotations

import pytest
import torch

from hypergen.data.registry import AugmentConfig
from hypergen.data.transforms import SampleTransform, random_crop, random_horizontal_flip


def test_uint8_is_scaled_then_normalised_per_channel():
    sample = torch.tensor([0, 255, 51], dtype=torch.uint8).view(3, 1, 1).expand(3, 2, 2).contiguous()
    out = SampleTransform(mean=(0.0, 0.5, 0.2), std=(1.0, 0.5, 0.1), output_shape=(3, 2, 2))(sample)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out[:, 0, 0], torch.tensor([0.0, 1.0, 0.0]))


def test_float_signals_are_not_scaled_and_can_be_flattened():
    signal = torch.linspace(-1, 1, 40).view(1, 40)
    out = SampleTransform(mean=(0.0,), std=(2.0,), output_shape=(40,))(signal)
    assert out.shape == (40,)
    torch.testing.assert_close(out, signal.view(40) / 2)
    assert torch.equal(signal, torch.linspace(-1, 1, 40).view(1, 40))  # input left unmodified


def test_random_crop_shifts_content_and_pads_with_zeros():
    torch.manual_seed(0)
    image = torch.arange(1, 17, dtype=torch.float32).view(1, 4, 4)
    shifts = set()
    for _ in range(200):
        crop = random_crop(image, padding=2)
        assert crop.shape == (1, 4, 4)
        # The crop is the image moved by (dy, dx) in -2..2 with zeros filling in: find the shift from pixel 1.
        rows, cols = torch.nonzero(crop[0] == 6.0, as_tuple=True)  # value 6 sits at (1, 1) in the original
        if rows.numel():
            dy, dx = int(rows[0]) - 1, int(cols[0]) - 1
            shifted = torch.zeros(1, 8, 8)
            shifted[:, 2 + dy: 6 + dy, 2 + dx: 6 + dx] = image
            assert torch.equal(crop, shifted[:, 2:6, 2:6])
            shifts.add((dy, dx))
    assert len(shifts) >= 12  # offsets are spread over the 5 x 5 possibilities
    assert random_crop(image, padding=0) is image


def test_random_crop_on_signals():
    torch.manual_seed(0)
    signal = torch.ones(2, 10)
    crops = torch.stack([random_crop(signal, padding=3) for _ in range(100)])
    assert crops.shape == (100, 2, 10)
    zeros = (crops[:, 0] == 0).sum(dim=1)
    assert zeros.max() == 3 and zeros.min() == 0


def test_horizontal_flip_happens_half_the_time():
    torch.manual_seed(0)
    image = torch.arange(6.0).view(1, 2, 3)
    flips = sum(torch.equal(random_horizontal_flip(image), image.flip(-1)) for _ in range(1000))
    assert 440 < flips < 560


def test_augmentation_only_when_enabled():
    image = torch.arange(16, dtype=torch.uint8).view(1, 4, 4)
    plain = SampleTransform((0.0,), (1.0,), (1, 4, 4), AugmentConfig())
    assert plain.augment is None and torch.equal(plain(image), image.float() / 255)
    torch.manual_seed(0)
    augmented = SampleTransform((0.0,), (1.0,), (1, 4, 4), AugmentConfig(crop_padding=1, horizontal_flip=True))
    outputs = {tuple(augmented(image).flatten().tolist()) for _ in range(50)}
    assert len(outputs) > 5


def test_invalid_arguments():
    with pytest.raises(ValueError, match="mean has 3 channels but std has 1"):
        SampleTransform((0.1, 0.2, 0.3), (1.0,), (3, 2, 2))
    with pytest.raises(ValueError, match="std must be positive"):
        SampleTransform((0.0,), (0.0,), (1, 2, 2))
    with pytest.raises(ValueError, match="crop_padding must be >= 0"):
        AugmentConfig(crop_padding=-1)
