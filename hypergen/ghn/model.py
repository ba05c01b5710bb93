"""The graph hypernetwork: node encoder -> GNN -> per-parameter conditioning -> decoder -> scaling."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_mean_pool

from hypergen.ghn.config import GHNConfig
from hypergen.ghn.decoders import TensorLayout, build_decoder
from hypergen.ghn.decoders.base import RawParams
from hypergen.ghn.encoder import NodeEncoder
from hypergen.ghn.encodings import log_size_encoding
from hypergen.ghn.gnn import build_gnn
from hypergen.ghn.scaling import ROLES, ParamScaler, fan_in_of, param_role
from hypergen.graph.data import to_data
from hypergen.graph.features import MAX_PARAM_DIMS
from hypergen.graph.graph import PARAM_KINDS, ComputationGraph
from hypergen.graph.inputs import ExampleInputs
from hypergen.graph.ops import IN_OUT_WEIGHT_OPS, OpRegistry, default_registry
from hypergen.graph.trace import trace_module

__all__ = ["GraphHyperNetwork", "ParamGroup", "Target"]

_MAX_SLOTS = 8  # parameters of one node beyond this share the last slot embedding
_SHAPE_FREQS = 4
_FALLBACK_OPS = ("unknown_module", "unknown_op")
_NO_HEIGHT = -1  # graph data encoded before node heights were recorded: no output layer is recognised
# Rank-3 weights of these node categories are stacks of matrices (Mixtral's fused experts ``[E, out, in]``), not
# convolution kernels: their fan-in is one matrix's.
_STACKED_WEIGHT_CATEGORIES = frozenset({"parameter", "unknown"})

#: Training mode a model is traced in (see :func:`~hypergen.graph.trace.trace_module`).
TraceMode = Literal["train", "eval", "keep"]

#: What a GHN can predict parameters for.
Target = nn.Module | ComputationGraph | Data | Batch


@dataclass
class ParamGroup:
    """Parameters of one shape and role, decoded together.

    Attributes:
        layout: their common shape, seen as rows x cols x kernel.
        role: scaling role (see :mod:`hypergen.ghn.scaling`).
        rows: ``[G]`` positions in the (batched) parameter list.
        fan_in: ``[G]`` fan-in of each tensor.
        ids: ``[G]`` position of each tensor among its own graph's parameters (the same alone or in a batch; seeds
            the decoder's fixed components).
        reference: ``[G, 2]`` default-init ``(mean, std)`` of each tensor, NaN where unknown (``param_ref``), or
            ``None`` for graph data encoded before hypergen recorded them.
        stacked: the tensors are stacks of ``[out, in]`` matrices (rank 3, of a free parameter or an unknown
            module), not convolution kernels.
        output: the tensors are output layers' weights (a linear layer feeding a graph output: rows are classes),
            marked only when ``config.fixed_output`` asks for a fixed read-out there.

    ``layout.vocab_rows`` marks embedding tables and output layers when the GHN has learned row codes
    (``GHNConfig.vocab_codes``); they are then grouped apart from other tensors of their shape.
    """

    layout: TensorLayout
    role: str
    rows: Tensor
    fan_in: Tensor
    ids: Tensor
    reference: Tensor | None = None
    stacked: bool = False
    output: bool = False

    def part(self, start: int, stop: int) -> ParamGroup:
        """The tensors ``start:stop`` of the group."""
        return ParamGroup(self.layout, self.role, self.rows[start:stop], self.fan_in[start:stop],
                          self.ids[start:stop], None if self.reference is None else self.reference[start:stop],
                          self.stacked, self.output)


class GraphHyperNetwork(nn.Module):
    """Predicts every parameter of a model from its computation graph in one forward pass.

    Calling it on a graph (or a model, which is traced on the ``meta`` device first) returns
    ``{qualified_name: tensor}``; on a :class:`~torch_geometric.data.Batch` a list of such dicts. Predictions are
    differentiable, so a task loss computed through :func:`torch.func.functional_call` trains the GHN.

    Args:
        config: hyper-parameters (default :class:`GHNConfig`); ``op_vocabulary`` is filled from ``registry``.
        registry: op registry graphs are encoded with (default :func:`~hypergen.graph.ops.default_registry`).

    Raises:
        KeyError: if ``config.op_vocabulary`` names an op the registry does not know.
    """

    def __init__(self, config: GHNConfig | None = None, registry: OpRegistry | None = None) -> None:
        super().__init__()
        config = copy.deepcopy(config) if config is not None else GHNConfig()
        self.registry = registry or default_registry()
        if not config.op_vocabulary:
            config.op_vocabulary = [op.name for op in self.registry.op_types]
        self.config = config
        hidden = config.hidden
        self.register_buffer("op_map", self._op_index_map(config.op_vocabulary), persistent=False)
        self.encoder = NodeEncoder(len(config.op_vocabulary), hidden, positional=config.positional)
        self.gnn = build_gnn(config.gnn, hidden, config.gnn_layers, config.heads, config.max_distance)
        self.kind_embedding = nn.Embedding(len(PARAM_KINDS), hidden)
        self.slot_embedding = nn.Embedding(_MAX_SLOTS, hidden)
        self.role_embedding = nn.Embedding(len(ROLES), hidden)
        self.shape_proj = nn.Linear(MAX_PARAM_DIMS * 2 * _SHAPE_FREQS, hidden)
        self.cond_mlp = nn.Sequential(
            nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden)
        )
        self.decoder = build_decoder(config)
        if config.fixed_output and not hasattr(self.decoder, "fixed_output"):
            raise ValueError(f"fixed_output=True needs a decoder with a fixed read-out (decoder='core'); "
                             f"decoder={config.decoder!r} has none: set fixed_output=False or decoder='core'")
        self.scaler = ParamScaler(hidden, config.scaling)

    def _op_index_map(self, vocabulary: list[str]) -> Tensor:
        """Registry op index -> row of this GHN's op embedding (ops newer than the vocabulary -> 'unknown')."""
        position = {name: i for i, name in enumerate(vocabulary)}
        fallback = next((position[name] for name in _FALLBACK_OPS if name in position), None)
        mapping = []
        for op in self.registry.op_types:
            if op.name in position:
                mapping.append(position[op.name])
            elif fallback is not None:
                mapping.append(fallback)
            else:
                raise KeyError(f"op {op.name!r} is not in the GHN's vocabulary and it has no 'unknown_module' entry")
        return torch.tensor(mapping, dtype=torch.long)

    @property
    def num_parameters(self) -> int:
        """Number of the GHN's own parameters."""
        return sum(p.numel() for p in self.parameters())

    # --- graph side -------------------------------------------------------------------------------------------

    def as_data(
        self, target: Target, example_inputs: ExampleInputs = None, *, device: torch.device | str = "auto",
        mode: TraceMode = "train",
    ) -> Data | Batch:
        """Graph data for ``target``: models are traced (parameters not attached are skipped, with a warning listing
        them), graphs encoded, data moved to the GHN's device.

        Args:
            target: a model, a :class:`ComputationGraph`, or its encoding (or a batch of them).
            example_inputs: inputs for tracing a model (default: two 224x224 RGB images).
            device: tracing device of :func:`~hypergen.graph.trace.trace_module`: ``"auto"`` (default: ``meta``,
                and the CPU with stand-in weights only if the forward cannot run there), ``"meta"``, ``"cpu"``...
            mode: training mode the model is traced in (``"train"``, ``"eval"`` or ``"keep"``).

        Raises:
            TraceError: if the model's forward fails on ``example_inputs``.
            TypeError: for a target of another type.
        """
        if isinstance(target, nn.Module):
            target = trace_module(target, example_inputs, device=device, mode=mode, strict=False,
                                  registry=self.registry)
        if isinstance(target, ComputationGraph):
            target = to_data(target, registry=self.registry, virtual_edge_cutoff=self.config.max_distance)
        if not isinstance(target, Data | Batch):
            raise TypeError(f"cannot predict parameters for a {type(target).__name__}; pass a model, graph or Data")
        return target.to(self.op_map.device)

    def node_embeddings(self, data: Data | Batch) -> Tensor:
        """``[num_nodes, hidden]`` embeddings after the GNN (centred per graph and re-normalised when
        ``config.center_nodes``)."""
        data = copy.copy(data)
        data.op = self.op_map[data.op]
        h = self.gnn(self.encoder(data), data)
        if not self.config.center_nodes:
            return h
        batch = data.batch if isinstance(data, Batch) else None
        mean = global_mean_pool(h, batch)  # [graphs, hidden]
        return F.layer_norm(h - (mean if batch is None else mean[batch]), h.shape[1:])

    def plan(self, data: Data | Batch) -> list[ParamGroup]:
        """Group the parameters of ``data`` by shape and role (one decoder call per group)."""
        shapes = data.param_shape.tolist()
        ndims = data.param_ndim.tolist()
        nodes = data.param_node_index.tolist()
        kinds = data.param_kind.tolist()
        ops = data.op.tolist()
        node_shapes = data.node_shape.tolist()
        op_types = self.registry.op_types
        groups: dict[tuple[tuple[int, ...], str, bool, bool, bool], tuple[list[int], list[int]]] = {}
        tied = data.param_tied.tolist() if "param_tied" in data else [False] * len(shapes)
        learned_codes, fixed_output = bool(self.config.vocab_codes), self.config.fixed_output
        id_rows = (_id_rows(data, self.registry) if learned_codes or fixed_output
                   else [None] * len(shapes))  # type: list[str | None]
        vocab = [learned_codes and kind is not None for kind in id_rows]
        output = [fixed_output and kind == "output" for kind in id_rows]
        for row, (shape, ndim, node, kind) in enumerate(zip(shapes, ndims, nodes, kinds)):
            shape = tuple(shape[:ndim])
            node_shape = tuple(d for d in node_shapes[node] if d)
            op = op_types[ops[node]]
            role = param_role(op, PARAM_KINDS[kind], ndim)
            if role == "embedding" and tied[row]:
                # a table shared with another layer (GPT-2's token embedding is also its output layer): scaled as
                # that layer's weight, 1/sqrt(width), so the tied output's logits start at a sane size
                role = "weight"
            stacked = op.category in _STACKED_WEIGHT_CATEGORIES and len(shape) == 3
            rows, fans = groups.setdefault((shape, role, stacked, vocab[row], output[row]), ([], []))
            rows.append(row)
            fans.append(fan_in_of(shape, node_shape, in_out=op.name in IN_OUT_WEIGHT_OPS, stacked=stacked))
        device = data.param_shape.device
        local = _local_param_index(data)
        reference = data.param_ref if "param_ref" in data else None
        return [
            ParamGroup(TensorLayout.of(shape, vocab_rows), role, torch.tensor(rows, device=device),
                       torch.tensor(fans, dtype=torch.float32, device=device), local[rows],
                       None if reference is None else reference[rows], stacked, is_output)
            for (shape, role, stacked, vocab_rows, is_output), (rows, fans) in groups.items()
        ]

    def conditioning(self, data: Data | Batch, h: Tensor, groups: list[ParamGroup] | None = None) -> Tensor:
        """``[num_params, hidden]``: node embedding + parameter kind, slot in its node, role and shape.

        ``groups`` is :meth:`plan`'s result when the caller already has it.
        """
        role_index = {role: i for i, role in enumerate(ROLES)}
        roles = torch.zeros_like(data.param_kind)
        for group in groups if groups is not None else self.plan(data):
            roles[group.rows] = role_index[group.role]
        cond = (
            h[data.param_node_index]
            + self.kind_embedding(data.param_kind)
            + self.slot_embedding(data.param_slot.clamp(max=_MAX_SLOTS - 1))
            + self.role_embedding(roles)
            + self.shape_proj(log_size_encoding(data.param_shape, _SHAPE_FREQS))
        )
        return cond + self.cond_mlp(cond)

    # --- prediction ---------------------------------------------------------------------------------------------

    def decode(self, group: ParamGroup, cond: Tensor) -> Tensor:
        """``[G, *shape]`` scaled weights of one group, from the ``[num_params, hidden]`` conditioning."""
        rows_cond = cond[group.rows]
        raw = self._raw(group, rows_cond)
        return self.scaler(raw, group.role, group.fan_in, rows_cond, group.reference, kernel=not group.stacked)

    def _raw(self, group: ParamGroup, rows_cond: Tensor) -> RawParams:
        if group.output:
            raw = self.decoder.fixed_output(group.layout, group.rows.numel(), rows_cond.device)
        else:
            raw = self.decoder(rows_cond, group.layout, ids=group.ids)
        if self.config.scaling.center_units and group.role == "weight":
            raw = raw.center_units()
        return raw

    def stream(self, data: Data | Batch, max_numel: int | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield ``(rows [g], tensors [g, *shape])`` group by group, ``g * numel <= max_numel`` when given.

        Bounds peak memory when writing predictions straight into a model (only one chunk lives at a time).
        """
        groups = self.plan(data)
        cond = self.conditioning(data, self.node_embeddings(data), groups)
        for group in groups:
            per_tensor = max(1, group.layout.rows * (group.layout.cols or 1) * group.layout.kernel_numel)
            step = group.rows.numel() if max_numel is None else max(1, max_numel // per_tensor)
            for start in range(0, group.rows.numel(), step):
                part = group.part(start, start + step)
                yield part.rows, self.decode(part, cond)

    def write_(self, data: Data, targets: dict[str, Tensor]) -> list[str]:
        """Decode every parameter of ``data`` straight into ``targets[name]`` (no intermediate copy where the target
        is a contiguous float32 tensor), without autograd. Returns the names written.

        Raises:
            ValueError: if a target's shape differs from its prediction's, or a prediction is not finite (names
                them).
        """
        names = _flat_param_names(data)
        written = []
        with torch.no_grad():
            groups = self.plan(data)
            cond = self.conditioning(data, self.node_embeddings(data), groups)
            for group in groups:
                rows_cond = cond[group.rows]
                raw = self._raw(group, rows_cond)
                scale, offset = self.scaler.coefficients(raw, group.role, group.fan_in, rows_cond, group.reference,
                                                         kernel=not group.stacked)
                finite = raw.finite() & torch.isfinite(scale) & torch.isfinite(offset)
                if not bool(finite.all()):
                    bad = [names[row] for row, ok in zip(group.rows.tolist(), finite.tolist()) if not ok]
                    raise ValueError(f"the GHN predicts non-finite values (NaN or Inf) for {bad[:3]}"
                                     f"{f' and {len(bad) - 3} more' if len(bad) > 3 else ''}; nothing more is "
                                     "written (the GHN's own weights or its input graph are broken)")
                for i, row in enumerate(group.rows.tolist()):
                    target = targets[names[row]]
                    if tuple(target.shape) != group.layout.shape:
                        raise ValueError(f"parameter {names[row]!r} has shape {tuple(target.shape)} but the graph "
                                         f"says {group.layout.shape}; trace the model it belongs to")
                    one = raw.select(i)
                    if target.dtype == torch.float32 and target.is_contiguous() and target.device == scale.device:
                        one.materialize(scale[i:i + 1], offset[i:i + 1], out=target.view(1, *target.shape))
                    else:
                        target.copy_(one.materialize(scale[i:i + 1], offset[i:i + 1])[0])
                    written.append(names[row])
        return written

    def forward(
        self, target: Target, example_inputs: ExampleInputs = None, *, device: torch.device | str = "auto",
        mode: TraceMode = "train",
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        """Predict all parameters.

        Args:
            target: a model (traced with ``example_inputs``), a :class:`ComputationGraph`, its
                :func:`~hypergen.graph.data.to_data` encoding, or a batch of encodings.
            example_inputs: inputs for tracing a model (default: two 224x224 RGB images).
            device: tracing device for a model, see :meth:`as_data`.
            mode: training mode a model is traced in, see :meth:`as_data`.

        Returns:
            ``{qualified_name: tensor}`` (a list of them, one per graph, for a batch).

        Raises:
            TraceError: if the model's forward fails on ``example_inputs``.
        """
        data = self.as_data(target, example_inputs, device=device, mode=mode)
        names = _flat_param_names(data)
        flat: list[Tensor | None] = [None] * len(names)
        for rows, tensors in self.stream(data):
            for row, tensor in zip(rows.tolist(), tensors.unbind(0)):
                flat[row] = tensor
        if not isinstance(data, Batch):
            return dict(zip(names, flat))
        graph_of_param = data.batch[data.param_node_index].tolist()
        out: list[dict[str, Tensor]] = [{} for _ in range(data.num_graphs)]
        for name, graph, tensor in zip(names, graph_of_param, flat):
            out[graph][name] = tensor
        return out

    def init_(self, model: nn.Module, example_inputs: ExampleInputs = None, **kwargs: object) -> object:
        """Initialise ``model`` in place with predicted weights; see :func:`hypergen.apply.init_` (its keyword
        arguments, ``device`` and ``mode`` for tracing included, are passed through)."""
        from hypergen.apply.init import init_

        return init_(model, self, example_inputs, **kwargs)


def _id_rows(data: Data | Batch, registry: OpRegistry) -> list[str | None]:
    """``[P]`` for each parameter whose rows are indexed by ids rather than units, which ids: ``"embedding"`` for
    the weight of an embedding (tokens, positions; tied or not), ``"output"`` for the weight of a linear layer that
    feeds a graph output directly (node height 1: a language model's head, a classifier), whose rows are the
    vocabulary or the classes; ``None`` for every other parameter.

    The output layer is found from the graph's structure, not from parameter names or a size that happens to match
    the vocabulary (a square projection of a net as wide as its vocabulary is not a head).
    """
    ops, kinds = data.op.tolist(), data.param_kind.tolist()
    heights = data.node_height.tolist() if "node_height" in data else [_NO_HEIGHT] * len(ops)
    found: list[str | None] = []
    for node, kind in zip(data.param_node_index.tolist(), kinds):
        category = registry.op_types[ops[node]].category
        if PARAM_KINDS[kind] != "weight":
            found.append(None)
        elif category == "embedding":
            found.append("embedding")
        else:
            found.append("output" if category == "linear" and heights[node] == 1 else None)
    return found


def _local_param_index(data: Data | Batch) -> Tensor:
    """``[P]`` position of every parameter among its own graph's parameters."""
    count = data.param_node_index.numel()
    index = torch.arange(count, device=data.param_node_index.device)
    if not isinstance(data, Batch):
        return index
    graph = data.batch[data.param_node_index]
    sizes = torch.bincount(graph, minlength=data.num_graphs)
    return index - (torch.cumsum(sizes, 0) - sizes)[graph]


def _flat_param_names(data: Data | Batch) -> list[str]:
    names = data.param_names
    if isinstance(data, Batch):
        return [name for graph_names in names for name in graph_names]
    return list(names)
