"""Shared fixtures. Tests run single-threaded (OMP_NUM_THREADS=1 is set by the README command)."""

from __future__ import annotations

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
