"""Make a CUDA-built ``torchvision`` wheel importable on a CPU-only ``torch``.

The only ``torchvision`` wheel that pairs with ``torch==2.13.0`` on PyPI is a CUDA build. Its compiled extension
(``torchvision/_C.so``) links against ``libtorch_cuda.so``, which a CPU build of torch does not ship, so the extension
fails to load. ``torchvision/__init__.py`` then registers fake (meta) kernels for its custom operators
(``torchvision::nms``, ``roi_align``, ...), and that raises ``RuntimeError: operator torchvision::nms does not exist``.
Because ``torchmetrics`` (and through it ``lightning``), ``timm`` and ``transformers`` import ``torchvision``, all of
them fail to import as well.

:func:`ensure_torchvision_importable` declares the operator *schemas* (copied from torchvision 0.28's C++ sources)
in a ``torch.library`` fragment before ``torchvision`` is imported. Everything that is pure Python -- all model
builders, transforms, datasets -- then works, and the two operators detection models need, ``nms`` and ``roi_align``,
get CPU kernels written in PyTorch (:mod:`hypergen.compat.torchvision_kernels`), so Faster/Mask/Keypoint R-CNN,
RetinaNet, FCOS and SSD run. The other C++ kernels (RoI pool, deformable convolution, ...) stay unavailable and raise
PyTorch's usual "could not run ... with arguments from the 'CPU' backend" error if called. Where the native extension
does load (a matching CPU or CUDA install), this function does nothing.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
from pathlib import Path

import torch

from hypergen.compat.torchvision_kernels import nms_cpu, roi_align_cpu

__all__ = ["ensure_torchvision_importable", "finish_torchvision_import", "prepare_torchvision_import",
           "torchvision_native_ops_available"]

log = logging.getLogger(__name__)

# Operator schemas of torchvision 0.28 (torchvision/csrc/ops/*.cpp, TORCH_LIBRARY_FRAGMENT(torchvision, m)).
_TORCHVISION_SCHEMAS: tuple[str, ...] = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "box_iou_rotated(Tensor boxes1, Tensor boxes2) -> Tensor",
    "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "SymInt batch_size, SymInt channels, SymInt height, SymInt width, int sampling_ratio, bool aligned) -> Tensor",
    "qroi_align(Tensor input, Tensor rois, float input_scale, int input_zero_point, float rois_scale, "
    "int rois_zero_point, float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio, "
    "bool aligned) -> Tensor",
    "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, SymInt channels, "
    "SymInt height, SymInt width) -> Tensor",
    "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
    "-> (Tensor, Tensor)",
    "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
    "-> (Tensor, Tensor)",
    "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) "
    "-> Tensor",
    "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, "
    "SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups, "
    "SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
    "SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, "
    "SymInt groups, SymInt offset_groups, bool use_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
    "_cuda_version() -> int",
)


def _torchvision_extension_path() -> Path | None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    candidates = sorted(Path(spec.origin).parent.glob("_C*.so")) + sorted(Path(spec.origin).parent.glob("_C*.pyd"))
    return candidates[0] if candidates else None


@functools.cache
def torchvision_native_ops_available() -> bool:
    """Whether torchvision's compiled operators (NMS, RoI align, ...) load with the installed torch.

    Returns:
        ``True`` when ``torchvision/_C`` loads (or its operators are already registered), ``False`` when torchvision
        is missing or its extension was built for another torch (e.g. a CUDA wheel on CPU-only torch).
    """
    if hasattr(torch.ops, "torchvision") and torch._C._dispatch_has_kernel("torchvision::nms"):
        return True
    path = _torchvision_extension_path()
    if path is None:
        return False
    try:
        torch.ops.load_library(str(path))
    except (OSError, RuntimeError) as err:
        log.debug("torchvision's native extension %s does not load with torch %s: %s", path, torch.__version__, err)
        return False
    return True


@functools.cache
def _schema_fragment() -> torch.library.Library:
    # Cached so the Library object (and with it the registration) lives as long as the process.
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _TORCHVISION_SCHEMAS:
        lib.define(schema)
    lib.impl("nms", nms_cpu, "CPU")
    lib.impl("roi_align", roi_align_cpu, "CPU")
    return lib


def ensure_torchvision_importable() -> bool:
    """Prepare torch so that ``import torchvision`` (and lightning/timm/transformers) works on this install.

    Call it before the first ``import torchvision`` -- hypergen does so in every module that needs torchvision or a
    library that imports it. Idempotent and cheap after the first call.

    Returns:
        ``True`` if torchvision is installed and importable afterwards, ``False`` if it is not installed.

    Raises:
        ImportError: if torchvision is installed but still fails to import, with the original error attached.
    """
    if importlib.util.find_spec("torchvision") is None:
        return False
    prepare_torchvision_import()
    try:
        import torchvision.extension  # noqa: F401
    except Exception as err:  # re-raised with the context the user needs
        raise ImportError(
            f"torchvision is installed but fails to import with torch {torch.__version__}: {err}. Install the "
            "torchvision release that pairs with this torch (see docs/install.md)."
        ) from err
    finish_torchvision_import()
    return True


def prepare_torchvision_import() -> bool:
    """Where torchvision's native extension does not load, declare its operators and register the CPU kernels.

    The part of :func:`ensure_torchvision_importable` that must run *before* ``import torchvision``; it does not
    import torchvision itself (the start-up hook of :mod:`hypergen.compat.torchvision_startup` calls it from inside
    the import of torchvision).

    Returns:
        ``True`` if the operators were declared here, ``False`` if the native extension provides them.
    """
    if torchvision_native_ops_available():
        return False
    _schema_fragment()
    log.debug("torchvision's C++ operators are unavailable (CUDA wheel on CPU torch); declared their schemas so that "
              "torchvision imports; nms and roi_align run on hypergen's CPU kernels")
    return True


def finish_torchvision_import() -> None:
    """The part of :func:`ensure_torchvision_importable` that runs once torchvision is imported: route its Python
    ops to the registered kernels (nothing to do where the native extension loads)."""
    import torchvision.extension

    if not torchvision_native_ops_available() and torchvision.extension._has_ops is not _kernels_registered:
        _route_to_registered_kernels(torchvision.extension._has_ops)  # once: later calls find it done


def _route_to_registered_kernels(has_ops: object) -> None:
    """torchvision's Python ops ask ``_has_ops()`` (imported by name into several modules) before dispatching to
    ``torch.ops.torchvision``; without the native extension it says no, and ``roi_align`` falls back to a
    ``torch.compile``-d Python version (minutes to compile on CPU) while ``nms`` raises. Our CPU kernels are
    registered, so every module's flag is switched to yes; operators without a kernel still fail in the dispatcher
    with an error naming the operator and the backend."""
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] == "torchvision" and getattr(module, "_has_ops", None) is has_ops:
            module._has_ops = _kernels_registered


def _kernels_registered() -> bool:
    return True
