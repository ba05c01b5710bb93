"""MNIST-1D (Greydanus, 2020): 1-d signals made from ten digit templates; small, fast, and hard for linear models.

Generated locally with the PyPI package ``mnist1d`` (``pip install 'hypergen[data]'``), never downloaded. The
default options reproduce the package defaults: 5000 samples, 4000 train / 1000 test, length 40, seed 42.
Generation takes about 1.5 s; the arrays are kept on the spec (in memory) and, when ``root`` is given, cached on
disk as ``<root>/mnist1d-<hash of the options>.npz``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from hypergen.data.datasets import InMemoryDataset
from hypergen.data.registry import DatasetSpec, Split, register_dataset

__all__ = ["MNIST1DSpec", "generate_mnist1d"]


def generate_mnist1d(num_samples: int, train_split: float, seed: int, sequence_length: int) -> dict[str, np.ndarray]:
    """Generate MNIST-1D with ``mnist1d.data.make_dataset``, leaving numpy's and Python's global RNGs untouched.

    Args:
        num_samples: total number of signals (train + test); ``num_samples // 10`` per class.
        train_split: fraction of the (shuffled) samples that form the training set.
        seed: the generator's seed (42 is the package default, which the published data set used).
        sequence_length: length of each signal.

    Returns:
        ``{"x": [N_train, L] float32, "y": [N_train] int64, "x_test": [N_test, L] float32, "y_test": [N_test] int64}``.

    Raises:
        ImportError: ``mnist1d`` is not installed (says how to install it).
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
        from mnist1d.utils import ObjectView
    except ImportError as err:
        raise ImportError(
            f"dataset 'mnist1d' needs the package mnist1d ({err}); install it with `pip install 'hypergen[data]'`"
        ) from err
    args = get_dataset_args(as_dict=True)
    args.update(num_samples=num_samples, train_split=train_split, seed=seed, final_seq_length=sequence_length)
    # make_dataset reseeds numpy's and Python's global generators; restore them so callers' randomness is unaffected.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(ObjectView(args))
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {
        "x": data["x"].astype(np.float32),
        "y": data["y"].astype(np.int64),
        "x_test": data["x_test"].astype(np.float32),
        "y_test": data["y_test"].astype(np.int64),
    }


@register_dataset("mnist1d")
@dataclass(frozen=True, kw_only=True)
class MNIST1DSpec(DatasetSpec):
    """MNIST-1D: inputs ``[1, L]`` (``[L]`` with ``flatten=True``), 10 classes.

    Attributes:
        root: optional cache folder for the generated arrays (None: memory only).
        num_samples: total signals, train + test (default 5000).
        train_split: fraction used for training (default 0.8, i.e. 4000 / 1000).
        seed: seed of the generator (default 42, the package's); not the train/val split seed.
        sequence_length: signal length ``L`` (default 40).
        flatten: return inputs as ``[L]`` (for MLPs) instead of ``[1, L]`` (for ``Conv1d``).
    """

    num_samples: int = 5000
    train_split: float = 0.8
    seed: int = 42
    sequence_length: int = 40
    flatten: bool = False

    name: ClassVar[str] = "MNIST-1D"
    num_classes: ClassVar[int] = 10
    # make_dataset already standardises the signals (over train + test), so normalisation is the identity.
    mean: ClassVar[tuple[float, ...]] = (0.0,)
    std: ClassVar[tuple[float, ...]] = (1.0,)

    def __post_init__(self) -> None:
        if self.download:
            raise ValueError("mnist1d is generated locally and never downloaded; pass download=False")
        if self.num_samples < 10 or not 0.0 < self.train_split < 1.0 or self.sequence_length < 1:
            raise ValueError(
                f"mnist1d options out of range: num_samples={self.num_samples} (>= 10), "
                f"train_split={self.train_split} (in (0, 1)), sequence_length={self.sequence_length} (>= 1)"
            )

    @property
    def input_shape(self) -> tuple[int, ...]:  # type: ignore[override]
        """``(sequence_length,)`` if ``flatten`` else ``(1, sequence_length)``."""
        return (self.sequence_length,) if self.flatten else (1, self.sequence_length)

    @property
    def cache_file(self) -> Path | None:
        """Where the generated arrays are cached on disk (None without ``root``)."""
        if self.root is None:
            return None
        options = [self.num_samples, self.train_split, self.seed, self.sequence_length]
        digest = hashlib.sha1(json.dumps(options).encode()).hexdigest()[:12]
        return Path(self.root) / f"mnist1d-{digest}.npz"

    @functools.cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """The generated arrays (see :func:`generate_mnist1d`), from the disk cache when there is one."""
        cache = self.cache_file
        if cache is not None and cache.is_file():
            with np.load(cache) as stored:
                return {key: stored[key] for key in stored.files}
        arrays = generate_mnist1d(self.num_samples, self.train_split, self.seed, self.sequence_length)
        if cache is not None:
            _save_atomically(cache, arrays)
        return arrays

    def prepare(self) -> None:
        """Generate the data (and write the disk cache, if ``root`` is set)."""
        _ = self.arrays

    def load(self, split: Split) -> InMemoryDataset:
        """Load ``split``: inputs ``[N, 1, L]`` float32 (standardised), labels ``[N]``."""
        suffix = "" if split == "train" else "_test"
        inputs, targets = self.arrays[f"x{suffix}"], self.arrays[f"y{suffix}"]
        return InMemoryDataset(torch.from_numpy(inputs).unsqueeze(1), torch.from_numpy(targets))


def _save_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` via a temporary file, so concurrent readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
