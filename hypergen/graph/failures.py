"""Why a traced forward failed, and what to tell the user: :class:`TraceError` and the failure kinds it knows."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn
from torch._subclasses.fake_tensor import DataDependentOutputException, DynamicOutputShapeException

__all__ = ["TraceError", "FailureKind", "FAILURE_KINDS", "classify_failure", "check_signature", "python_option"]

#: How an option is spelled for the user: ``(name, value) -> text``; the CLI passes its own (``--device cpu``).
OptionStyle = Callable[[str, str], str]


def python_option(name: str, value: str) -> str:
    """``device='auto'``: how keyword arguments of the Python API are spelled in hints."""
    return f"{name}={value!r}"


@dataclass(frozen=True)
class FailureKind:
    """A class of forward failures and the advice that fits it.

    Attributes:
        name: short identifier (``"needs_values"``, ``"shapes"``, ``"inputs"``, ``"other"``).
        matches: whether an exception raised by the forward is of this kind.
        hint: advice; ``{auto}``, ``{cpu}`` and ``{eval}`` are replaced by the options as the user spells them.
        retry_on_real_device: whether a real device may succeed where ``meta`` failed (``device="auto"`` retries).
    """

    name: str
    matches: Callable[[BaseException], bool]
    hint: str
    retry_on_real_device: bool


def _needs_values(err: BaseException) -> bool:
    """Tracing on ``meta`` runs on fake tensors: reading a value or a value-dependent shape raises these."""
    return isinstance(err, (DataDependentOutputException, DynamicOutputShapeException)) or _mentions(
        "meta tensor", "'meta' backend", "data-dependent", "cannot copy out of meta", "devices, meta and",
        "devices, cpu and meta")(err)


def _mentions(*fragments: str) -> Callable[[BaseException], bool]:
    def matches(err: BaseException) -> bool:
        text = str(err).lower()
        return any(f in text for f in fragments)

    return matches


_SHAPE_FRAGMENTS = (
    "shapes cannot be multiplied", "size mismatch", "must match the size", "sizes of tensors must match",
    "attempting to broadcast", "is invalid for input of size", "given groups=", "expected input[",
    "but got input of size", "not broadcastable", "doesn't match the broadcast shape",
)

#: Failure kinds in the order they are tried; the last matches everything.
FAILURE_KINDS: tuple[FailureKind, ...] = (
    FailureKind(
        "needs_values",
        _needs_values,
        "The forward reads tensor values (.item(), bool(tensor), shapes that depend on values such as nonzero's) "
        "and meta tensors have none: trace with "
        "{auto} (meta, then once more on the CPU with stand-in weights that cost memory in the sum of each "
        "weight's dimensions) or {cpu}.",
        retry_on_real_device=True,
    ),
    FailureKind(
        "shapes",
        lambda err: isinstance(err, (RuntimeError, ValueError)) and _mentions(*_SHAPE_FRAGMENTS)(err),
        "The example inputs' shapes do not fit the model: pass inputs shaped as its forward expects (channels, "
        "image size, sequence length).",
        retry_on_real_device=False,
    ),
    FailureKind(
        "other",
        lambda err: True,
        "Check that example_inputs are what the model's forward expects (a model that needs more inputs in train "
        "mode, such as detection targets, traces with {eval}); if the forward works outside tracing, trace with "
        "{cpu} (some ops have no or a stricter meta kernel; {auto} retries there by itself).",
        retry_on_real_device=True,
    ),
)


def classify_failure(err: BaseException) -> FailureKind:
    """The first of :data:`FAILURE_KINDS` that ``err`` matches."""
    return next(kind for kind in FAILURE_KINDS if kind.matches(err))


_INPUTS = FailureKind("inputs", lambda err: False, "", retry_on_real_device=False)


class TraceError(RuntimeError):
    """The model's forward pass failed while tracing; the message names the model, the inputs, the device, the
    error and advice that fits its cause.

    Attributes:
        model_name: the traced model's name.
        inputs: the example inputs as text (shapes and dtypes, never values).
        device: where the failing forward ran.
        mode: the training mode it ran in (``"train"``, ``"eval"``, ``"keep"``).
        kind: the :class:`FailureKind` of the error.
        detail: the underlying error as text.
        meta_detail: the error of the first attempt on ``meta`` when ``device="auto"`` retried on the CPU.
    """

    def __init__(self, model_name: str, inputs: str, device: str, mode: str, kind: FailureKind, detail: str,
                 meta_detail: str | None = None) -> None:
        self.model_name, self.inputs, self.device, self.mode, self.kind = model_name, inputs, device, mode, kind
        self.detail, self.meta_detail = detail, meta_detail
        super().__init__(self.describe())

    def describe(self, option: OptionStyle = python_option) -> str:
        """The message, with device options spelled by ``option`` (the CLI passes ``--device cpu`` style)."""
        where = f" on {self.device} in {self.mode} mode" if self.kind is not _INPUTS else ""
        text = f"forward pass of {self.model_name} failed on example inputs ({self.inputs}){where}: {self.detail}."
        if self.meta_detail:
            text += f" (On meta it had failed first: {self.meta_detail}.)"
        hint = self.kind.hint.format(auto=option("device", "auto"), cpu=option("device", "cpu"),
                                     eval=option("mode", "eval"))
        return f"{text} {hint}" if hint else text


def check_signature(model: nn.Module, name: str, inputs: str, args: tuple, kwargs: dict) -> None:
    """Raise a :class:`TraceError` of kind ``inputs`` if ``model.forward`` cannot take ``args`` and ``kwargs``.

    The message lists the forward's argument names and the closest ones to a misspelt keyword.
    """
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return  # builtins and C extensions: let the forward itself complain
    try:
        signature.bind(*args, **kwargs)
    except TypeError as err:
        accepted = [p for p in signature.parameters if p not in ("self", "args", "kwargs")]
        unknown = [k for k in kwargs if k not in signature.parameters]
        close = {k: difflib.get_close_matches(k, accepted, n=2) for k in unknown}
        did_you_mean = "".join(f"; {k!r}: did you mean {' or '.join(map(repr, c))}?" for k, c in close.items() if c)
        detail = f"{type(model).__name__}.forward({', '.join(accepted)}) cannot take them ({err}){did_you_mean}"
        raise TraceError(name, inputs, "-", "-", _INPUTS, detail) from err

