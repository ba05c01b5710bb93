"""Distillation from a trained teacher's logits while a GHN trains (``module.distill``).

Every net the GHN predicts is trained against the labels *and* against the softened class probabilities of one
conventionally trained net of the same family, the teacher: ``(1 - w) * CE(student, y) + w * T^2 *
KL(softmax(teacher / T) || softmax(student / T))`` (Hinton et al., 2015). All predicted nets chase the same soft
targets, which carry how alike the classes look to a trained net, not only which class is right.

The teacher is a net of the training family (``ArchSampler.sample(teacher_index)`` of the pool's training sampler),
built with PyTorch's default init and trained with SGD on the run's own training set before the GHN's first step
(``teacher_steps`` batches in an order fixed by ``seed``, so every process and every rerun trains the same
teacher). It is stored in the run's checkpoints, so a resumed run does not train it again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

__all__ = ["Distillation", "distillation_loss", "train_teacher"]

log = logging.getLogger(__name__)


@dataclass
class Distillation:
    """How the GHN's nets learn from the teacher.

    Attributes:
        weight: ``w``, the soft targets' share of each net's loss (0: labels only; 1: teacher only).
        temperature: ``T``, softening of both distributions (the KL term is scaled by ``T^2`` so its gradients keep
            the cross-entropy's scale).
        teacher_index: which spec of the pool's training sampler the teacher is.
        teacher_steps: SGD steps the teacher trains (momentum 0.9, weight decay 5e-4, cosine decay).
        teacher_lr: its learning rate.
        teacher_batch_size: images per teacher step.
        seed: the teacher's init and data order.
    """

    weight: float = 0.5
    temperature: float = 4.0
    teacher_index: int = 1_000_000
    teacher_steps: int = 800
    teacher_lr: float = 0.01
    teacher_batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"module.distill.weight={self.weight}: give a share in [0, 1]")
        if self.temperature <= 0:
            raise ValueError(f"module.distill.temperature={self.temperature}: give a temperature > 0")
        if self.teacher_steps < 1 or self.teacher_batch_size < 1 or self.teacher_index < 0:
            raise ValueError(f"module.distill: teacher_steps={self.teacher_steps} and teacher_batch_size="
                             f"{self.teacher_batch_size} must be >= 1, teacher_index={self.teacher_index} >= 0")

    @classmethod
    def from_config(cls, values: Mapping[str, Any] | Distillation) -> Distillation:
        """From a ``module.distill`` mapping.

        Raises:
            ValueError: an unknown key or a value of the wrong type (named, with the valid keys or the type).
        """
        if isinstance(values, Distillation):
            return values
        from hypergen.ghn.config import check_fields

        check_fields(cls, dict(values))
        return cls(**dict(values))


def distillation_loss(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, averaged over the batch.

    Args:
        student: ``[B, C]`` logits (differentiable).
        teacher: ``[B, C]`` logits (constants).
        temperature: ``T``.

    Raises:
        ValueError: the shapes differ (names both).
    """
    if student.shape != teacher.shape or student.dim() != 2:
        raise ValueError(f"distillation needs [B, C] logits of equal shape; student {tuple(student.shape)}, "
                         f"teacher {tuple(teacher.shape)}")
    log_student = F.log_softmax(student / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher / temperature, dim=-1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature ** 2


def train_teacher(spec: Mapping[str, Any], train_set: Dataset, eval_batches: Sequence[tuple[Tensor, Tensor]],
                  config: Distillation, device: torch.device | str = "cpu") -> nn.Module:
    """Build ``spec``'s net (default init, seeded by ``config.seed``) and train it on ``train_set``.

    Returns:
        The trained net in eval mode, parameters frozen. Its accuracy on ``eval_batches`` is logged. The global
        torch random state is the same after the call as before it.
    """
    from hypergen.archs import build
    from hypergen.evaluate.finetune import FinetuneConfig, finetune, seeded_batches

    with torch.random.fork_rng(devices=[]):  # the caller's random stream (the GHN's run) continues untouched
        torch.manual_seed(config.seed)
        net = build(dict(spec), device)
        batches = seeded_batches(train_set, config.teacher_batch_size, config.seed)
        schedule = FinetuneConfig(config.teacher_steps, eval_every=config.teacher_steps, cosine=True)
        optimizer = partial(torch.optim.SGD, lr=config.teacher_lr, momentum=0.9, weight_decay=5e-4)
        curve = finetune(net, batches, eval_batches, schedule, optimizer, device, name="distillation teacher")
    log.info("distillation teacher (%d parameters) trained %d steps: %.1f%% on %d validation images",
             sum(p.numel() for p in net.parameters()), config.teacher_steps, 100 * curve.final,
             sum(len(y) for _, y in eval_batches))
    return net.eval().requires_grad_(False)
