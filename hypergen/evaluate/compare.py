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

if TYPE_CHECKING:
    from hypergen.ghn.model import GraphHyperNetwork

__all__ = ["INITS", "CompareConfig", "TargetResult", "compare_inits"]

log = logging.getLogger(__name__)

#: The inits compared: the GHN's predicted weights, and PyTorch's default init of the same net.
INITS: tuple[str, ...] = ("ghn", "default")


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
    """

    finetune: FinetuneConfig
    batchnorm: Literal["recalibrate", "keep"] = "recalibrate"
    calibration_batches: int = 4
    seed: int = 0
    orthogonalize: bool = False
    orthogonalize_default: bool = False

    def __post_init__(self) -> None:
        if self.batchnorm not in ("recalibrate", "keep"):
            raise ValueError(f"batchnorm={self.batchnorm!r}; use 'recalibrate' or 'keep'")


@dataclass
class TargetResult:
    """Accuracy curves of one net from each init.

    Attributes:
        name: the target's name. params: its parameter count. info: the target's descriptive numbers.
        curves: init name (:data:`INITS`) -> :class:`Curve`.
        not_predicted: parameters the GHN did not predict (they kept their default init), with the reason.
        similarity: init name -> :func:`~hypergen.evaluate.diversity.same_shape_similarity` of the net's weights
            before fine-tuning (close to 1: every layer of a shape got the same tensor).
    """

    name: str
    params: int
    info: dict = field(default_factory=dict)
    curves: dict[str, Curve] = field(default_factory=dict)
    not_predicted: dict[str, str] = field(default_factory=dict)
    similarity: dict[str, float | None] = field(default_factory=dict)


def compare_inits(target: EvalTarget, ghn: GraphHyperNetwork, train_batches: Callable[[], Iterator[Batch]],
                  eval_batches: Sequence[Batch], config: CompareConfig, make_optimizer: OptimizerFactory,
                  input_shape: Sequence[int], device: torch.device | str = "cpu") -> TargetResult:
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
        input_shape: one input sample's shape (for tracing the net).
        device: where the nets run.

    Returns:
        A :class:`TargetResult` with one curve per init.
    """
    default = target.build(config.seed).to(device)
    nets: dict[str, nn.Module] = {"ghn": copy.deepcopy(default), "default": default}
    report = ghn.init_(nets["ghn"], (2, *input_shape), orthogonalize=config.orthogonalize)
    if config.orthogonalize_default:
        orthogonalize_(nets["default"].parameters())
    if config.batchnorm == "recalibrate":
        calibration = [x for x, _ in _take(train_batches(), config.calibration_batches)]
        for net in nets.values():
            recalibrate_batchnorm(net, calibration, device)
    result = TargetResult(target.name, sum(p.numel() for p in default.parameters()), dict(target.info),
                          not_predicted=dict(report.not_predicted),
                          similarity={init: same_shape_similarity(net) for init, net in nets.items()})
    for init in INITS:
        torch.manual_seed(config.seed)
        result.curves[init] = finetune(nets[init], train_batches(), eval_batches, config.finetune, make_optimizer,
                                       device, name=f"{target.name} [{init} init]")
    log.info("%s: test acc %.2f%% -> %.2f%% from GHN init, %.2f%% -> %.2f%% from default init", target.name,
             100 * result.curves["ghn"].acc[0], 100 * result.curves["ghn"].final,
             100 * result.curves["default"].acc[0], 100 * result.curves["default"].final)
    return result


def _take(batches: Iterator[Batch], n: int) -> list[Batch]:
    out = [b for _, b in zip(range(n), batches)]
    if not out:
        raise ValueError("no training batches for BatchNorm recalibration")
    return out
