"""Shared fixtures. Tests run single-threaded (OMP_NUM_THREADS=1 is set by the README command)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from hypergen.compat import ensure_torchvision_importable

# Test modules import timm/transformers at collection time; both import torchvision, which needs the shim first
# on a CPU-only torch (see docs/install.md).
ensure_torchvision_importable()


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def torchvision_models():
    """``torchvision.models`` (skips the test where torchvision is not installed)."""
    if not ensure_torchvision_importable():
        pytest.skip("torchvision is not installed (pip install 'hypergen[zoo]')")
    import torchvision.models

    return torchvision.models


@pytest.fixture(scope="session")
def fashion_mnist_installed() -> None:
    """Skips where the Fashion-MNIST Debian package (the tiny runs' data) is not installed."""
    from hypergen.data.fashion_mnist import find_idx_file
    from hypergen.data.registry import get_dataset_spec

    try:
        find_idx_file(get_dataset_spec("fashion_mnist").data_root, "train-images-idx3-ubyte")
    except FileNotFoundError as err:
        pytest.skip(f"Fashion-MNIST is not installed ({err})")


#: A GHN and nets small enough that a step takes ~0.1 s on one CPU core: 2 MLPs per step on 512 Fashion-MNIST images.
TINY = [
    "logger=csv", "ghn.hidden=32", "ghn.gnn_layers=1", "ghn.heads=4",
    "archs=mlp", "archs.param_bounds=[1000,50000]", "archs.heldout_count=2", "archs.pool_size=4",
    "module.meta_batch=2", "module.warmup_steps=0",
    "data.train_subset=512", "data.eval_subset=128", "data.batch_size=32",
    "trainer.log_every_n_steps=1", "trainer.enable_progress_bar=false",
]


@pytest.fixture(scope="session")
def tiny() -> list[str]:
    """Overrides for a tiny, fast CPU run (CSV logger, MLP family, small GHN)."""
    return list(TINY)


class HypergenCLI:
    """Runs ``python -m <module> ARGS`` (``hypergen.train``, ``hypergen.evaluate``) in a subprocess: one thread,
    W&B offline with its own files under ``home``, and ``tests/train`` on the path (for ``train_probes``)."""

    def __init__(self, module: str, home: Path) -> None:
        self.module = module
        self.env = dict(os.environ)
        self.env.update({
            "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline",
            "WANDB_CONFIG_DIR": str(home / "wandb-config"), "WANDB_CACHE_DIR": str(home / "wandb-cache"),
            "WANDB_DATA_DIR": str(home / "wandb-data"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent / "train"),
                                                         self.env.get("PYTHONPATH")])),
        })

    def command(self, args: Sequence[str]) -> list[str]:
        return [sys.executable, "-m", self.module, *args]

    def run(self, args: Sequence[str], timeout: float = 300) -> subprocess.CompletedProcess:
        """Run to completion; stdout and stderr merged into ``.stdout``."""
        return subprocess.run(self.command(args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout)

    def start(self, args: Sequence[str], log: Path) -> subprocess.Popen:
        """Start in its own process group (so the test can kill the whole group), output to ``log``."""
        with open(log, "w") as out:
            return subprocess.Popen(self.command(args), env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)


@pytest.fixture(scope="session")
def train_cli(tmp_path_factory: pytest.TempPathFactory) -> HypergenCLI:
    """The ``python -m hypergen.train`` runner."""
    return HypergenCLI("hypergen.train", tmp_path_factory.mktemp("train-home"))


@pytest.fixture(scope="session")
def eval_cli(tmp_path_factory: pytest.TempPathFactory) -> HypergenCLI:
    """The ``python -m hypergen.evaluate`` runner."""
    return HypergenCLI("hypergen.evaluate", tmp_path_factory.mktemp("eval-home"))
