"""The computation graph of a traced model: typed nodes, data-flow edges and the parameter map."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypergen.graph.coverage import CoverageReport

__all__ = ["Node", "ParamInfo", "ComputationGraph", "param_kind", "PARAM_KINDS"]

#: Kinds of parameter tensors the decoders distinguish; index = ``ParamInfo.kind`` code.
PARAM_KINDS: tuple[str, ...] = ("weight", "bias", "other")


def param_kind(local_name: str, ndim: int) -> str:
    """Classify a parameter by its attribute name and rank: ``"weight"``, ``"bias"`` or ``"other"``.

    ``bias``-named tensors are biases; ``weight``-named tensors and every tensor of rank >= 2 are weights; the rest
    (``class_token`` of rank 1, ``logit_scale``, ``layer_scale``...) are ``"other"``.
    """
    leaf = local_name.rsplit(".", 1)[-1]
    if leaf.endswith("bias"):
        return "bias"
    if leaf.endswith("weight") or ndim >= 2:
        return "weight"
    return "other"


@dataclass
class ParamInfo:
    """A parameter tensor of the traced model and the node it is attached to.

    Attributes:
        name: fully qualified name (the first one of ``named_parameters()`` for tied parameters).
        shape: the tensor's shape.
        node: index of the node the parameter is attached to.
        local_name: name relative to the owning node's module (``"weight"``, ``"out_proj.bias"``, ``"class_token"``).
        aliases: other qualified names of the same tensor (weight tying), possibly empty.
        kind: ``"weight"``, ``"bias"`` or ``"other"`` (see :func:`param_kind`).
        reference: ``(mean, std)`` of the tensor's default init, ``None`` where unknown (see
            :mod:`hypergen.graph.reference`).
    """

    name: str
    shape: tuple[int, ...]
    node: int
    local_name: str
    aliases: tuple[str, ...] = ()
    kind: str = "weight"
    reference: tuple[float, float] | None = None

    @property
    def numel(self) -> int:
        """Number of elements."""
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class Node:
    """One operation of the forward pass.

    Attributes:
        index: position in :attr:`ComputationGraph.nodes` (node order is a topological order).
        name: readable unique name, e.g. ``"layer1.0.conv1"`` (module nodes) or ``"layer1.0/add:3"`` (functions).
        op: op type name from the :class:`~hypergen.graph.ops.OpRegistry`.
        target: module class name (module nodes), function name (function nodes), parameter name (parameter nodes)
            or input/output path.
        scope: qualified name of the module whose forward produced the node (``""`` for the root).
        params: qualified names of the parameters attached to this node.
        shared_params: parameters used by this node but attached to an earlier node (weight tying, module reuse).
        out_shape: shape of the node's first tensor output (``()`` if unknown).
        attrs: op attributes useful as features (``kernel_size``, ``stride``, ``groups``, ``num_heads``...).
    """

    index: int
    name: str
    op: str
    target: str
    scope: str = ""
    params: list[str] = field(default_factory=list)
    shared_params: list[str] = field(default_factory=list)
    out_shape: tuple[int, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class ComputationGraph:
    """A directed acyclic graph of a model's forward pass with every parameter attached to one node.

    Attributes:
        nodes: nodes in execution (= topological) order.
        edges: data-flow edges ``(src, dst)`` between node indices, ``src < dst``.
        params: parameter name -> :class:`ParamInfo`, in ``named_parameters()`` order.
        coverage: which parameters are attached and why others are not.
        model_name: class name (or zoo spec) of the traced model.
    """

    nodes: list[Node]
    edges: list[tuple[int, int]]
    params: dict[str, ParamInfo]
    coverage: CoverageReport
    model_name: str = ""

    @property
    def num_nodes(self) -> int:
        """Number of nodes."""
        return len(self.nodes)

    @property
    def num_params(self) -> int:
        """Number of parameter scalars attached to nodes."""
        return sum(p.numel for p in self.params.values())

    def op_counts(self) -> Counter[str]:
        """How many nodes of each op type the graph has."""
        return Counter(node.op for node in self.nodes)

    def node_params(self, index: int) -> list[ParamInfo]:
        """Parameters attached to node ``index``."""
        return [self.params[name] for name in self.nodes[index].params]

    def validate(self) -> None:
        """Check the invariants the rest of hypergen relies on.

        Raises:
            ValueError: naming the offending node, edge or parameter.
        """
        for pos, node in enumerate(self.nodes):
            if node.index != pos:
                raise ValueError(f"node {node.name!r} has index {node.index} but sits at position {pos}")
        n = len(self.nodes)
        for src, dst in self.edges:
            if not (0 <= src < dst < n):
                raise ValueError(f"edge ({src}, {dst}) is out of range or against topological order ({n} nodes)")
        seen: dict[str, int] = {}
        for node in self.nodes:
            for name in node.params:
                if name in seen:
                    raise ValueError(f"parameter {name!r} is attached to nodes {seen[name]} and {node.index}")
                seen[name] = node.index
        for name, info in self.params.items():
            if seen.get(name) != info.node:
                raise ValueError(f"parameter {name!r} claims node {info.node} but is listed on {seen.get(name)}")
