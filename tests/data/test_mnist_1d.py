"""MNIST-1D generated with the mnist1d package: default sizes, determinism, RNG hygiene and the disk cache."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from hypergen.data import mnist_1d
from hypergen.data.registry import get_dataset_spec

pytest.importorskip("mnist1d", reason="install with `pip install 'hypergen[data]'`")


def test_default_sizes_shapes_and_labels(mnist1d_spec):
    train, test = mnist1d_spec.load("train"), mnist1d_spec.load("test")
    assert len(train) == 4000 and len(test) == 1000
    assert train.inputs.shape == (4000, 1, 40) and train.inputs.dtype == torch.float32
    assert test.inputs.shape == (1000, 1, 40)
    labels = torch.cat([train.targets, test.targets])
    # make_dataset draws 500 signals per class, then shuffles before the 80/20 split.
    assert torch.bincount(labels).tolist() == [500] * 10
    assert torch.bincount(train.targets).tolist() == [398, 396, 411, 394, 394, 402, 401, 404, 402, 398]
    # The package standardises the signals over train + test.
    inputs = torch.cat([train.inputs, test.inputs]).double()
    assert abs(inputs.mean().item()) < 1e-6 and abs(inputs.std().item() - 1) < 1e-3


def test_known_values_of_default_generation(mnist1d_spec):
    # Regression values of mnist1d 0.0.2 with seed 42 (numpy's legacy generator is stable across releases).
    first = mnist1d_spec.load("train").inputs[0, 0, :3].double()
    expected = torch.tensor([-0.33200567, -0.47191037, -0.77869708], dtype=torch.float64)
    torch.testing.assert_close(first, expected, rtol=0, atol=1e-6)


def test_generation_is_deterministic_and_leaves_global_rngs_alone():
    np.random.seed(123)
    random.seed(123)
    expected_numpy, expected_python = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    first = mnist_1d.generate_mnist1d(num_samples=100, train_split=0.5, seed=7, sequence_length=24)
    assert np.random.rand() == expected_numpy and random.random() == expected_python
    second = mnist_1d.generate_mnist1d(num_samples=100, train_split=0.5, seed=7, sequence_length=24)
    other = mnist_1d.generate_mnist1d(num_samples=100, train_split=0.5, seed=8, sequence_length=24)
    assert first["x"].shape == (50, 24) and first["x_test"].shape == (50, 24) and first["x"].dtype == np.float32
    for key in ("x", "y", "x_test", "y_test"):
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first["x"], other["x"])


def test_flatten_gives_vectors():
    spec = get_dataset_spec("mnist1d", flatten=True, num_samples=100)
    assert spec.input_shape == (40,)
    assert spec.load("train").inputs.shape == (80, 1, 40)  # raw samples stay [C, L]; the transform reshapes


def test_disk_cache_is_written_and_reused(tmp_path, monkeypatch):
    spec = get_dataset_spec("mnist1d", root=tmp_path, num_samples=60)
    spec.prepare()
    assert spec.cache_file is not None and spec.cache_file.parent == tmp_path and spec.cache_file.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [spec.cache_file.name]  # no temporary files left

    def fail(*args, **kwargs):
        raise AssertionError("regenerated although the cache exists")

    monkeypatch.setattr(mnist_1d, "generate_mnist1d", fail)
    cached = get_dataset_spec("mnist1d", root=tmp_path, num_samples=60)
    torch.testing.assert_close(cached.load("test").inputs, spec.load("test").inputs, rtol=0, atol=0)
    assert get_dataset_spec("mnist1d", root=tmp_path, num_samples=70).cache_file != spec.cache_file


def test_options_out_of_range():
    with pytest.raises(ValueError, match=r"train_split=1.0 \(in \(0, 1\)\)"):
        get_dataset_spec("mnist1d", train_split=1.0)
