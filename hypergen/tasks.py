"""Tasks a net is trained and scored on, and the one loss/accuracy used for all of them.

A task names what a dataset yields and what an architecture family predicts, so the two can be matched before a
run starts (:func:`hypergen.train.builders.check_task_fits`):

- ``"classification"``: inputs ``[B, *input_shape]`` and labels ``[B]``; the net gives logits ``[B, num_classes]``.
- ``"language_model"``: token ids ``[B, T]`` and next tokens ``[B, T]``; the net gives logits ``[B, T, vocab]``.

Both are scored the same way, per *prediction* (a sample, or a token position): the logits' last axis is the class
axis and every other axis indexes predictions, so :func:`prediction_loss` is the mean cross-entropy over samples or
over all token positions, and :func:`prediction_counts` sums what a mean over a whole validation set needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["CLASSIFICATION", "LANGUAGE_MODEL", "TASKS", "check_logit_norm", "check_task", "dataset_task", "logits_of",
           "normalize_logits", "perplexity", "prediction_counts", "prediction_loss", "task_correct", "task_loss"]

CLASSIFICATION = "classification"
LANGUAGE_MODEL = "language_model"

#: Known tasks: name -> what the data and the net's output are (for messages).
TASKS: Mapping[str, str] = {
    CLASSIFICATION: "inputs [B, *input_shape] with labels [B]; logits [B, num_classes]",
    LANGUAGE_MODEL: "token ids [B, T] with next tokens [B, T]; logits [B, T, vocab]",
}


def check_task(task: str, where: str) -> str:
    """Return ``task`` if it is one of :data:`TASKS`.

    Raises:
        ValueError: an unknown task; names ``where`` it was declared and lists the known ones.
    """
    if task not in TASKS:
        raise ValueError(f"{where}: unknown task {task!r}; known tasks: {sorted(TASKS)}")
    return task


def logits_of(output: Any) -> Tensor:
    """The logits of a model's output: the tensor itself, or the ``.logits`` of a Hugging Face output object.

    Raises:
        TypeError: ``output`` is neither a tensor nor has a tensor ``.logits`` (names its type).
    """
    if isinstance(output, Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, Tensor):
        return logits
    raise TypeError(f"cannot read logits from a model output of type {type(output).__name__}: the model must return "
                    "a logits tensor or an object with a .logits tensor (Hugging Face outputs)")


def check_logit_norm(norm: float, name: str = "norm") -> None:
    """Refuse an L2 norm for centred logits that is not positive (NaN included), naming it ``name`` (e.g.
    ``module.logit_norm`` where it came from a config).

    Raises:
        ValueError: ``norm`` is not ``> 0``.
    """
    if not norm > 0:
        raise ValueError(f"{name}={norm}: give a positive L2 norm for the centred logits (e.g. module.logit_norm=5), "
                         "or leave module.logit_norm null to train on the nets' own logits")


def normalize_logits(logits: Tensor, norm: float, eps: float = 1e-6) -> Tensor:
    """Each prediction's logits (the last axis) centred and rescaled to L2 norm ``norm``.

    Training a GHN on the cross-entropy of these (``module.logit_norm``; LogitNorm, Wei et al. 2022, with the mean
    taken out first) leaves the top-1 prediction unchanged but takes away the cheap way to lower the loss: shrinking
    every logit towards zero (uniform predictions, the loss ``ln C``). Centred logits of a fixed norm cannot be
    uniform, so the only way down is to rank the right class higher.

    Args:
        logits: ``[..., C]``.
        norm: the L2 norm of each prediction's centred logits (> 0). The lowest reachable cross-entropy rises as it
            falls: for 10 classes, ``log(1 + 9 exp(-1.054 norm))``, 0.045 at ``norm=5``.
        eps: added to the norm before dividing (all-equal logits stay finite).

    Raises:
        ValueError: ``norm <= 0`` or logits with fewer than 2 classes.
    """
    check_logit_norm(norm)
    if logits.dim() == 0 or logits.shape[-1] < 2:
        raise ValueError(f"normalize_logits needs logits [..., C] with C >= 2 classes, got shape {list(logits.shape)}")
    centred = logits - logits.mean(-1, keepdim=True)
    return norm * centred / (centred.norm(dim=-1, keepdim=True) + eps)


def perplexity(loss: float) -> float:
    """``exp(loss)`` of a mean next-token cross-entropy in nats (``inf`` where it overflows)."""
    return math.exp(loss) if loss < 700 else math.inf


def _flatten(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """``logits [..., C]`` and ``targets [...]`` as ``[N, C]`` and ``[N]`` (one row per prediction)."""
    if logits.dim() != targets.dim() + 1 or logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits of shape {list(logits.shape)} do not fit targets of shape {list(targets.shape)}: "
                         "expected logits [B, C] for labels [B] (classification) or [B, T, V] for next tokens [B, T] "
                         "(language model); check that the architecture family fits the dataset")
    return logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)


def prediction_loss(logits: Tensor | Any, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Mean cross-entropy and top-1 accuracy over all predictions of a batch.

    Args:
        logits: ``[B, C]`` (classification) or ``[B, T, V]`` (language model), or a Hugging Face output holding
            them (``.logits``).
        targets: int64 ``[B]`` or ``[B, T]``, the logits' shape without the class axis.

    Returns:
        ``(loss [], accuracy [])``: the loss is differentiable; the accuracy is a fraction in ``[0, 1]``.

    Raises:
        ValueError: the shapes do not fit (names both).
    """
    flat_logits, flat_targets = _flatten(logits_of(logits), targets)
    loss = F.cross_entropy(flat_logits, flat_targets)
    accuracy = (flat_logits.detach().argmax(-1) == flat_targets).float().mean()
    return loss, accuracy


def prediction_counts(logits: Tensor | Any, targets: Tensor) -> Tensor:
    """Sums for means over many batches: ``[summed cross-entropy, correct top-1, predictions]`` (float32 ``[3]``).

    Summing these over batches (and processes) and dividing by the count gives the exact per-sample or per-token
    mean, whatever the batch sizes. Shapes as in :func:`prediction_loss`.
    """
    flat_logits, flat_targets = _flatten(logits_of(logits), targets)
    summed = F.cross_entropy(flat_logits.float(), flat_targets, reduction="sum")
    correct = (flat_logits.argmax(-1) == flat_targets).sum()
    return torch.stack([summed, correct.float(), torch.tensor(float(flat_targets.numel()), device=summed.device)])


def task_loss(output: Tensor | Any, target: Tensor) -> Tensor:
    """Mean cross-entropy over all predictions (samples, or next tokens): a differentiable scalar. Shapes as in
    :func:`prediction_loss`; a Hugging Face output's ``.logits`` is used.

    Raises:
        ValueError: shapes that match neither task.
    """
    return prediction_loss(output, target)[0]


def task_correct(output: Tensor | Any, target: Tensor) -> tuple[int, int]:
    """``(correct, count)``: top-1 predictions equal to the target (samples, or next tokens) and how many there were.

    Raises:
        ValueError: shapes that match neither task.
    """
    _, correct, count = prediction_counts(output, target).tolist()
    return int(correct), int(count)


def dataset_task(spec: Any) -> str:
    """The task of a dataset spec (its ``task`` class attribute, one of :data:`TASKS`).

    Raises:
        ValueError: an unknown task (names the spec and the known ones).
    """
    return check_task(spec.task, f"dataset {type(spec).__name__}")
