"""``trace_module``: run a model once (on the ``meta`` device, else on the CPU) and return its computation graph."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

import torch
from torch import Tensor, nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.func import functional_call

from hypergen.graph.coverage import CoverageReport
from hypergen.graph.failures import TraceError, check_signature, classify_failure
from hypergen.graph.graph import ComputationGraph, ParamInfo, param_kind
from hypergen.graph.inputs import ExampleInputs, complete_inputs, describe_value, normalize_inputs, tensor_leaves
from hypergen.graph.isolation import isolated_state
from hypergen.graph.ops import OpRegistry, default_registry
from hypergen.graph.prune import drop_parameter_free_tails
from hypergen.graph.recorder import GraphRecorder
from hypergen.graph.standins import DenseOnRefusal, parameter_stand_in, state_stand_in
from hypergen.graph.reference import reference_statistics

__all__ = ["trace_module", "TraceError", "unique_parameters", "AUTO", "FALLBACK_DEVICE", "LARGE_MODEL_NUMEL"]

log = logging.getLogger(__name__)


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
    parts = [describe_value(a) for a in args] + [f"{k}={describe_value(v)}" for k, v in kwargs.items()]
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


#: ``device`` value that traces on ``meta`` and, if the forward cannot run there, once more on :data:`FALLBACK_DEVICE`.
AUTO = "auto"
#: Where ``device="auto"`` retries a forward that failed on ``meta``.
FALLBACK_DEVICE = torch.device("cpu")
#: Models with at least this many parameters get a warning (not an info line) when ``"auto"`` retries on the CPU:
#: the retry is a real forward pass, minutes for tens of billions of parameters.
LARGE_MODEL_NUMEL = 1_000_000_000
_MAX_DETAIL = 1000  # characters of the underlying error kept in a TraceError's message (the full one is its cause)


def trace_module(
    model: nn.Module,
    example_inputs: ExampleInputs = None,
    *,
    device: torch.device | str = AUTO,
    mode: Literal["train", "eval", "keep"] = "train",
    strict: bool = True,
    registry: OpRegistry | None = None,
    name: str | None = None,
) -> ComputationGraph:
    """Trace one forward pass of ``model`` into a :class:`ComputationGraph`.

    The model is never changed and its own parameters and buffers are never read, written or copied: the forward
    runs through :func:`torch.func.functional_call` on stand-in tensors of the same shape (see
    :mod:`hypergen.graph.standins`), plain tensor attributes are swapped for stand-ins too, and every module's
    state is restored afterwards, also when the forward fails (see :mod:`hypergen.graph.isolation`). The model may
    itself live on the ``meta`` device. Inputs that Hugging Face models cannot run without (an encoder-decoder's
    ``decoder_input_ids``...) are added, see :func:`~hypergen.graph.inputs.complete_inputs`. Each parameter's
    default-init statistics are recorded in ``ParamInfo.reference``
    (:func:`~hypergen.graph.reference.reference_statistics`).

    Args:
        model: any module that can run a forward pass.
        example_inputs: a tensor, a shape, a tuple of positional inputs or a dict of keyword inputs (see
            :func:`~hypergen.graph.inputs.normalize_inputs`); ``None`` means a batch of two 224x224 RGB images.
        device: ``"auto"`` (default): on ``meta`` (nothing allocated; plain meta tensors, then fake ones if the
            forward reads values, so that libraries skip their value checks as under ``torch.compile``), and if
            the forward cannot run there either (it calls ``.item()``, has data-dependent shapes, or needs an op
            whose meta kernel is missing), once more on the CPU (:data:`FALLBACK_DEVICE`, logged at INFO, at
            WARNING from :data:`LARGE_MODEL_NUMEL` parameters up). ``"meta"`` never leaves ``meta``. A real device
            (``"cpu"``, ``"cuda"``) runs the forward there on stand-in weights of strided noise, whose memory grows
            with the sum of each weight's dimensions, not their product; kernels copy at most one weight at a time
            into a dense temporary, activations are real. Buffers and tensor attributes are copied (zeros where the
            model has them on ``meta``).
        mode: ``"train"`` (default, so that training-only branches such as auxiliary heads are traced), ``"eval"``
            or ``"keep"``; the model's modes are restored afterwards.
        strict: raise :class:`~hypergen.graph.coverage.IncompleteCoverageError` if a parameter cannot be attached to
            a node; with ``False`` a loud warning lists them instead.
        registry: op types (default: :func:`~hypergen.graph.ops.default_registry`).
        name: model name used in messages (default: the class name).

    Returns:
        The graph, with ``graph.coverage`` listing attached and unattached parameters.

    Raises:
        TraceError: if the forward pass fails (the message names the model, the inputs' shapes, the device and the
            error, with advice that fits the cause: inputs its forward does not take, shapes that do not fit, or a
            forward that needs values on ``meta``).
        IncompleteCoverageError: if ``strict`` and parameters are left unattached.
    """
    registry = registry or default_registry()
    name = name or type(model).__name__
    auto = isinstance(device, str) and device == AUTO
    first = torch.device("meta") if auto else torch.device(device)
    try:
        recorder, output = _record(model, example_inputs, first, mode, registry, name)
    except TraceError as err:
        if not (auto and err.kind.retry_on_real_device):
            raise
        numel = sum(p.numel() for p in model.parameters())  # tied parameters once
        log.log(logging.WARNING if numel >= LARGE_MODEL_NUMEL else logging.INFO,
                "%s cannot be traced on meta (%s); tracing it again on %s with stand-in weights (%s parameters: a "
                "real forward pass; device='meta' forbids it)", name, err.detail, FALLBACK_DEVICE, f"{numel:,}")
        try:
            recorder, output = _record(model, example_inputs, FALLBACK_DEVICE, mode, registry, name)
        except TraceError as second:
            raise TraceError(name, second.inputs, second.device, mode, second.kind, second.detail,
                             meta_detail=err.detail) from second.__cause__
    recorder.add_outputs(output)
    own, leaves = dict(model.named_parameters(remove_duplicate=False)), _leaf_modules(model, registry)
    graph = _assemble(recorder, own, unique_parameters(model), leaves, name, strict)
    for pname, stats in reference_statistics(model, leaves, own).items():
        if pname in graph.params:
            graph.params[pname].reference = stats
    return graph


def _stand_ins(model: nn.Module, device: torch.device) -> tuple[dict[str, Tensor], dict[int, str]]:
    """Stand-ins for every parameter and buffer name (tied names share one), and ``id(stand-in)`` -> canonical name."""
    generator = torch.Generator().manual_seed(0)
    own = dict(model.named_parameters(remove_duplicate=False))
    stand_ins: dict[str, Tensor] = {}
    param_names: dict[int, str] = {}
    for canonical, names in unique_parameters(model).items():
        tensor = parameter_stand_in(own[canonical], device, generator)
        param_names[id(tensor)] = canonical
        stand_ins.update(dict.fromkeys(names, tensor))
    for bname, buf in model.named_buffers(remove_duplicate=False):
        stand_ins[bname] = state_stand_in(buf, device)
    return stand_ins, param_names


def _record(
    model: nn.Module, example_inputs: ExampleInputs, device: torch.device, mode: Literal["train", "eval", "keep"],
    registry: OpRegistry, name: str,
) -> tuple[GraphRecorder, object]:
    """Run the forward once on ``device`` under a recorder; returns the recorder and the forward's output.

    On ``meta`` the forward runs on plain meta tensors first (fastest). If it reads a value there, it runs again on
    :class:`~torch._subclasses.fake_tensor.FakeTensor` s (meta tensors that say what they are, 2-4x slower to
    trace): libraries that skip value checks while a model is compiled or exported (transformers' attention-mask
    and packed-sequence checks) skip them then too, instead of calling ``.item()``.
    """
    if device.type != "meta":
        # random inputs, dropout... draw from the global generators: the user's random stream stays as it was
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            return _record_once(model, example_inputs, device, mode, registry, name)
    try:
        return _record_once(model, example_inputs, device, mode, registry, name)
    except TraceError as err:
        if not err.kind.retry_on_real_device:
            raise
        log.debug("%s reads values on meta (%s); tracing it again on fake tensors", name, err.detail)
    with FakeTensorMode(allow_non_fake_inputs=True):
        return _record_once(model, example_inputs, device, mode, registry, name)


def _record_once(
    model: nn.Module, example_inputs: ExampleInputs, device: torch.device, mode: Literal["train", "eval", "keep"],
    registry: OpRegistry, name: str,
) -> tuple[GraphRecorder, object]:
    """One attempt of :func:`_record` with the tensor mode that is active (plain or fake meta, or a real device)."""
    args, kwargs = complete_inputs(model, *normalize_inputs(example_inputs, device), device)
    described = _describe_inputs(args, kwargs)
    check_signature(model, name, described, args, kwargs)
    stand_ins, param_names = _stand_ins(model, device)
    leaves = _leaf_modules(model, registry)
    unique = unique_parameters(model)
    canonical_of = {n: names[0] for names in unique.values() for n in names}
    leaf_params = {
        module: list(dict.fromkeys(canonical_of[f"{prefix}.{n}" if prefix else n]
                                   for n, _ in module.named_parameters(remove_duplicate=False)))
        for module, prefix in leaves.items()
    }
    module_names = {m: n for n, m in model.named_modules()}
    recorder = GraphRecorder(registry, param_names, leaf_params, module_names)
    recorder.add_inputs(args, kwargs)
    on_meta = device.type == "meta"
    skip = _skip_shape_preserving_leaves(leaves, registry) if on_meta else contextlib.nullcontext()
    dense = contextlib.nullcontext() if on_meta else DenseOnRefusal()  # entered before (beneath) the recorder
    try:
        with isolated_state(model, functools.partial(state_stand_in, device=device)), _training_mode(model, mode), \
                _hooks(model, recorder), skip, dense, recorder, torch.no_grad():
            output = functional_call(model, stand_ins, args, kwargs, tie_weights=True, strict=False)
    except Exception as err:
        detail = f"{type(err).__name__}: {err}"
        if len(detail) > _MAX_DETAIL:
            detail = detail[:_MAX_DETAIL] + f"... ({len(detail):,} characters, see the exception's __cause__)"
        raise TraceError(name, described, str(device), mode, classify_failure(err), detail) from err
    return recorder, output


def _assemble(
    recorder: GraphRecorder,
    own: dict[str, nn.Parameter],
    unique: dict[str, list[str]],
    leaves: dict[nn.Module, str],
    name: str,
    strict: bool,
) -> ComputationGraph:
    called = {node.scope for node in recorder.nodes}
    categories = {op.name: op.category for op in recorder.registry.op_types}
    nodes, edges, new_index = drop_parameter_free_tails(recorder.nodes, recorder.edges, categories)
    params: dict[str, ParamInfo] = {}
    coverage = CoverageReport()
    for canonical, names in unique.items():
        shape = tuple(own[canonical].shape)
        coverage.numel[canonical] = own[canonical].numel()
        node = recorder.param_node.get(canonical)
        if node is None:
            coverage.missing[canonical] = _missing_reason(canonical, leaves, called)
            continue
        node = new_index[node]
        scope = nodes[node].scope
        local = canonical[len(scope) + 1:] if scope and canonical.startswith(scope + ".") else canonical
        params[canonical] = ParamInfo(canonical, shape, node, local, tuple(names[1:]), param_kind(local, len(shape)))
        coverage.attached[canonical] = nodes[node].name
    graph = ComputationGraph(nodes, edges, params, coverage, name)
    graph.validate()
    coverage.enforce(strict, name)
    log.debug("traced %s: %d nodes, %d edges, %s", name, graph.num_nodes, len(graph.edges), coverage.summary())
    return graph


def _missing_reason(param: str, leaves: dict[nn.Module, str], called_scopes: set[str]) -> str:
    owner = next((prefix for prefix in leaves.values() if param.startswith(prefix + ".") or not prefix), None)
    if owner is not None and owner not in called_scopes:
        return f"module {owner!r} was not called in the forward pass"
    return "no operation of the forward pass used this parameter"
