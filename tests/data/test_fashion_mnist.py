"""Fashion-MNIST from the Debian package: sizes, labels, normalisation; root resolution and its error message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hypergen.data.fashion_mnist import DEBIAN_ROOT, ROOT_ENV_VAR, FashionMNISTSpec
from hypergen.data.idx import write_idx
from hypergen.data.registry import get_dataset_spec
from hypergen.data.transforms import SampleTransform


@pytest.mark.parametrize(("split", "size"), [("train", 60000), ("test", 10000)])
def test_sizes_dtypes_and_balanced_classes(split, size, request):
    dataset = request.getfixturevalue(f"fashion_{split}")
    assert len(dataset) == size
    assert dataset.inputs.shape == (size, 1, 28, 28) and dataset.inputs.dtype == torch.uint8
    assert dataset.targets.dtype == torch.int64
    # The published set is exactly balanced: 6000 images per class in train, 1000 in test.
    assert torch.bincount(dataset.targets).tolist() == [size // 10] * 10
    image, label = dataset[0]
    assert image.shape == (1, 28, 28) and isinstance(label, int)


def test_known_values(fashion_train, fashion_test):
    # First labels of the official files (9 = ankle boot), and pixel sums of the first / all training images.
    assert fashion_train.targets[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert fashion_test.targets[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert int(fashion_train.inputs[0].sum()) == 76247
    assert int(fashion_train.inputs.sum(dtype=torch.int64)) == 3431114169


def test_normalisation_gives_zero_mean_unit_std_on_train(fashion_spec, fashion_train):
    transform = SampleTransform(fashion_spec.mean, fashion_spec.std, fashion_spec.input_shape)
    sample = torch.stack([transform(fashion_train.inputs[i]) for i in range(0, 60000, 60)])  # 1000 images
    assert sample.shape == (1000, 1, 28, 28) and sample.dtype == torch.float32
    # Over all 47M training pixels the stored statistics give mean 0 and std 1 (exact integer moments).
    pixels = fashion_train.inputs.flatten().long()
    count = pixels.numel()
    mean01 = pixels.sum().item() / (255 * count)
    var01 = (pixels * pixels).sum().item() / (255**2 * count) - mean01**2
    assert abs((mean01 - fashion_spec.mean[0]) / fashion_spec.std[0]) < 1e-6
    assert abs(var01**0.5 / fashion_spec.std[0] - 1) < 1e-6
    subset = fashion_train.inputs[::60].float() / 255
    normalised = (subset - fashion_spec.mean[0]) / fashion_spec.std[0]
    torch.testing.assert_close(sample, normalised, rtol=0, atol=1e-6)


def _write_fake(folder, num_train=20, num_test=10, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for prefix, count in (("train", num_train), ("t10k", num_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", (np.arange(count) % 10).astype(np.uint8))


def test_root_defaults_to_env_var_then_debian_path(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_ENV_VAR, raising=False)
    assert get_dataset_spec("fashion_mnist").data_root == DEBIAN_ROOT
    _write_fake(tmp_path / "fm")
    monkeypatch.setenv(ROOT_ENV_VAR, str(tmp_path / "fm"))
    spec = get_dataset_spec("fashion_mnist")
    assert spec.data_root == tmp_path / "fm"
    assert len(spec.load("train")) == 20 and len(spec.load("test")) == 10
    assert FashionMNISTSpec(root=tmp_path / "elsewhere").data_root == tmp_path / "elsewhere"  # root= wins


def test_uncompressed_files_in_torchvision_layout(tmp_path):
    _write_fake(tmp_path / "FashionMNIST" / "raw", gz=False)
    test = FashionMNISTSpec(root=tmp_path).load("test")
    assert test.inputs.shape == (10, 1, 28, 28) and test.targets.tolist() == [i % 10 for i in range(10)]


def test_missing_root_says_which_package_to_install(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        FashionMNISTSpec(root=tmp_path / "missing").load("train")
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and str(tmp_path / "missing") in message
    assert "apt-get install dataset-fashion-mnist" in message and ROOT_ENV_VAR in message


def test_mismatched_image_and_label_counts(tmp_path):
    _write_fake(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(19, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"disagree: images \(20, 28, 28\), labels \(19,\)"):
        FashionMNISTSpec(root=tmp_path).load("train")
