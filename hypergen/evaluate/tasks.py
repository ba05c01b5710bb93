"""The task a net is measured on: its loss and its correct predictions, for classifiers and for causal language models.

Classification: logits ``[B, C]``, labels ``[B]``. Language modelling: next-token logits ``[B, T, V]``, next tokens
``[B, T]`` (every position is one prediction). Hugging Face models return an output object; its ``.logits`` is used.
The loss is the mean cross-entropy over all predictions (for a language model: the mean next-token cross-entropy in
nats, whose exponential is the perplexity).
"""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor

__all__ = ["CLASSIFICATION", "LANGUAGE_MODEL", "TASKS", "dataset_task", "logits_of", "perplexity", "task_correct",
           "task_loss"]

#: A classifier: logits ``[B, C]`` against labels ``[B]``.
CLASSIFICATION = "classification"
#: A causal language model: next-token logits ``[B, T, V]`` against next tokens ``[B, T]``.
LANGUAGE_MODEL = "language_model"
#: The tasks the evaluation knows.
TASKS: tuple[str, ...] = (CLASSIFICATION, LANGUAGE_MODEL)


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


def _flat(output: Any, target: Tensor) -> tuple[Tensor, Tensor]:
    """Logits ``[N, C]`` and targets ``[N]``, one row per prediction.

    Raises:
        ValueError: the shapes are not ``[B, C]``/``[B]`` or ``[B, T, V]``/``[B, T]`` (names both).
    """
    logits = logits_of(output)
    if logits.dim() != target.dim() + 1 or logits.shape[:-1] != target.shape or target.dim() not in (1, 2):
        raise ValueError(f"logits of shape {list(logits.shape)} do not match targets of shape {list(target.shape)}: "
                         "expected [B, C] with [B] (classification) or [B, T, V] with [B, T] (language model)")
    return logits.reshape(-1, logits.shape[-1]), target.reshape(-1)


def task_loss(output: Any, target: Tensor) -> Tensor:
    """Mean cross-entropy over all predictions: per sample for ``[B, C]``/``[B]``, per next token for
    ``[B, T, V]``/``[B, T]`` (a scalar tensor, differentiable).

    Raises:
        ValueError: shapes that match neither task.
    """
    logits, target = _flat(output, target)
    return F.cross_entropy(logits, target)


def task_correct(output: Any, target: Tensor) -> tuple[int, int]:
    """``(correct, count)``: top-1 predictions equal to the target (samples, or next tokens) and how many there were.

    Raises:
        ValueError: shapes that match neither task.
    """
    logits, target = _flat(output, target)
    return int((logits.argmax(-1) == target).sum()), target.numel()


def perplexity(loss: float) -> float:
    """``exp(loss)`` of a mean next-token cross-entropy in nats (``inf`` where it overflows)."""
    return math.exp(loss) if loss < 700 else math.inf


def dataset_task(spec: Any) -> str:
    """The task of a dataset spec (its ``task`` attribute; specs without one are classification datasets).

    Raises:
        ValueError: an unknown task (names it and the known ones).
    """
    task = getattr(spec, "task", CLASSIFICATION)
    if task not in TASKS:
        raise ValueError(f"dataset {type(spec).__name__} has task {task!r}; the evaluation knows {list(TASKS)}")
    return task

