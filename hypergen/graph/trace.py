"""``trace_module``: run a model once (on the ``meta`` device by default) and return its computation graph."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call

from hypergen.graph.coverage import CoverageReport
from hypergen.graph.graph import ComputationGraph, ParamInfo, param_kind
from hypergen.graph.inputs import ExampleInputs, normalize_inputs, tensor_leaves
from hypergen.graph.ops import OpRegistry, default_registry
from hypergen.graph.recorder import GraphRecorder
from hypergen.graph.reference import reference_statistics

__all__ = ["trace_module", "TraceError", "unique_parameters"]

log = logging.getLogger(__name__)


class TraceError(RuntimeError):
    """The model's forward pass failed while tracing; the message names the model and the inputs used."""


def unique_parameters(model: nn.Module) -> dict[str, list[str]]:
    """Canonical name -> all names (first is canonical) for every distinct parameter tensor."""
    by_id: dict[int, list[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        by_id.setdefault(id(param), []).append(name)
    return {names[0]: names for names in by_id.values()}


def _leaf_modules(model: nn.Module, registry: OpRegistry) -> dict[nn.Module, str]:
    """Modules whose calls become single nodes: registered op types and modules without children.

    Children of a leaf are not leaves themselves (they run inside the leaf's node). Empty containers
    (``nn.Sequential()``) are not leaves: they pass their input through.
    """
    leaves: dict[nn.Module, str] = {}
    inside: set[int] = set()
    for name, module in model.named_modules():
        if id(module) in inside:
            continue
        childless = next(module.children(), None) is None
        container = isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict))
        if registry.module_op(module) is not None or (childless and not container):
            leaves[module] = name
            inside.update(id(m) for m in module.modules())
    return leaves


