"""Evaluation of predicted weights: accuracy with no training, and fine-tuning from GHN init vs default init.

``targets`` (which nets; each scored by :mod:`hypergen.tasks`, the loss and correct predictions of classifiers and of
causal language models that training uses too)
-> ``diversity`` (are the predicted layers different?) -> ``finetune`` (accuracy curves
of one net from one init) -> ``compare`` (both inits of every net, same seeds and data order) -> ``report``
(Markdown, CSV and a plot) -> ``run`` (the ``hypergen-eval`` Hydra entry point). See ``docs/evaluation.md``.
"""

from __future__ import annotations

from hypergen.evaluate.compare import INITS, CompareConfig, TargetResult, compare_inits, warm_start_name
from hypergen.evaluate.diversity import same_shape_similarity
from hypergen.evaluate.finetune import Curve, FinetuneConfig, accuracy, finetune, loss_and_accuracy, seeded_batches
from hypergen.evaluate.report import summarize, write_report
from hypergen.evaluate.targets import EvalTarget, heldout_targets, zoo_targets
from hypergen.tasks import CLASSIFICATION, LANGUAGE_MODEL, task_correct, task_loss

__all__ = [
    "CLASSIFICATION", "INITS", "LANGUAGE_MODEL", "CompareConfig", "Curve", "EvalTarget", "FinetuneConfig",
    "TargetResult", "accuracy", "compare_inits", "finetune", "heldout_targets", "loss_and_accuracy",
    "same_shape_similarity", "seeded_batches", "summarize", "task_correct", "task_loss", "write_report",
    "warm_start_name", "zoo_targets",
]
