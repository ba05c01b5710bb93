"""CPU kernels for torchvision's nms and roi_align: exact against scalar references, and detection models run."""

import math

import pytest
import torch

from hypergen.compat.torchvision_kernels import nms_cpu, roi_align_cpu


def reference_nms(boxes, scores, threshold):
    """Greedy NMS one box pair at a time, as torchvision's C++ CPU kernel."""
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    suppressed, keep = set(), []
    for a, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            x1, y1 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
            x2, y2 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
            inter = max(float(x2 - x1), 0.0) * max(float(y2 - y1), 0.0)
            area = lambda k: float((boxes[k, 2] - boxes[k, 0]) * (boxes[k, 3] - boxes[k, 1]))  # noqa: E731
            if inter / (area(i) + area(j) - inter) > threshold:
                suppressed.add(j)
    return keep


def random_boxes(n, generator, size=50.0):
    xy = torch.rand(n, 2, generator=generator) * size
    wh = torch.rand(n, 2, generator=generator) * size / 2 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_nms_hand_case():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    # box 3 (best) suppresses box 0 (IoU 0.9) and box 1 (IoU 0.62 > 0.5); box 2 overlaps nothing
    assert nms_cpu(boxes, scores, 0.5).tolist() == [3, 2]
    assert nms_cpu(boxes, scores, 0.95).tolist() == [3, 0, 1, 2]
    assert nms_cpu(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []


@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.7])
def test_nms_matches_reference(threshold):
    generator = torch.Generator().manual_seed(int(threshold * 10))
    boxes, scores = random_boxes(120, generator), torch.rand(120, generator=generator)
    assert nms_cpu(boxes, scores, threshold).tolist() == reference_nms(boxes, scores, threshold)


def reference_roi_align(features, rois, scale, pooled_h, pooled_w, ratio, aligned):
    """One bilinear sample at a time, following torchvision's C++ CPU kernel."""
    _, channels, height, width = features.shape
    out = torch.zeros(len(rois), channels, pooled_h, pooled_w, dtype=torch.float64)

    def bilinear(image, y, x):
        if y < -1.0 or y > height or x < -1.0 or x > width:
            return torch.zeros(channels, dtype=torch.float64)
        y, x = max(y, 0.0), max(x, 0.0)
        y_low, x_low = int(y), int(x)
        if y_low >= height - 1:
            y_low = y_high = height - 1
            y = float(y_low)
        else:
            y_high = y_low + 1
        if x_low >= width - 1:
            x_low = x_high = width - 1
            x = float(x_low)
        else:
            x_high = x_low + 1
        ly, lx = y - y_low, x - x_low
        f = features[image].double()
        return ((1 - ly) * (1 - lx) * f[:, y_low, x_low] + (1 - ly) * lx * f[:, y_low, x_high]
                + ly * (1 - lx) * f[:, y_high, x_low] + ly * lx * f[:, y_high, x_high])

    offset = 0.5 if aligned else 0.0
    for k, roi in enumerate(rois.tolist()):
        image = int(roi[0])
        x1, y1, x2, y2 = (v * scale - offset for v in roi[1:])
        roi_w, roi_h = x2 - x1, y2 - y1
        if not aligned:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / pooled_h, roi_w / pooled_w
        grid_h = ratio if ratio > 0 else math.ceil(roi_h / pooled_h)
        grid_w = ratio if ratio > 0 else math.ceil(roi_w / pooled_w)
        for ph in range(pooled_h):
            for pw in range(pooled_w):
                total = torch.zeros(channels, dtype=torch.float64)
                for iy in range(grid_h):
                    y = y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                    for ix in range(grid_w):
                        total += bilinear(image, y, x1 + pw * bin_w + (ix + 0.5) * bin_w / grid_w)
                out[k, :, ph, pw] = total / max(grid_h * grid_w, 1)
    return out


@pytest.mark.parametrize("ratio, aligned", [(2, True), (2, False), (-1, True), (0, False), (3, True)])
def test_roi_align_matches_reference(ratio, aligned):
    generator = torch.Generator().manual_seed(ratio + 10 * aligned)
    features = torch.randn(2, 3, 9, 11, generator=generator)
    # RoIs inside, across and beyond the borders, tiny and large, on both images (input coordinates at scale 1/2)
    boxes = random_boxes(12, generator, size=24.0) - 2.0
    rois = torch.cat([torch.randint(0, 2, (12, 1), generator=generator).float(), boxes], dim=1)
    rois = torch.cat([rois, torch.tensor([[1, 40.0, 40.0, 44.0, 44.0], [0, 3.0, 3.0, 3.2, 3.1]])])
    got = roi_align_cpu(features, rois, 0.5, 3, 4, ratio, aligned)
    assert got.shape == (14, 3, 3, 4)
    torch.testing.assert_close(got.double(), reference_roi_align(features, rois, 0.5, 3, 4, ratio, aligned),
                               atol=1e-5, rtol=1e-5)


def test_roi_align_is_exact_on_a_linear_image():
    """Bilinear sampling reproduces a linear function, so each bin holds the function at the bin's centre."""
    ys, xs = torch.meshgrid(torch.arange(20.0), torch.arange(30.0), indexing="ij")
    features = (2 * ys + 3 * xs + 1)[None, None]
    rois = torch.tensor([[0, 4.0, 2.0, 16.0, 10.0]])  # x1 y1 x2 y2 at scale 1, well inside
    got = roi_align_cpu(features, rois, 1.0, 2, 3, 2, True)[0, 0]
    centre_y = 2 - 0.5 + (torch.arange(2.0) + 0.5) * 4
    centre_x = 4 - 0.5 + (torch.arange(3.0) + 0.5) * 4
    torch.testing.assert_close(got, 2 * centre_y[:, None] + 3 * centre_x[None] + 1)


def test_torchvision_ops_and_a_detection_model_run(torchvision_models):
    torchvision = pytest.importorskip("torchvision")
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11.0]])
    assert torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0]
    pooled = torchvision.ops.roi_align(torch.ones(1, 2, 8, 8), [torch.tensor([[1.0, 1.0, 5.0, 5.0]])], (2, 2), 1.0, 2)
    torch.testing.assert_close(pooled, torch.ones(1, 2, 2, 2))
    torch.manual_seed(0)
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=3, box_score_thresh=0.0).eval()
    with torch.no_grad():
        detections = model([torch.rand(3, 96, 128)])[0]
    assert set(detections) == {"boxes", "labels", "scores"}
    assert 0 < len(detections["boxes"]) <= 100 and detections["boxes"].shape[1] == 4
    assert (detections["scores"][:-1] >= detections["scores"][1:]).all()  # sorted, as NMS keeps them
