"""CPU implementations of the torchvision operators detection models need (``nms``, ``roi_align``).

They are registered (see :func:`~hypergen.compat.torchvision_ops.ensure_torchvision_importable`) only where
torchvision's own compiled extension does not load -- a CUDA-built torchvision wheel on a CPU-only torch -- so that
Faster/Mask/Keypoint R-CNN, RetinaNet, FCOS and SSD run on CPU. They follow the semantics of torchvision's C++ CPU
kernels (same suppression rule, same bilinear sampling and boundary handling) and are written in vectorised PyTorch:
slower than the C++ kernels but exact to float rounding. Forward only (inference and initialisation; no autograd
formula is registered).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["nms_cpu", "roi_align_cpu"]

# RoIs sampled per chunk in roi_align_cpu: bounds the gathered corner values (chunk x samples x 4 x channels).
_ROI_CHUNK = 64


def nms_cpu(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression, as ``torchvision::nms``.

    Args:
        boxes: ``[N, 4]`` boxes ``(x1, y1, x2, y2)``.
        scores: ``[N]`` scores.
        iou_threshold: boxes overlapping a kept, higher-scoring box with IoU strictly above this are dropped.

    Returns:
        ``[K]`` int64 indices of the kept boxes, by decreasing score.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    sorted_boxes = boxes[order]
    x1, y1, x2, y2 = sorted_boxes.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    inter_w = (torch.minimum(x2[:, None], x2[None]) - torch.maximum(x1[:, None], x1[None])).clamp(min=0)
    inter_h = (torch.minimum(y2[:, None], y2[None]) - torch.maximum(y1[:, None], y1[None])).clamp(min=0)
    inter = inter_w * inter_h
    overlaps = (inter / (area[:, None] + area[None] - inter)) > iou_threshold  # [N, N]
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep: list[int] = []
    for i in range(len(order)):  # greedy: each kept box suppresses the lower-scoring boxes it overlaps
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= overlaps[i]
    return order[torch.tensor(keep, dtype=torch.long, device=order.device)]


def _axis_weights(start: Tensor, bin_size: Tensor, pooled: int, grid: int, size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Bilinear taps along one axis for ``R`` RoIs: ``(low [R, S], high [R, S], weights [R, S, 2])``, ``S =
    pooled * grid`` sample positions (the centres of ``grid`` sub-cells of every output bin); weights are 0 for
    samples outside ``[-1, size]``."""
    steps = torch.arange(pooled, dtype=start.dtype)[:, None] + (torch.arange(grid, dtype=start.dtype) + 0.5) / grid
    pos = start[:, None] + bin_size[:, None] * steps.reshape(1, -1)  # [R, S]
    inside = (pos >= -1.0) & (pos <= size)
    pos = pos.clamp(min=0)
    low = pos.floor().long().clamp(max=size - 1)
    at_edge = low >= size - 1
    high = torch.where(at_edge, low, low + 1)
    pos = torch.where(at_edge, low.to(pos.dtype), pos)
    frac = pos - low
    weights = torch.stack([1 - frac, frac], dim=-1) * inside[..., None]
    return low, high, weights


def _roi_align_fixed_grid(table: Tensor, image_size: tuple[int, int], rois: Tensor, spatial_scale: float,
                          pooled: tuple[int, int], grid: tuple[int, int], aligned: bool) -> Tensor:
    """``roi_align`` of ``R`` RoIs sharing one sampling grid (``grid[0] x grid[1]`` samples per bin), reading the
    feature maps as a ``[N * H * W, C]`` table of pixels."""
    height, width = image_size
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (rois[:, 1:] * spatial_scale - offset).unbind(1)
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:  # torchvision's legacy behaviour: RoIs at least one pixel wide
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    ylow, yhigh, wy = _axis_weights(y1, roi_h / pooled[0], pooled[0], grid[0], height)  # [R, Sy]
    xlow, xhigh, wx = _axis_weights(x1, roi_w / pooled[1], pooled[1], grid[1], width)  # [R, Sx]
    rows = torch.stack([ylow, yhigh], dim=-1) + (rois[:, 0].long() * height)[:, None, None]  # [R, Sy, 2]
    cols = torch.stack([xlow, xhigh], dim=-1)  # [R, Sx, 2]
    index = rows[:, :, None, :, None] * width + cols[:, None, :, None, :]  # [R, Sy, Sx, 2, 2]
    weight = wy[:, :, None, :, None] * wx[:, None, :, None, :]
    count, sy, sx = len(rois), ylow.shape[1], xlow.shape[1]
    values = table.index_select(0, index.reshape(-1)).view(count, sy, sx, 4, -1)  # [R, Sy, Sx, 4, C]
    sampled = torch.einsum("rytkc,rytk->rytc", values, weight.reshape(count, sy, sx, 4))
    sampled = sampled.reshape(count, pooled[0], grid[0], pooled[1], grid[1], -1).mean(dim=(2, 4))
    return sampled.permute(0, 3, 1, 2)


def roi_align_cpu(features: Tensor, rois: Tensor, spatial_scale: float, pooled_height: int, pooled_width: int,
                  sampling_ratio: int, aligned: bool) -> Tensor:
    """RoI align, as ``torchvision::roi_align``: the mean of bilinear samples on a regular grid in every bin.

    Args:
        features: ``[N, C, H, W]`` feature maps.
        rois: ``[R, 5]`` RoIs ``(image index, x1, y1, x2, y2)`` in input coordinates.
        spatial_scale: feature-map size over input size.
        pooled_height: output bins per RoI along y.
        pooled_width: output bins per RoI along x.
        sampling_ratio: samples per bin along each axis; ``<= 0`` adapts it to the RoI's size (``ceil(roi / bins)``).
        aligned: shift RoIs by half a pixel (pixel centres at ``+0.5``).

    Returns:
        ``[R, C, pooled_height, pooled_width]`` pooled features.
    """
    out = features.new_zeros(len(rois), features.shape[1], pooled_height, pooled_width)
    if len(rois) == 0:
        return out
    pooled = (pooled_height, pooled_width)
    image_size = (features.shape[2], features.shape[3])
    table = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])  # [N * H * W, C]: one row per pixel
    if sampling_ratio > 0:
        for start in range(0, len(rois), _ROI_CHUNK):
            chunk = slice(start, start + _ROI_CHUNK)
            out[chunk] = _roi_align_fixed_grid(table, image_size, rois[chunk], spatial_scale, pooled,
                                               (sampling_ratio, sampling_ratio), aligned)
        return out
    for i, roi in enumerate(rois):  # an adaptive grid differs per RoI: ceil(RoI size in feature pixels / bins)
        size = (roi[3:5] - roi[1:3]) * spatial_scale
        if not aligned:
            size = size.clamp(min=1)
        grid = (max(1, math.ceil(float(size[1]) / pooled_height)), max(1, math.ceil(float(size[0]) / pooled_width)))
        out[i:i + 1] = _roi_align_fixed_grid(table, image_size, rois[i:i + 1], spatial_scale, pooled, grid, aligned)
    return out
