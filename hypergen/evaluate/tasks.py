"""The task a net is measured on, in the evaluation's terms: its loss and its correct predictions, for classifiers
and for causal language models. A thin layer over :mod:`hypergen.tasks` (the one loss used by training, validation and
evaluation alike).

Classification: logits ``[B, C]``, labels ``[B]``. Language modelling: next-token logits ``[B, T, V]``, next tokens
``[B, T]`` (every position is one prediction). Hugging Face models return an output object; its ``.logits`` is used.
The loss is the mean cross-entropy over all predictions (for a language model: the mean next-token cross-entropy in
nats, whose exponential is the perplexity).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from hypergen.tasks import (CLASSIFICATION, LANGUAGE_MODEL, TASKS, check_task, logits_of, perplexity,
                            prediction_counts, prediction_loss)

__all__ = ["CLASSIFICATION", "LANGUAGE_MODEL", "TASKS", "dataset_task", "logits_of", "perplexity", "task_correct",
           "task_loss"]


def task_loss(output: Any, target: Tensor) -> Tensor:
    """Mean cross-entropy over all predictions: per sample for ``[B, C]``/``[B]``, per next token for
    ``[B, T, V]``/``[B, T]`` (a scalar tensor, differentiable).

    Raises:
        ValueError: shapes that match neither task.
    """
    return prediction_loss(output, target)[0]


def task_correct(output: Any, target: Tensor) -> tuple[int, int]:
    """``(correct, count)``: top-1 predictions equal to the target (samples, or next tokens) and how many there were.

    Raises:
        ValueError: shapes that match neither task.
    """
    _, correct, count = prediction_counts(output, target).tolist()
    return int(correct), int(count)


def dataset_task(spec: Any) -> str:
    """The task of a dataset spec (its ``task`` class attribute, :data:`hypergen.tasks.TASKS`).

    Raises:
        ValueError: an unknown task (names the spec and the known ones).
    """
    return check_task(spec.task, f"dataset {type(spec).__name__}")
