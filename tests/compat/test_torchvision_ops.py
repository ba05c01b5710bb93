import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch

import hypergen
import hypergen.compat
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


# the interpreter without site's .pth files (so without the start-up hook setup.sh installs), with this process's
# site-packages and hypergen on its path
_PATHS = [sysconfig.get_paths()["purelib"], str(Path(hypergen.__file__).parents[1])]
_NO_HOOK = f"import sys; sys.path += {_PATHS!r}; "


def _run_without_site(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-S", "-c", _NO_HOOK + code], capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(torchvision_native_ops_available(), reason="torchvision's native ops load on this install")
def test_without_shim_torchvision_fails_and_unported_ops_raise_clearly():
    # Documents the problem the shim solves: a CUDA torchvision wheel on CPU torch.
    proc = _run_without_site("import torchvision")
    assert proc.returncode != 0
    assert "torchvision::nms does not exist" in proc.stderr
    # With the shim, nms and roi_align have CPU kernels (tests/compat/test_torchvision_kernels.py); the other
    # operators are declared without one: a clear dispatcher error naming the operator.
    assert ensure_torchvision_importable()
    assert torch.ops.torchvision.nms(torch.tensor([[0.0, 0, 1, 1], [0, 0, 1, 1]]), torch.tensor([1.0, 0.5]),
                                     0.5).tolist() == [0]
    with pytest.raises(NotImplementedError, match="torchvision::roi_pool"):
        torch.ops.torchvision.roi_pool(torch.rand(1, 1, 4, 4), torch.tensor([[0.0, 0, 0, 2, 2]]), 1.0, 2, 2)


def _with_startup_hook(code: str) -> subprocess.CompletedProcess:
    """``code`` in an interpreter whose only start-up step is the hook setup.sh installs; it can call ``nms()``:
    torchvision's nms on three boxes (``[0, 2]`` when the kernel is routed)."""
    hook = Path(hypergen.compat.__file__).with_name("torchvision_startup.py")
    nms = ("def nms(): return torchvision.ops.nms(torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]), "
           "torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist()\n")
    return _run_without_site(f"import runpy; runpy.run_path({str(hook)!r})\n{nms}{code}")


@pytest.mark.skipif(torchvision_native_ops_available(), reason="torchvision's native ops load on this install")
def test_startup_hook_makes_a_plain_import_work():
    """The hook setup.sh installs: a plain ``import torchvision`` (before hypergen) works and routes nms to our
    kernel; the hook itself imports neither torch nor hypergen at start-up."""
    proc = _with_startup_hook("assert 'torch' not in sys.modules and 'hypergen' not in sys.modules\n"
                              "import torch, torchvision\nprint(nms(), torchvision.models.resnet18().fc.out_features)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[0,", "2]", "1000"]


@pytest.mark.skipif(torchvision_native_ops_available(), reason="torchvision's native ops load on this install")
def test_startup_hook_survives_look_ups_before_the_import():
    """torch_geometric (so ``import hypergen``), transformers and lightning look torchvision up with
    ``importlib.util.find_spec`` long before anything imports it; the hook must still act at the real import (it
    used to act on the look-up and leave nms without its kernel: ``import hypergen, torchvision`` then failed)."""
    proc = _with_startup_hook("import importlib.util\nassert importlib.util.find_spec('torchvision') is not None\n"
                              "import hypergen, torch, torchvision\nprint(nms())")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["[0,", "2]"]


def test_shim_is_idempotent():
    assert ensure_torchvision_importable() is True
    assert ensure_torchvision_importable() is True
