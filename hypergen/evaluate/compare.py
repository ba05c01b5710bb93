"""Both inits of one net, compared fairly: the same default-init net, the same data order, the same seeds."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from hypergen.apply.batchnorm import recalibrate_batchnorm
from hypergen.apply.spectrum import orthogonalize_
from hypergen.evaluate.diversity import same_shape_similarity
from hypergen.evaluate.finetune import Batch, Curve, FinetuneConfig, OptimizerFactory, finetune
from hypergen.evaluate.targets import EvalTarget
from hypergen.tasks import CLASSIFICATION, LANGUAGE_MODEL, TASKS, perplexity

if TYPE_CHECKING:
    from hypergen.ghn.model import GraphHyperNetwork
    from hypergen.graph.inputs import ExampleInputs

__all__ = ["INITS", "CompareConfig", "TargetResult", "compare_inits", "warm_start_name"]

log = logging.getLogger(__name__)

#: The inits compared: the GHN's predicted weights, and PyTorch's default init of the same net.
INITS: tuple[str, ...] = ("ghn", "default")


#: Curve names of warm starts begin with this (see :func:`warm_start_name`).
WARM_START_PREFIX = "warm"


def warm_start_name(steps: int) -> str:
    """Curve name of the reference init "default init trained ``steps`` steps first" (``"warm200"``)."""
    return f"{WARM_START_PREFIX}{steps}"


@dataclass
class CompareConfig:
    """How the two inits of a net are compared.

    Attributes:
        finetune: steps and measurement points of fine-tuning.
        batchnorm: ``"recalibrate"`` re-estimates BatchNorm running statistics of *both* inits on
            ``calibration_batches`` training batches before step 0 (predicted weights come with no statistics of
            their own); ``"keep"`` leaves them as built (mean 0, variance 1).
        calibration_batches: how many training batches recalibration uses.
        seed: seed of the default init, and of the torch RNG at the start of each fine-tuning run.
        orthogonalize: the GHN init is the polar factor of each predicted weight (see
            :mod:`hypergen.apply.spectrum`) rather than the prediction itself.
        orthogonalize_default: the default init is replaced by its own polar factors (a random orthogonal init:
            the control that separates what the GHN adds from what orthogonality alone does).
        warm_start: reference inits, one per entry ``k``: the default-init net (orthogonalised under
            ``orthogonalize_default``) first trained ``k`` steps (constant learning rate, its own data order),
            then fine-tuned exactly like the two inits. They calibrate the GHN's numbers: what an init worth ``k``
            steps of training achieves under the same fine-tuning.
        task: ``"classification"`` or ``"language_model"`` (:mod:`hypergen.tasks`): which numbers the
            report leads with (accuracy; or next-token loss and perplexity, with token accuracy next to them).
        keep_scale: ``init_``'s option of that name (its default, True: no predicted weight wider than the default
            init's). A GHN trained on a family has learned its scales; on language models capping them at GPT-2's
            0.02 costs more than 2 nats (docs/results.md), so evaluate such a GHN with ``keep_scale=False``.
    """

    finetune: FinetuneConfig
    batchnorm: Literal["recalibrate", "keep"] = "recalibrate"
    calibration_batches: int = 4
    seed: int = 0
    orthogonalize: bool = False
    orthogonalize_default: bool = False
    warm_start: tuple[int, ...] = ()
    task: str = CLASSIFICATION
    keep_scale: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task={self.task!r}; use one of {list(TASKS)}")
        if self.batchnorm not in ("recalibrate", "keep"):
            raise ValueError(f"batchnorm={self.batchnorm!r}; use 'recalibrate' or 'keep'")
        self.warm_start = tuple(int(k) for k in self.warm_start)
        if any(k < 1 for k in self.warm_start) or len(set(self.warm_start)) != len(self.warm_start):
            raise ValueError(f"warm_start={list(self.warm_start)}: give distinct step counts >= 1 (or none)")


@dataclass
class TargetResult:
    """Accuracy curves of one net from each init.

    Attributes:
        name: the target's name. params: its parameter count. info: the target's descriptive numbers.
        curves: init name (:data:`INITS`, then the :func:`warm_start_name` of each warm start) -> :class:`Curve`.
        not_predicted: parameters the GHN did not predict (they kept their default init), with the reason.
        similarity: init name -> :func:`~hypergen.evaluate.diversity.same_shape_similarity` of the net's weights
            before fine-tuning (close to 1: every layer of a shape got the same tensor).
        task: the task measured (:data:`~hypergen.tasks.TASKS`).
    """

    name: str
    params: int
    info: dict = field(default_factory=dict)
    curves: dict[str, Curve] = field(default_factory=dict)
    not_predicted: dict[str, str] = field(default_factory=dict)
    similarity: dict[str, float | None] = field(default_factory=dict)
    task: str = CLASSIFICATION


def compare_inits(target: EvalTarget, ghn: GraphHyperNetwork, train_batches: Callable[[], Iterator[Batch]],
                  eval_batches: Sequence[Batch], config: CompareConfig, make_optimizer: OptimizerFactory,
                  input_shape: Sequence[int], device: torch.device | str = "cpu",
                  warm_batches: Callable[[], Iterator[Batch]] | None = None,
                  example_inputs: ExampleInputs = None) -> TargetResult:
    """Fine-tune ``target`` from the GHN's predicted weights and from its default init, under equal conditions.

    Both runs start from the same built net (the GHN overwrites a copy of it), see the same batches in the same
    order (``train_batches()`` is called once per run and must give the same sequence each time) and start from
    the same torch seed.

    Args:
        target: the net.
        ghn: the (trained) GHN.
        train_batches: returns a fresh iterator over the training batches, the same sequence on every call.
        eval_batches: test batches.
        config: the comparison's settings.
        make_optimizer: builds an optimiser from parameters (the same for both inits).
        input_shape: one input sample's shape (for tracing the net with a random batch of two).
        device: where the nets run.
        warm_batches: returns the training batches of the warm starts' pre-training (``config.warm_start``): a
            different order than ``train_batches``, so that pre-training does not rehearse the fine-tuning.
        example_inputs: what the net is traced with instead of a random batch of ``input_shape`` (a language
            model needs token ids: e.g. the first two sequences of a training batch, ``[2, T]`` int64).

    Returns:
        A :class:`TargetResult` with one curve per init (and per warm start).

    Raises:
        ValueError: ``config.warm_start`` is set but ``warm_batches`` is not.
    """
    if config.warm_start and warm_batches is None:
        raise ValueError(f"warm_start={list(config.warm_start)} needs warm_batches (the pre-training data)")
    default = target.build(config.seed).to(device)
    nets: dict[str, nn.Module] = {"ghn": copy.deepcopy(default), "default": default}
    example = (2, *input_shape) if example_inputs is None else example_inputs
    report = ghn.init_(nets["ghn"], example, orthogonalize=config.orthogonalize, keep_scale=config.keep_scale)
    if config.orthogonalize_default:
        orthogonalize_(nets["default"].parameters())
    if config.batchnorm == "recalibrate":
        calibration = [x for x, _ in _take(train_batches(), config.calibration_batches)]
        for net in nets.values():
            recalibrate_batchnorm(net, calibration, device)
    result = TargetResult(target.name, sum(p.numel() for p in default.parameters()), dict(target.info),
                          not_predicted=dict(report.not_predicted),
                          similarity={init: same_shape_similarity(net) for init, net in nets.items()},
                          task=config.task)
    for init in INITS:
        torch.manual_seed(config.seed)
        result.curves[init] = finetune(nets[init], train_batches(), eval_batches, config.finetune, make_optimizer,
                                       device, name=f"{target.name} [{init} init]")
    if config.warm_start:
        result.curves.update(_warm_starts(target, train_batches, warm_batches(), eval_batches, config,
                                          make_optimizer, device))
    _log_result(result)
    return result


def _log_result(result: TargetResult) -> None:
    ghn, default = result.curves["ghn"], result.curves["default"]
    if result.task == LANGUAGE_MODEL:
        log.info("%s: test loss %.3f (ppl %.4g) -> %.3f from GHN init, %.3f (ppl %.4g) -> %.3f from default init",
                 result.name, ghn.loss[0], perplexity(ghn.loss[0]), ghn.final_loss, default.loss[0],
                 perplexity(default.loss[0]), default.final_loss)
        return
    log.info("%s: test acc %.2f%% -> %.2f%% from GHN init, %.2f%% -> %.2f%% from default init", result.name,
             100 * ghn.acc[0], 100 * ghn.final, 100 * default.acc[0], 100 * default.final)


def _warm_starts(target: EvalTarget, train_batches: Callable[[], Iterator[Batch]], batches: Iterator[Batch],
                 eval_batches: Sequence[Batch], config: CompareConfig, make_optimizer: OptimizerFactory,
                 device: torch.device | str) -> dict[str, Curve]:
    """Curves of the reference inits: one default-init net is trained on (``batches``, constant learning rate, one
    optimiser throughout) and a copy of it at each warm-start step is fine-tuned on ``train_batches()``."""
    net = target.build(config.seed).to(device)
    if config.orthogonalize_default:
        orthogonalize_(net.parameters())
    torch.manual_seed(config.seed + 1)
    optimizer = make_optimizer(net.parameters())
    curves, done = {}, 0
    for steps in sorted(config.warm_start):
        pretrain = FinetuneConfig(steps - done, eval_every=steps - done)
        finetune(net, batches, eval_batches[:1], pretrain, lambda _: optimizer, device,
                 name=f"{target.name} [pre-training to step {steps}]")
        done = steps
        start = copy.deepcopy(net)
        torch.manual_seed(config.seed)
        curves[warm_start_name(steps)] = finetune(start, train_batches(), eval_batches, config.finetune,
                                                  make_optimizer, device,
                                                  name=f"{target.name} [{warm_start_name(steps)} init]")
    return curves


def _take(batches: Iterator[Batch], n: int) -> list[Batch]:
    out = [b for _, b in zip(range(n), batches)]
    if not out:
        raise ValueError("no training batches for BatchNorm recalibration")
    return out
