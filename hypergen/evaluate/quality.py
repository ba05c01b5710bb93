"""How good are a GHN's predictions with no training? Accuracy of predicted weights on held-out nets, and how
diverse the predicted units are.

These are the numbers the quality benchmark (``benchmarks/bench_quality.py``) reports for every GHN it trains.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from hypergen.apply.batchnorm import recalibrate_batchnorm
from hypergen.apply.functional import forward_with, materialize_buffers
from hypergen.evaluate.diversity import same_shape_similarity
from hypergen.tasks import prediction_counts

__all__ = ["PredictedQuality", "accuracy_with", "mean_std", "predicted_quality", "repeated_unit_fraction",
           "steps_at_chance", "summarize_runs"]


def repeated_unit_fraction(params: Iterable[tuple[str, Tensor]], min_dims: int = 2) -> float | None:
    """Fraction of output units (rows of weight tensors) that are exact copies of another unit of the same tensor.

    A tiling decoder with block size ``T`` makes unit ``i`` and unit ``i + T`` identical; any such duplicate stays a
    duplicate under gradient descent (both get the same gradient when their inputs are the same), so the layer is
    effectively narrower. PyTorch's default init has none.

    Args:
        params: ``(name, tensor)`` pairs (a prediction's ``.items()``, ``model.named_parameters()``).
        min_dims: only tensors of at least this rank count (weights; not biases or norm parameters).

    Returns:
        repeated units / all units over the tensors with at least two units, or ``None`` when there are none.
    """
    repeated = total = 0
    for _, tensor in params:
        if tensor.dim() < min_dims or tensor.shape[0] < 2:
            continue
        rows = tensor.detach().reshape(tensor.shape[0], -1)
        _, inverse, counts = torch.unique(rows, dim=0, return_inverse=True, return_counts=True)
        repeated += int((counts[inverse] > 1).sum())
        total += rows.shape[0]
    return repeated / total if total else None


@dataclass
class PredictedQuality:
    """Predicted weights of a set of nets, measured with no training.

    Attributes:
        accuracy: ``[nets]`` top-1 of each net with predicted weights (BatchNorm statistics re-estimated).
        similarity: mean same-shape layer similarity over the nets (:func:`same_shape_similarity`).
        repeated_units: fraction of exactly repeated output units over all nets (:func:`repeated_unit_fraction`).
    """

    accuracy: list[float]
    similarity: float | None
    repeated_units: float | None

    @property
    def mean_accuracy(self) -> float:
        """Mean top-1 over the nets."""
        return sum(self.accuracy) / len(self.accuracy)


def accuracy_with(model: nn.Module, params: dict[str, Tensor], calibration: Sequence[Tensor],
                  batches: Sequence[tuple[Tensor, Tensor]], device: torch.device | str = "cpu") -> float:
    """Top-1 of ``model`` run with ``params`` (e.g. predicted weights; the model may live on ``meta`` with real
    buffers), BatchNorm statistics re-estimated on ``calibration`` first (predicted weights come with none).
    Per sample for classifiers, per token position for language models (:func:`hypergen.tasks.prediction_counts`).

    The model's own parameters and buffers are left untouched.
    """
    model = materialize_buffers(model, device)
    saved = {name: b.clone() for name, b in model.named_buffers()}
    try:
        recalibrate_batchnorm(model, calibration, device, params=params)
        state = {**params, **dict(model.named_buffers())}
        correct = count = 0
        with torch.no_grad():
            for x, y in batches:
                logits = forward_with(model.eval(), state, x.to(device))
                _, hits, predictions = prediction_counts(logits, y.to(device)).tolist()
                correct += int(hits)
                count += int(predictions)
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(saved[name])
    return correct / count


def predicted_quality(ghn: nn.Module, nets: Sequence[Any], calibration: Sequence[Tensor],
                      batches: Sequence[tuple[Tensor, Tensor]], device: torch.device | str = "cpu"
                      ) -> PredictedQuality:
    """Accuracy and diversity of ``ghn``'s predictions for ``nets``, with no training.

    Args:
        ghn: a :class:`~hypergen.ghn.GraphHyperNetwork`.
        nets: traced architectures (:class:`~hypergen.archs.cache.TracedArch`: ``.model`` on meta with real
            buffers, ``.data`` its graph data).
        calibration: input batches BatchNorm statistics are re-estimated on (as in training's validation).
        batches: ``(inputs, labels)`` evaluation batches.
        device: where to run.

    Returns:
        A :class:`PredictedQuality`.

    Raises:
        ValueError: ``nets`` or ``batches`` is empty.
    """
    if not nets or not batches:
        raise ValueError("predicted_quality needs at least one net and one evaluation batch")
    ghn = ghn.eval()
    accuracy, similarities, repeated, total = [], [], 0, 0
    for net in nets:
        with torch.no_grad():
            params = ghn(net.data.to(device))
        accuracy.append(accuracy_with(net.model, params, calibration, batches, device))
        similarity = same_shape_similarity(params.items())
        if similarity is not None:
            similarities.append(similarity)
        units = sum(t.shape[0] for t in params.values() if t.dim() >= 2 and t.shape[0] >= 2)
        fraction = repeated_unit_fraction(params.items())
        if fraction is not None:
            repeated += round(fraction * units)
            total += units
    return PredictedQuality(accuracy, sum(similarities) / len(similarities) if similarities else None,
                            repeated / total if total else None)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5


def summarize_runs(runs: Sequence[Mapping[str, float]], keys: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``{key: (mean, std)}`` over runs (seeds) of each key present in every run."""
    return {k: mean_std([float(r[k]) for r in runs]) for k in keys if all(k in r and r[k] is not None for r in runs)}


def steps_at_chance(losses: Iterable[tuple[int, float]], num_classes: int, margin: float = 0.1,
                    window: int = 50) -> int | None:
    """How long a GHN's training sat at chance: the first logged step ``s >= window`` at which the mean training loss
    over the steps ``(s - window, s]`` is below ``ln(num_classes) - margin``, or ``None`` if it never was.

    Training losses of GHNs start at or above ``ln(num_classes)`` (uniform predictions) and can stay there for
    hundreds of steps before they fall; how long depends on the seed, and the runs that leave chance late end lower
    (docs/results.md, issue 15's fifteenth round).

    Args:
        losses: ``(step, training loss)`` pairs in any order (steps need not be contiguous: logged every few steps).
        num_classes: classes of the task (chance cross-entropy ``ln(num_classes)``).
        margin: how far below chance the windowed mean must be.
        window: width of the window in steps.

    Raises:
        ValueError: for ``num_classes < 2`` or a non-positive ``window``.
    """
    if num_classes < 2 or window <= 0:
        raise ValueError(f"steps_at_chance needs num_classes >= 2 and window > 0, got {num_classes} and {window}")
    points = sorted(losses)
    threshold = math.log(num_classes) - margin
    start = 0
    total = 0.0
    for end, (step, loss) in enumerate(points):
        total += loss
        while points[start][0] <= step - window:
            total -= points[start][1]
            start += 1
        if step >= window and total / (end - start + 1) < threshold:
            return step
    return None
