import subprocess
import sys

import pytest
import torch

from hypergen.compat import ensure_torchvision_importable, torchvision_native_ops_available


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_zoo_libraries_import_after_shim():
    code = (
        "from hypergen.compat import ensure_torchvision_importable\n"
        "assert ensure_torchvision_importable()\n"
        "import torchvision, lightning, timm, transformers\n"
        "from transformers import GPT2LMHeadModel\n"
        "m = torchvision.models.resnet18(num_classes=3)\n"
        "print(sum(p.numel() for p in m.parameters()))\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) == 11178051  # resnet18 with a 3-class head


@pytest.mark.skipif(torchvision_native_ops_available(), reason="torchvision's native ops load on this install")
def test_without_shim_torchvision_fails_and_nms_raises_clearly():
    # Documents the problem the shim solves: a CUDA torchvision wheel on CPU torch.
    proc = _run("import torchvision")
    assert proc.returncode != 0
    assert "torchvision::nms does not exist" in proc.stderr
    # With the shim, the custom kernels are declared but have no CPU implementation: a clear dispatcher error.
    assert ensure_torchvision_importable()
    with pytest.raises(NotImplementedError, match="torchvision::nms"):
        torch.ops.torchvision.nms(torch.rand(3, 4), torch.rand(3), 0.5)


def test_shim_is_idempotent():
    assert ensure_torchvision_importable() is True
    assert ensure_torchvision_importable() is True
