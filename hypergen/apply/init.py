"""``init_``: overwrite a model's parameters in place with a GHN's predictions, and say what was not predicted."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from hypergen.apply.batchnorm import batchnorm_layers, recalibrate_batchnorm, stale_batchnorm_layers
from hypergen.apply.spectrum import orthogonalize_
from hypergen.graph.data import to_data
from hypergen.graph.inputs import ExampleInputs
from hypergen.graph.trace import trace_module, unique_parameters

if TYPE_CHECKING:
    from hypergen.ghn.model import GraphHyperNetwork

__all__ = ["InitReport", "init_", "BATCHNORM_MODES"]

log = logging.getLogger(__name__)

#: What ``init_`` does with BatchNorm running statistics.
BATCHNORM_MODES = ("keep", "reset", "recalibrate")


@dataclass
class InitReport:
    """What :func:`init_` did.

    Attributes:
        model_name: class name of the model.
        predicted: qualified names of the parameters overwritten with predictions (tied aliases included).
        not_predicted: qualified name -> why it kept its previous value.
        predicted_numel: scalars overwritten.
        batchnorm: what happened to BatchNorm running statistics.
        orthogonalized: predicted tensors replaced by their polar factor (``init_(..., orthogonalize=True)``).
        rescaled: predicted weights rescaled down to the standard deviation of the values they replaced
            (``init_(..., keep_scale=True)``, the default).
    """

    model_name: str
    predicted: list[str] = field(default_factory=list)
    not_predicted: dict[str, str] = field(default_factory=dict)
    predicted_numel: int = 0
    batchnorm: str = "no BatchNorm layers"
    orthogonalized: int = 0
    rescaled: int = 0

    @property
    def complete(self) -> bool:
        """Whether every parameter was predicted."""
        return not self.not_predicted

    def summary(self) -> str:
        """One paragraph for logs and the CLI."""
        lines = [f"{self.model_name}: {len(self.predicted)} parameter tensors ({self.predicted_numel:,} scalars) "
                 f"predicted{f' ({self.orthogonalized} orthogonalized)' if self.orthogonalized else ''}"
                 f"{f' ({self.rescaled} rescaled down to their previous std)' if self.rescaled else ''}, "
                 f"{len(self.not_predicted)} kept their values; BatchNorm statistics: {self.batchnorm}"]
        lines += [f"  not predicted: {name} ({reason})" for name, reason in self.not_predicted.items()]
        return "\n".join(lines)


def _cap_scale_(params: dict[str, torch.Tensor], stds: dict[str, float]) -> int:
    """Rescale ``params[name]`` around its mean down to std ``stds[name]`` where it is wider; returns how many."""
    count = 0
    for name, target in stds.items():
        value = params[name].data
        current = value.float().std().item()
        if 0 < target < current and math.isfinite(current):
            mean = value.mean()
            value.sub_(mean).mul_(target / current).add_(mean)
            count += 1
    return count


def _apply_batchnorm_mode(model: nn.Module, mode: str, batches: Iterable[Any] | None) -> str:
    """Do what ``init_``'s ``batchnorm`` mode says to the running statistics; returns the report's sentence."""
    layers = batchnorm_layers(model)
    if not layers:
        return "no BatchNorm layers"
    if mode == "recalibrate":
        return f"recalibrated on {recalibrate_batchnorm(model, batches)} batches"
    if mode == "reset":
        for m in layers.values():
            m.reset_running_stats()
        return f"reset to a fresh layer's (mean 0, var 1) in {len(layers)} layers"
    stale = stale_batchnorm_layers(model)
    if not stale:
        return (f"kept at a fresh layer's (mean 0, var 1) in {len(layers)} layers (pass batchnorm='recalibrate' "
                "with a few batches to re-estimate them)")
    log.warning("init_ kept running statistics of %d BatchNorm layers (%s...) that were estimated for the previous "
                "weights; pass batchnorm='reset' or 'recalibrate'", len(stale), stale[0])
    return (f"kept in {len(layers)} layers, {len(stale)} of them estimated for the previous weights (e.g. "
            f"{stale[0]!r}): eval-mode outputs pair them with the new weights; pass batchnorm='reset' or "
            "'recalibrate'")


def init_(
    model: nn.Module,
    ghn: GraphHyperNetwork,
    example_inputs: ExampleInputs = None,
    *,
    batchnorm: Literal["keep", "reset", "recalibrate"] = "keep",
    calibration_batches: Iterable[Any] | None = None,
    orthogonalize: bool = False,
    keep_scale: bool = True,
    device: torch.device | str = "auto",
    mode: Literal["train", "eval", "keep"] = "train",
) -> InitReport:
    """Initialise ``model`` in place with the parameters ``ghn`` predicts for it.

    The model is traced without a copy of its weights (on ``meta``; see ``device``) and every prediction is written
    straight into its parameter's storage (see :meth:`GraphHyperNetwork.write_`), so extra memory stays at the size
    of the low-rank factors whatever the model size. The values the model holds are taken for its default init: each tensor is
    predicted around their mean and std (``param_ref``, see :mod:`hypergen.ghn.scaling`), so call it on a freshly
    built model (a second call starts from the first one's predictions).

    Args:
        model: a model whose parameters live on a real device.
        ghn: the graph hypernetwork.
        example_inputs: inputs for tracing (see :func:`~hypergen.graph.trace.trace_module`).
        batchnorm: ``"keep"`` leaves running statistics as they are (eval-mode outputs then use them as they are;
            the report names layers whose statistics were estimated for earlier weights, and a warning is logged);
            ``"reset"`` sets them to a fresh layer's (mean 0, var 1);
            ``"recalibrate"`` re-estimates them on ``calibration_batches`` with the new weights.
        calibration_batches: a few input batches (or ``(inputs, targets)`` pairs), for ``"recalibrate"``.
        orthogonalize: replace every predicted weight of rank >= 2 by its polar factor (the GHN's singular
            directions, all singular values equal; see :mod:`hypergen.apply.spectrum`) before BatchNorm statistics
            are re-estimated. For fine-tuning: the net starts lower but learns faster than from the raw prediction.
        keep_scale: no predicted weight of rank >= 2 is wider than the values it replaces (the model's own init):
            one whose standard deviation is larger is rescaled around its mean down to theirs. Models built for
            smaller weights than the GHN's fan-in rules give (timm's ``trunc_normal(std=.02)``, GPT-2's 0.02) keep
            the scale their layers were designed for; without it a StarNet's ``x1 * x2`` blocks blow activations up
            through depth. Norm weights, biases and one-element tensors keep the GHN's values.
        device: tracing device, as in :func:`~hypergen.graph.trace.trace_module`: ``"auto"`` (default) traces on
            ``meta`` and, only if the forward cannot run there, once more on the CPU with stand-in weights (never a
            copy of the model's); ``"meta"``, ``"cpu"`` or ``"cuda"`` to choose.
        mode: training mode the forward is traced in (``"train"``, ``"eval"`` or ``"keep"``), as in
            :func:`~hypergen.graph.trace.trace_module`; the model's modes are restored afterwards.

    Returns:
        An :class:`InitReport` listing predicted and not-predicted parameters.

    Raises:
        ValueError: for a model on ``meta``, an unknown ``batchnorm`` mode, ``"recalibrate"`` without batches, or a
            predicted shape that differs from the parameter's (names it).
        TraceError: if the model's forward fails on ``example_inputs`` (see
            :func:`~hypergen.graph.trace.trace_module`).
    """
    if batchnorm not in BATCHNORM_MODES:
        raise ValueError(f"batchnorm={batchnorm!r}; use one of {BATCHNORM_MODES}")
    if batchnorm == "recalibrate" and calibration_batches is None:
        raise ValueError("batchnorm='recalibrate' needs calibration_batches (a few input batches)")
    on_meta = [n for n, p in model.named_parameters() if p.is_meta]
    if on_meta:
        raise ValueError(
            f"init_ writes into the model's parameters but {on_meta[0]!r} (and {len(on_meta) - 1} more) are on meta; "
            "build the model on a device, or call ghn(model) to get a {name: tensor} dict instead"
        )
    graph = trace_module(model, example_inputs, device=device, mode=mode, strict=False, registry=ghn.registry)
    data = to_data(graph, registry=ghn.registry, virtual_edge_cutoff=ghn.config.max_distance).to(
        next(ghn.parameters()).device)
    report = InitReport(type(model).__name__, not_predicted=dict(graph.coverage.missing))
    params = dict(model.named_parameters())
    aliases = unique_parameters(model)
    with torch.no_grad():
        previous = {name: params[name].data.float().std().item() for name in data.param_names
                    if params[name].dim() >= 2 and params[name].numel() > 1} if keep_scale else {}
        written = ghn.write_(data, {name: params[name].data for name in data.param_names})
        report.rescaled = _cap_scale_(params, previous)
    for name in written:
        report.predicted.extend(aliases.get(name, [name]))
        report.predicted_numel += params[name].numel()
    if orthogonalize:
        report.orthogonalized = orthogonalize_(params[name].data for name in written)
    report.batchnorm = _apply_batchnorm_mode(model, batchnorm, calibration_batches)
    log.info(report.summary())
    return report
