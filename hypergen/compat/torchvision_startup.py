"""Start-up hook that makes a plain ``import torchvision`` work where its wheel does not match torch.

``scripts/setup.sh`` installs it into the virtual environment (a ``hypergen-torchvision.pth`` file, see
``docs/install.md``) only where ``import torchvision`` fails -- a CUDA-built torchvision wheel next to a CPU-only
torch. It runs at interpreter start, uses the standard library only and imports nothing else then: it puts a finder
in front of ``sys.meta_path`` that waits for the first ``import torchvision`` (not a mere look-up) and only then runs
:func:`~hypergen.compat.torchvision_ops.prepare_torchvision_import` (declare torchvision's operators, register CPU
kernels) before torchvision's own code, and
:func:`~hypergen.compat.torchvision_ops.finish_torchvision_import` after it. Users' scripts, notebooks, lightning,
timm and transformers then import torchvision without knowing about :mod:`hypergen.compat`.

The file is executed by path (``runpy.run_path``), not imported, so that loading it does not import hypergen or torch
at every interpreter start.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType


class _LoaderThenFinish(importlib.abc.Loader):
    """Prepares torch, runs torchvision's own loader, then hypergen's post-import step; takes the finder off
    ``sys.meta_path`` (its work is done once torchvision is really imported)."""

    def __init__(self, loader: importlib.abc.Loader, finder: importlib.abc.MetaPathFinder) -> None:
        self.loader = loader
        self.finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def __getattr__(self, name: str) -> object:  # resource readers, get_data, ...: torchvision's own loader
        return getattr(self.loader, name)

    def exec_module(self, module: ModuleType) -> None:
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)  # once: everything below imports normally
        from hypergen.compat.torchvision_ops import finish_torchvision_import, prepare_torchvision_import

        prepare_torchvision_import()
        self.loader.exec_module(module)
        finish_torchvision_import()


class TorchvisionOnCpuTorch(importlib.abc.MetaPathFinder):
    """Meta-path finder for ``torchvision``, until torchvision is imported.

    It stays in place through mere look-ups (``importlib.util.find_spec("torchvision")``, as ``torch_geometric``,
    ``transformers`` and lightning do to see what is installed, long before anything imports torchvision): only
    the loader it hands out, when it executes torchvision, does the work and removes the finder.
    """

    def find_spec(self, name: str, path: object = None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if name != "torchvision":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _LoaderThenFinish(spec.loader, self)
        return spec


sys.meta_path.insert(0, TorchvisionOnCpuTorch())
