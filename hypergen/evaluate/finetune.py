"""Fine-tune one net for a fixed number of steps, measuring test accuracy and loss along the way.

The task (classification or causal language modelling) follows from the shapes of outputs and targets, see
:mod:`hypergen.tasks`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from hypergen.tasks import prediction_counts, task_loss

__all__ = ["Curve", "FinetuneConfig", "OptimizerFactory", "accuracy", "finetune", "seeded_batches", "loss_and_accuracy"]

log = logging.getLogger(__name__)

#: Builds the optimiser of a net from its parameters (e.g. ``functools.partial(torch.optim.SGD, lr=0.01)``, or a
#: Hydra ``_partial_: true`` config).
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]

Batch = tuple[Tensor, Tensor]


@dataclass
class FinetuneConfig:
    """How long to fine-tune and how often to measure.

    Attributes:
        steps: optimisation steps (one batch each).
        eval_every: measure test accuracy every this many steps (and always at step 0 and at the last step).
        cosine: decay the learning rate to 0 over ``steps`` with a cosine (else constant).
    """

    steps: int
    eval_every: int = 50
    cosine: bool = False

    def __post_init__(self) -> None:
        if self.steps < 0 or self.eval_every < 1:
            raise ValueError(f"finetune needs steps >= 0 and eval_every >= 1, got steps={self.steps}, "
                             f"eval_every={self.eval_every}")

    def eval_steps(self) -> list[int]:
        """Steps after which accuracy is measured: ``0, eval_every, 2 * eval_every, ..., steps``."""
        points = list(range(0, self.steps + 1, self.eval_every))
        return points if points[-1] == self.steps else [*points, self.steps]


@dataclass
class Curve:
    """Test accuracy and loss of one net during fine-tuning.

    Attributes:
        steps: ``[P]`` steps after which accuracy was measured (0 = before any training).
        acc: ``[P]`` top-1 accuracy (fraction) at those steps (of next tokens, for a language model).
        train_loss: ``[P]`` mean training loss of the steps since the previous point (NaN at step 0).
        loss: ``[P]`` mean test loss at those steps (cross-entropy; mean next-token cross-entropy for a language
            model). Empty for curves built without it.
    """

    steps: list[int] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)

    @property
    def final(self) -> float:
        """Accuracy at the last measured step."""
        return self.acc[-1]

    @property
    def final_loss(self) -> float:
        """Test loss at the last measured step."""
        return self.loss[-1]

    def steps_to_reach(self, target: float) -> int | None:
        """The first measured step with accuracy ``>= target`` (None if never)."""
        return next((s for s, a in zip(self.steps, self.acc) if a >= target), None)

    def steps_to_reach_loss(self, target: float) -> int | None:
        """The first measured step with test loss ``<= target`` (None if never)."""
        return next((s for s, loss in zip(self.steps, self.loss) if loss <= target), None)


def seeded_batches(dataset: Dataset, batch_size: int, seed: int) -> Iterator[Batch]:
    """Shuffled ``(inputs, labels)`` batches of ``dataset``, epoch after epoch, in an order fixed by ``seed``: every
    call gives the same sequence (what a fair comparison of two inits needs). Incomplete last batches are dropped."""
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, generator=generator)
    while True:
        yield from loader


def loss_and_accuracy(model: nn.Module, batches: Iterable[Batch],
                      device: torch.device | str = "cpu") -> tuple[float, float]:
    """``(loss, accuracy)`` of ``model`` in eval mode on ``(inputs, targets)`` batches: the mean cross-entropy over
    all predictions and their top-1 accuracy (fraction) (samples, or next tokens of a language model; see
    :func:`~hypergen.tasks.task_loss`).

    Raises:
        ValueError: if ``batches`` is empty.
    """
    was_training = model.training
    model.eval()
    loss_sum = correct = total = 0.0
    with torch.no_grad():
        for x, y in batches:
            # one pass over the logits: summed cross-entropy, correct top-1, predictions
            summed, hits, count = prediction_counts(model(x.to(device)), y.to(device)).tolist()
            loss_sum, correct, total = loss_sum + summed, correct + hits, total + count
    model.train(was_training)
    if total == 0:
        raise ValueError("accuracy needs at least one evaluation batch")
    return loss_sum / total, correct / total


def accuracy(model: nn.Module, batches: Iterable[Batch], device: torch.device | str = "cpu") -> float:
    """Top-1 accuracy (fraction) of ``model`` in eval mode on ``(inputs, labels)`` batches (of next tokens, for a
    language model's ``(tokens [B, T], next tokens [B, T])``).

    Raises:
        ValueError: if ``batches`` is empty.
    """
    return loss_and_accuracy(model, batches, device)[1]


def finetune(model: nn.Module, train_batches: Iterator[Batch], eval_batches: Sequence[Batch],
             config: FinetuneConfig, make_optimizer: OptimizerFactory,
             device: torch.device | str = "cpu", name: str = "model") -> Curve:
    """Train ``model`` in place with cross-entropy for ``config.steps`` batches of ``train_batches`` (mean next-token
    cross-entropy for a language model, see :func:`~hypergen.tasks.task_loss`).

    Everything random (data order, augmentation, dropout) comes from the caller: give two inits the same batch
    iterator and the same torch seed to compare them fairly.

    Args:
        model: the net (on ``device``), already initialised.
        train_batches: at least ``config.steps`` training batches ``(inputs [B, ...], labels [B])`` or, for a
            language model, ``(tokens [B, T], next tokens [B, T])``.
        eval_batches: the test batches accuracy and loss are measured on.
        config: steps and measurement points.
        make_optimizer: builds the optimiser from ``model.parameters()``.
        device: where inputs are moved.
        name: for log lines.

    Returns:
        The :class:`Curve` of test accuracy and loss.

    Raises:
        ValueError: ``train_batches`` ran out before ``config.steps``.
    """
    optimizer = make_optimizer(model.parameters())
    schedule = None
    if config.cosine and config.steps > 0:
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, config.steps) / config.steps)))
    points = set(config.eval_steps())
    test_loss, acc = loss_and_accuracy(model, eval_batches, device)
    curve = Curve([0], [acc], [math.nan], [test_loss])
    losses: list[float] = []
    model.train()
    for step in range(1, config.steps + 1):
        batch = next(train_batches, None)
        if batch is None:
            raise ValueError(f"{name}: the training batches ran out after {step - 1} of {config.steps} steps")
        x, y = batch
        loss = task_loss(model(x.to(device)), y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        losses.append(loss.item())
        if step in points:
            curve.steps.append(step)
            test_loss, acc = loss_and_accuracy(model, eval_batches, device)
            curve.acc.append(acc)
            curve.loss.append(test_loss)
            curve.train_loss.append(sum(losses) / len(losses))
            losses = []
            log.info("%s: step %d/%d, test acc %.2f%%, test loss %.3f, train loss %.3f", name, step, config.steps,
                     100 * acc, test_loss, curve.train_loss[-1])
            model.train()
    return curve
