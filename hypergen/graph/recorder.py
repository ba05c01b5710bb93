"""Records a forward pass into graph nodes: module hooks for leaf modules, a TorchFunctionMode for the rest.

A module is a *leaf* if the op registry knows its class (conv, linear, norms, attention...) or if it has no child
modules. A leaf call becomes one node that owns the leaf's parameters; nothing inside it is recorded. Every tensor
function called outside leaves (``x + y``, ``torch.cat``, ``F.relu``, ``self.class_token.expand(...)``) becomes a node
unless it is reshape-like (folded into its input). A parameter used directly by such a function (ViT's
``class_token``, ConvNeXt's ``layer_scale``, Swin's ``relative_position_bias_table``) gets a parameter node whose
type says how it is used (scale, shift, token, table).

Tensors are tracked by ``id``; the recorder keeps every seen tensor alive until it is discarded so that ids are
never reused during a trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from hypergen.graph.graph import Node
from hypergen.graph.inputs import tensor_leaves
from hypergen.graph.ops import OpRegistry, OpType, canonical_function_name, is_inplace_function

__all__ = ["GraphRecorder"]

#: Module attributes copied into ``Node.attrs`` when present (ints, floats, bools or tuples of ints).
_NODE_ATTRS: tuple[str, ...] = (
    "kernel_size", "stride", "padding", "dilation", "groups", "num_heads", "output_size", "normalized_shape",
    "num_groups", "eps", "num_embeddings", "embedding_dim", "in_features", "out_features", "in_channels",
    "out_channels", "transposed",
)

_TABLE_LOOKUPS = frozenset({"getitem", "index_select", "gather", "take"})
# Folded functions whose later tensor arguments only lend their shape or dtype (``x.reshape_as(y)``).
_SHAPE_REFERENCE = frozenset({"reshape_as", "view_as", "expand_as", "type_as"})


def _node_attrs(module: nn.Module) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for key in _NODE_ATTRS:
        value = getattr(module, key, None)
        if isinstance(value, (bool, int, float)) or (
            isinstance(value, tuple) and all(isinstance(v, int) for v in value)
        ):
            attrs[key] = value
    return attrs


class GraphRecorder(TorchFunctionMode):
    """Collects nodes and edges while a model runs; use :func:`hypergen.graph.trace_module` instead of this.

    Args:
        registry: op types.
        param_names: ``id(tensor)`` -> qualified name, for the parameter tensors passed to the forward.
        leaf_params: leaf module -> qualified names of the parameters it owns (recursively).
        module_names: module -> qualified name.
    """

    def __init__(
        self,
        registry: OpRegistry,
        param_names: dict[int, str],
        leaf_params: dict[nn.Module, list[str]],
        module_names: dict[nn.Module, str],
    ) -> None:
        super().__init__()
        self.registry = registry
        self.nodes: list[Node] = []
        self.edges: set[tuple[int, int]] = set()
        self.param_node: dict[str, int] = {}  # parameter name -> node it is attached to
        self._param_names = param_names
        self._leaf_params = leaf_params
        self._module_names = module_names
        self._producer: dict[int, int] = {}
        self._alive: list[Tensor] = []
        self._leaf_depth = 0
        self._leaf_inputs: list[list[int]] = []
        self._scope: list[str] = [""]
        self._untyped_params: set[int] = set()  # parameter nodes whose role is not known yet
        self._fn_counter: dict[str, int] = {}

    # -- bookkeeping ----------------------------------------------------------------------------------------------
    def _set_producer(self, tensor: Tensor, node: int) -> None:
        self._producer[id(tensor)] = node
        self._alive.append(tensor)

    def _source_of(self, tensor: Tensor) -> int | None:
        """Node that produced ``tensor``, creating a parameter node for a free parameter on first use."""
        name = self._param_names.get(id(tensor))
        if name is None:
            return self._producer.get(id(tensor))
        if name not in self.param_node:
            node = self._add_node(name, "parameter", target=name, scope=self._scope[-1], inputs=[], outputs=[tensor])
            self._attach(node, name)
            self._untyped_params.add(node)
        return self.param_node[name]

    def _sources(self, obj: Any) -> list[int]:
        seen: list[int] = []
        for _, tensor in tensor_leaves(obj):
            src = self._source_of(tensor)
            if src is not None and src not in seen:
                seen.append(src)
        return seen

    def _add_node(
        self, name: str, op: str, target: str, scope: str, inputs: list[int], outputs: list[Tensor], **attrs: Any
    ) -> int:
        index = len(self.nodes)
        out_shape = tuple(outputs[0].shape) if outputs else ()
        self.nodes.append(Node(index, name, op, target, scope, out_shape=out_shape, attrs=attrs))
        self.edges.update((src, index) for src in inputs)
        for tensor in outputs:
            self._set_producer(tensor, index)
        return index

    def _attach(self, node: int, name: str) -> None:
        if name in self.param_node:
            if self.param_node[name] != node and name not in self.nodes[node].shared_params:
                self.nodes[node].shared_params.append(name)
            return
        self.param_node[name] = node
        self.nodes[node].params.append(name)

    def _type_parameters(self, inputs: list[int], consumer: OpType) -> None:
        for src in inputs:
            if src in self._untyped_params:
                self._untyped_params.discard(src)
                self.nodes[src].op = self.registry.parameter_role(consumer).name

    # -- inputs / outputs -----------------------------------------------------------------------------------------
    def add_inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Create one ``input`` node per tensor in the forward's arguments."""
        for path, tensor in tensor_leaves({"args": args, "kwargs": kwargs}):
            if id(tensor) not in self._producer:
                label = path.split(".", 1)[1] if "." in path else path
                self._add_node(f"input:{label}", "input", target=label, scope="", inputs=[], outputs=[tensor])

    def add_outputs(self, output: Any) -> None:
        """Create one ``output`` node per tensor of the forward's result that the graph produced."""
        for path, tensor in tensor_leaves(output):
            src = self._source_of(tensor)
            if src is not None:
                self._add_node(f"output:{path}", "output", target=path, scope="", inputs=[src], outputs=[])

    # -- module hooks ---------------------------------------------------------------------------------------------
    def is_leaf(self, module: nn.Module) -> bool:
        """Whether a call of ``module`` becomes a single node."""
        return module in self._leaf_params

    def pre_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Forward pre-hook registered on every module of the traced model."""
        if self._leaf_depth:
            self._leaf_depth += 1
        elif self.is_leaf(module):
            self._leaf_depth = 1
            self._leaf_inputs.append(self._sources((args, kwargs)))
        else:
            self._scope.append(self._module_names.get(module, "?"))

    def post_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        """Forward hook registered on every module of the traced model."""
        if self._leaf_depth > 1:
            self._leaf_depth -= 1
            return
        if self._leaf_depth == 0:
            self._scope.pop()
            return
        self._leaf_depth = 0
        self._record_leaf(module, self._leaf_inputs.pop(), [t for _, t in tensor_leaves(output)])

    def _record_leaf(self, module: nn.Module, inputs: list[int], outputs: list[Tensor]) -> None:
        op = self.registry.module_op(module)
        if op is not None and op.folded and len(inputs) == 1:
            for tensor in outputs:
                self._set_producer(tensor, inputs[0])
            return
        name = self._module_names.get(module, type(module).__name__)
        op_name = "unknown_module" if op is None or op.folded else op.name
        count = self._fn_counter.get(name, 0)
        self._fn_counter[name] = count + 1
        unique = name if count == 0 else f"{name}:{count}"  # a module called twice gives two nodes
        node = self._add_node(unique, op_name, type(module).__name__, name, inputs, outputs, **_node_attrs(module))
        for pname in self._leaf_params[module]:
            self._attach(node, pname)
        self._type_parameters(inputs, self.registry.op(op_name))

    # -- tensor functions -----------------------------------------------------------------------------------------
    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if self._leaf_depth:
            return result
        name = canonical_function_name(func)
        if self.registry.is_constant_function(name):
            return result
        inplace = is_inplace_function(func)
        outputs = [t for _, t in tensor_leaves(result)]
        if inplace and args and isinstance(args[0], Tensor) and not any(t is args[0] for t in outputs):
            outputs.append(args[0])  # __setitem__ returns None but writes into args[0]
        if not outputs:
            return result
        inputs = self._sources(args[:1] if name in _SHAPE_REFERENCE else (args, kwargs))
        if not inputs:
            return result  # constants (arange, masks built from shapes...) are not part of the graph
        if self.registry.is_folded_function(name) and len(inputs) == 1 and not inplace:
            if inputs[0] in self._untyped_params and name in _TABLE_LOOKUPS and \
                    any(isinstance(t, Tensor) for _, t in tensor_leaves(args[1:])):
                self._type_parameters(inputs, self.registry.op("index"))
            for tensor in outputs:
                self._set_producer(tensor, inputs[0])
            return result
        op = self.registry.function_op(name)
        scope = self._scope[-1]
        key = f"{scope}/{name}"
        count = self._fn_counter.get(key, 0)
        self._fn_counter[key] = count + 1
        self._add_node(f"{key}:{count}", op.name, name, scope, inputs, outputs)
        self._type_parameters(inputs, op)
        return result