def _describe_inputs(args: tuple, kwargs: dict) -> str:
    def fmt(x: object) -> str:
        return f"Tensor{tuple(x.shape)}:{str(x.dtype).replace('torch.', '')}" if isinstance(x, Tensor) else repr(x)

    parts = [fmt(a) for a in args] + [f"{k}={fmt(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


@contextlib.contextmanager
def _training_mode(model: nn.Module, mode: Literal["train", "eval", "keep"]) -> Iterator[None]:
    previous = {m: m.training for m in model.modules()}
    if mode != "keep":
        model.train(mode == "train")
    try:
        yield
    finally:
        for module, training in previous.items():
            module.training = training


def _shape_only_forward(module: nn.Module) -> Callable[..., object]:
    inplace = bool(getattr(module, "inplace", False))
    own_forward = type(module).forward.__get__(module)

    def forward(*args: object, **kwargs: object) -> object:
        first = next((t for _, t in tensor_leaves((args, kwargs))), None)
        if first is None:
            return own_forward(*args, **kwargs)
        return first if inplace else torch.empty_like(first)

    return forward


@contextlib.contextmanager
def _skip_shape_preserving_leaves(leaves: Iterable[nn.Module], registry: OpRegistry) -> Iterator[None]:
    """On meta, norms and activations need no kernel: their output is shaped like their input.

    Meta kernels of e.g. training-mode BatchNorm are Python decompositions that dominate tracing time otherwise.
    Modules whose forward takes no tensor keep their own forward.
    """
    patched = []
    for module in leaves:
        op = registry.module_op(module)
        if op is not None and registry.preserves_shape(op) and "forward" not in module.__dict__:
            module.forward = _shape_only_forward(module)
            patched.append(module)
    try:
        yield
    finally:
        for module in patched:
            del module.forward


@contextlib.contextmanager
def _hooks(model: nn.Module, recorder: GraphRecorder) -> Iterator[None]:
    handles = []
    try:
        for module in model.modules():
            handles.append(module.register_forward_pre_hook(recorder.pre_hook, with_kwargs=True, prepend=True))
            handles.append(module.register_forward_hook(recorder.post_hook, with_kwargs=True, always_call=False))
        yield
    finally:
        for handle in handles:
            handle.remove()


def trace_module(
    model: nn.Module,
    example_inputs: ExampleInputs = None,
    *,
    device: torch.device | str = "meta",
    mode: Literal["train", "eval", "keep"] = "train",
    strict: bool = True,
    registry: OpRegistry | None = None,
    name: str | None = None,
) -> ComputationGraph:
    """Trace one forward pass of ``model`` into a :class:`ComputationGraph`.

    The model's own parameters and buffers are never written or copied: the forward runs through
    :func:`torch.func.functional_call` on stand-in tensors of the same shape on ``device`` (``meta`` by default, so
    no memory is allocated). The model may itself live on the ``meta`` device. Each parameter's default-init
    statistics are recorded in ``ParamInfo.reference`` (:func:`~hypergen.graph.reference.reference_statistics`).

    Args:
        model: any module that can run a forward pass.
        example_inputs: a tensor, a shape, a tuple of positional inputs or a dict of keyword inputs (see
            :func:`~hypergen.graph.inputs.normalize_inputs`); ``None`` means a batch of two 224x224 RGB images.
        device: where the forward runs; use ``"cpu"`` for models whose forward needs tensor *values* (``.item()``,
            data-dependent control flow).
        mode: ``"train"`` (default, so that training-only branches such as auxiliary heads are traced), ``"eval"``
            or ``"keep"``; the model's modes are restored afterwards.
        strict: raise :class:`~hypergen.graph.coverage.IncompleteCoverageError` if a parameter cannot be attached to
            a node; with ``False`` a loud warning lists them instead.
        registry: op types (default: :func:`~hypergen.graph.ops.default_registry`).
        name: model name used in messages (default: the class name).

    Returns:
        The graph, with ``graph.coverage`` listing attached and unattached parameters.

    Raises:
        TraceError: if the forward pass fails (message names the model and the inputs it got).
        IncompleteCoverageError: if ``strict`` and parameters are left unattached.
    """
    registry = registry or default_registry()
    name = name or type(model).__name__
    device = torch.device(device)
    args, kwargs = normalize_inputs(example_inputs, device)

    unique = unique_parameters(model)
    own = dict(model.named_parameters(remove_duplicate=False))
    stand_ins: dict[str, Tensor] = {}
    param_names: dict[int, str] = {}
    for canonical, names in unique.items():
        param = own[canonical]
        tensor = torch.empty_like(param, device=device) if device.type == "meta" else param.detach().to(device)
        param_names[id(tensor)] = canonical
        stand_ins.update(dict.fromkeys(names, tensor))
    for bname, buf in model.named_buffers(remove_duplicate=False):
        stand_ins[bname] = torch.empty_like(buf, device=device) if device.type == "meta" else buf.to(device)

    leaves = _leaf_modules(model, registry)
    canonical_of = {n: names[0] for names in unique.values() for n in names}
    leaf_params = {
        module: list(dict.fromkeys(canonical_of[f"{prefix}.{n}" if prefix else n]
                                   for n, _ in module.named_parameters(remove_duplicate=False)))
        for module, prefix in leaves.items()
    }
    module_names = {m: n for n, m in model.named_modules()}
    recorder = GraphRecorder(registry, param_names, leaf_params, module_names)
    recorder.add_inputs(args, kwargs)
    try:
        skip = _skip_shape_preserving_leaves(leaves, registry) if device.type == "meta" else contextlib.nullcontext()
        with _training_mode(model, mode), _hooks(model, recorder), skip, recorder, torch.no_grad():
            output = functional_call(model, stand_ins, args, kwargs, tie_weights=True, strict=False)
    except Exception as err:
        hint = " Tracing ran on the meta device; if the forward needs tensor values, pass device='cpu'." \
            if device.type == "meta" else ""
        raise TraceError(
            f"forward pass of {name} failed on example inputs ({_describe_inputs(args, kwargs)}): "
            f"{type(err).__name__}: {err}.{hint} Check that example_inputs match the model's forward signature."
        ) from err
    recorder.add_outputs(output)
    graph = _assemble(recorder, own, unique, leaves, name, strict)
    for pname, stats in reference_statistics(model, leaves, own).items():
        if pname in graph.params:
            graph.params[pname].reference = stats
    return graph


def _assemble(
    recorder: GraphRecorder,
    own: dict[str, nn.Parameter],
    unique: dict[str, list[str]],
    leaves: dict[nn.Module, str],
    name: str,
    strict: bool,
) -> ComputationGraph:
    called = {node.scope for node in recorder.nodes}
    params: dict[str, ParamInfo] = {}
    coverage = CoverageReport()
    for canonical, names in unique.items():
        shape = tuple(own[canonical].shape)
        coverage.numel[canonical] = own[canonical].numel()
        node = recorder.param_node.get(canonical)
        if node is None:
            coverage.missing[canonical] = _missing_reason(canonical, leaves, called)
            continue
        scope = recorder.nodes[node].scope
        local = canonical[len(scope) + 1:] if scope and canonical.startswith(scope + ".") else canonical
        params[canonical] = ParamInfo(canonical, shape, node, local, tuple(names[1:]), param_kind(local, len(shape)))
        coverage.attached[canonical] = recorder.nodes[node].name
    graph = ComputationGraph(recorder.nodes, sorted(recorder.edges), params, coverage, name)
    graph.validate()
    coverage.enforce(strict, name)
    log.debug("traced %s: %d nodes, %d edges, %s", name, graph.num_nodes, len(graph.edges), coverage.summary())
    return graph


def _missing_reason(param: str, leaves: dict[nn.Module, str], called_scopes: set[str]) -> str:
    owner = next((prefix for prefix in leaves.values() if param.startswith(prefix + ".") or not prefix), None)
    if owner is not None and owner not in called_scopes:
        return f"module {owner!r} was not called in the forward pass"
    return "no operation of the forward pass used this parameter"
