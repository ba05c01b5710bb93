"""Registry of operation types: which graph node type a module or a tensor function becomes.

Modules are dispatched with ``isinstance`` semantics (the class's MRO is walked), so subclasses of known layers
(``NonDynamicallyQuantizableLinear``, timm's ``Conv2dSame``, ...) get their parent's type. Classes from optional
libraries (transformers, timm, torchvision) are registered by import path and resolved only once their module has
been imported by someone else -- looking them up never imports anything.

Adding an op type is one call: ``registry.register_module(MyLayer, "conv2d")`` or
``registry.register_function("my_op", "add")``; see ``docs/extending.md``. Classes without an entry are asked to the
registry's behavioural probes (:mod:`hypergen.graph.probes`: every family's own RMSNorm is found by what it computes).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import Callable

from torch import nn

from hypergen.graph.probes import normalization_probe

__all__ = [
    "IN_OUT_WEIGHT_OPS", "OP_CATEGORIES", "OpRegistry", "OpType", "canonical_function_name", "default_registry",
]

#: Coarse groups of op types; used for features (e.g. "followed by a non-linearity") and summaries.
OP_CATEGORIES: tuple[str, ...] = (
    "io", "parameter", "conv", "linear", "embedding", "attention", "norm", "activation", "pool", "elementwise",
    "matmul", "reduction", "shape", "mask", "unknown",
)


@dataclass(frozen=True)
class OpType:
    """One node type of the computation graph.

    Attributes:
        name: unique name, e.g. ``"conv2d"``.
        category: one of :data:`OP_CATEGORIES`.
        index: position in the registry's vocabulary (the GHN's op embedding row).
        folded: ops of this type are not nodes; their output is attributed to their single input (reshape-like ops,
            dropout, identity).
    """

    name: str
    category: str
    index: int
    folded: bool = False


# (name, category) of every node type, in vocabulary order. Append only: the index is stored in checkpoints.
_DEFAULT_OPS: tuple[tuple[str, str], ...] = (
    ("input", "io"), ("output", "io"),
    ("parameter", "parameter"), ("param_scale", "parameter"), ("param_shift", "parameter"),
    ("param_token", "parameter"), ("param_table", "parameter"),
    ("conv1d", "conv"), ("conv2d", "conv"), ("conv3d", "conv"),
    ("conv_transpose1d", "conv"), ("conv_transpose2d", "conv"), ("conv_transpose3d", "conv"),
    ("linear", "linear"), ("bilinear", "linear"),
    ("embedding", "embedding"),
    ("multihead_attention", "attention"), ("scaled_dot_product_attention", "attention"),
    ("batch_norm", "norm"), ("layer_norm", "norm"), ("group_norm", "norm"), ("instance_norm", "norm"),
    ("rms_norm", "norm"), ("local_response_norm", "norm"), ("layer_scale", "norm"),
    ("relu", "activation"), ("relu6", "activation"), ("leaky_relu", "activation"), ("prelu", "activation"),
    ("elu", "activation"), ("selu", "activation"), ("celu", "activation"), ("gelu", "activation"),
    ("silu", "activation"), ("mish", "activation"), ("hardswish", "activation"), ("hardsigmoid", "activation"),
    ("hardtanh", "activation"), ("sigmoid", "activation"), ("tanh", "activation"), ("softplus", "activation"),
    ("softmax", "activation"), ("log_softmax", "activation"), ("glu", "activation"),
    ("max_pool", "pool"), ("avg_pool", "pool"), ("adaptive_avg_pool", "pool"), ("adaptive_max_pool", "pool"),
    ("lp_pool", "pool"),
    ("add", "elementwise"), ("sub", "elementwise"), ("mul", "elementwise"), ("div", "elementwise"),
    ("pow", "elementwise"), ("unary", "elementwise"),
    ("matmul", "matmul"),
    ("mean", "reduction"), ("sum", "reduction"), ("max", "reduction"), ("norm", "reduction"),
    ("concat", "shape"), ("pad", "shape"), ("interpolate", "shape"), ("pixel_shuffle", "shape"),
    ("index", "shape"), ("channel_shuffle", "shape"),
    ("mask", "mask"),
    ("unknown_module", "unknown"), ("unknown_op", "unknown"),
    ("rotary_embedding", "embedding"),
    ("linear_in_out", "linear"),
)

#: Op types whose weight is stored ``[in, out]`` (Hugging Face's ``Conv1D``), not PyTorch's ``[out, in]``: their fan-in
#: is the first dimension.
IN_OUT_WEIGHT_OPS: frozenset[str] = frozenset({"linear_in_out"})

# Module classes (or "module.path:ClassName" for optional libraries) -> op name.
_DEFAULT_MODULES: tuple[tuple[type[nn.Module] | str, str], ...] = (
    (nn.Conv1d, "conv1d"), (nn.Conv2d, "conv2d"), (nn.Conv3d, "conv3d"),
    (nn.ConvTranspose1d, "conv_transpose1d"), (nn.ConvTranspose2d, "conv_transpose2d"),
    (nn.ConvTranspose3d, "conv_transpose3d"),
    (nn.Linear, "linear"), (nn.Bilinear, "bilinear"),
    (nn.Embedding, "embedding"), (nn.EmbeddingBag, "embedding"),
    (nn.MultiheadAttention, "multihead_attention"),
    (nn.modules.batchnorm._BatchNorm, "batch_norm"), (nn.modules.instancenorm._InstanceNorm, "instance_norm"),
    (nn.LayerNorm, "layer_norm"), (nn.GroupNorm, "group_norm"), (nn.RMSNorm, "rms_norm"),
    (nn.LocalResponseNorm, "local_response_norm"),
    (nn.ReLU, "relu"), (nn.ReLU6, "relu6"), (nn.LeakyReLU, "leaky_relu"), (nn.PReLU, "prelu"), (nn.ELU, "elu"),
    (nn.SELU, "selu"), (nn.CELU, "celu"), (nn.GELU, "gelu"), (nn.SiLU, "silu"), (nn.Mish, "mish"),
    (nn.Hardswish, "hardswish"), (nn.Hardsigmoid, "hardsigmoid"), (nn.Hardtanh, "hardtanh"),
    (nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh"), (nn.Softplus, "softplus"), (nn.Softmax, "softmax"),
    (nn.LogSoftmax, "log_softmax"), (nn.GLU, "glu"),
    (nn.MaxPool1d, "max_pool"), (nn.MaxPool2d, "max_pool"), (nn.MaxPool3d, "max_pool"),
    (nn.AvgPool1d, "avg_pool"), (nn.AvgPool2d, "avg_pool"), (nn.AvgPool3d, "avg_pool"),
    (nn.AdaptiveAvgPool1d, "adaptive_avg_pool"), (nn.AdaptiveAvgPool2d, "adaptive_avg_pool"),
    (nn.AdaptiveAvgPool3d, "adaptive_avg_pool"), (nn.AdaptiveMaxPool1d, "adaptive_max_pool"),
    (nn.AdaptiveMaxPool2d, "adaptive_max_pool"), (nn.AdaptiveMaxPool3d, "adaptive_max_pool"),
    (nn.modules.pooling._LPPoolNd, "lp_pool"),
    (nn.Upsample, "interpolate"), (nn.PixelShuffle, "pixel_shuffle"), (nn.PixelUnshuffle, "pixel_shuffle"),
    (nn.ChannelShuffle, "channel_shuffle"), (nn.modules.padding._ConstantPadNd, "pad"),
    (nn.modules.padding._ReflectionPadNd, "pad"), (nn.modules.padding._ReplicationPadNd, "pad"),
    (nn.modules.padding._CircularPadNd, "pad"), (nn.ZeroPad2d, "pad"),
    # optional libraries, resolved lazily
    ("transformers.pytorch_utils:Conv1D", "linear_in_out"),  # a linear layer with an [in, out] weight
    ("transformers.models.llama.modeling_llama:LlamaRMSNorm", "rms_norm"),
    ("transformers.models.t5.modeling_t5:T5LayerNorm", "rms_norm"),
    ("timm.layers.layer_scale:LayerScale", "layer_scale"),
    ("timm.layers.layer_scale:LayerScale2d", "layer_scale"),
    ("timm.layers.norm:RmsNorm", "rms_norm"),
    ("timm.layers.norm:RmsNorm2d", "rms_norm"),
    ("transformers.models.llama.modeling_llama:LlamaRotaryEmbedding", "rotary_embedding"),
    ("timm.layers.adaptive_avgmax_pool:FastAdaptiveAvgPool", "adaptive_avg_pool"),
    *((f"transformers.activations:{cls}", "gelu") for cls in (
        "GELUTanh", "NewGELUActivation", "GELUActivation", "FastGELUActivation", "QuickGELUActivation",
        "ClippedGELUActivation", "AccurateGELUActivation", "PytorchGELUTanh")),
    ("transformers.activations:SiLUActivation", "silu"), ("transformers.activations:MishActivation", "mish"),
    *((f"timm.layers.activations:{cls}", op) for cls, op in (
        ("GELU", "gelu"), ("GELUTanh", "gelu"), ("QuickGELU", "gelu"), ("Swish", "silu"), ("Mish", "mish"),
        ("Sigmoid", "sigmoid"), ("Tanh", "tanh"), ("HardSwish", "hardswish"), ("HardSigmoid", "hardsigmoid"),
        ("HardMish", "mish"), ("PReLU", "prelu"))),
)

# Modules that are not nodes: their output is their input (or a reshaped/regularised copy of it).
_DEFAULT_FOLDED_MODULES: tuple[type[nn.Module] | str, ...] = (
    nn.Identity, nn.modules.dropout._DropoutNd, nn.Flatten, nn.Unflatten,
    "torchvision.ops.stochastic_depth:StochasticDepth", "torchvision.ops.misc:Permute",
    "timm.layers.drop:DropPath", "transformers.activations:LinearActivation",
    "torchvision.models.maxvit:WindowPartition", "torchvision.models.maxvit:WindowDepartition",
    "torchvision.models.maxvit:SwapAxes",
)

# Canonical function name -> op name. Canonical names drop dunder/in-place underscores (see canonical_function_name).
_DEFAULT_FUNCTIONS: dict[str, str] = {
    **{n: "add" for n in ("add", "radd", "iadd", "addcmul", "addcdiv")},
    **{n: "sub" for n in ("sub", "rsub", "isub", "subtract")},
    **{n: "mul" for n in ("mul", "rmul", "imul", "multiply")},
    **{n: "div" for n in ("div", "truediv", "rtruediv", "itruediv", "floordiv", "divide")},
    **{n: "pow" for n in ("pow", "rpow", "square")},
    **{n: "unary" for n in ("neg", "exp", "log", "sqrt", "rsqrt", "abs", "reciprocal", "erf", "sin", "cos",
                            "clamp", "clip", "clamp_min", "clamp_max", "floor", "ceil", "round", "sign", "cumsum")},
    **{n: "matmul" for n in ("matmul", "rmatmul", "mm", "bmm", "baddbmm", "addmm", "addbmm", "einsum", "outer")},
    "linear": "linear", "bilinear": "bilinear",
    "conv1d": "conv1d", "conv2d": "conv2d", "conv3d": "conv3d", "conv_transpose1d": "conv_transpose1d",
    "conv_transpose2d": "conv_transpose2d", "conv_transpose3d": "conv_transpose3d",
    "embedding": "embedding", "embedding_bag": "embedding",
    "scaled_dot_product_attention": "scaled_dot_product_attention",
    "multi_head_attention_forward": "multihead_attention",
    "batch_norm": "batch_norm", "layer_norm": "layer_norm", "group_norm": "group_norm",
    "instance_norm": "instance_norm", "rms_norm": "rms_norm", "local_response_norm": "local_response_norm",
    "normalize": "norm", "norm": "norm", "linalg_vector_norm": "norm", "vector_norm": "norm",
    **{n: n for n in ("relu", "relu6", "leaky_relu", "prelu", "elu", "selu", "celu", "gelu", "silu", "mish",
                      "hardswish", "hardsigmoid", "hardtanh", "sigmoid", "tanh", "softplus", "softmax",
                      "log_softmax", "glu")},
    **{n: "max_pool" for n in ("max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
                               "max_pool2d_with_indices", "max_pool3d_with_indices")},
    **{n: "avg_pool" for n in ("avg_pool1d", "avg_pool2d", "avg_pool3d")},
    **{n: "adaptive_avg_pool" for n in ("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d")},
    **{n: "adaptive_max_pool" for n in ("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
                                        "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices")},
    **{n: "mean" for n in ("mean", "nanmean")},
    **{n: "sum" for n in ("sum", "nansum", "logsumexp")},
    **{n: "max" for n in ("max", "amax", "min", "amin", "maximum", "minimum")},
    **{n: "concat" for n in ("cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack")},
    "pad": "pad", "interpolate": "interpolate", "upsample": "interpolate", "pixel_shuffle": "pixel_shuffle",
    "pixel_unshuffle": "pixel_shuffle", "channel_shuffle": "channel_shuffle", "native_channel_shuffle":
    "channel_shuffle",
    **{n: "index" for n in ("getitem", "index_select", "gather", "take", "take_along_dim", "setitem",
                            "scatter", "scatter_add", "index_add", "index_put", "index_copy")},
    **{n: "mask" for n in ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
                           "where", "masked_fill", "and", "or", "invert", "xor", "tril", "triu", "isnan",
                           "isinf", "bitwise_and", "bitwise_or", "bitwise_not", "any", "all")},
}

# Reshape-like functions: not nodes when they have a single graph input and no parameter argument.
_DEFAULT_FOLDED_FUNCTIONS: frozenset[str] = frozenset({
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "permute", "transpose", "t", "T", "mT",
    "H", "mH", "contiguous", "expand", "expand_as", "repeat", "repeat_interleave", "tile", "squeeze", "unsqueeze",
    "getitem", "chunk", "split", "split_with_sizes", "tensor_split", "unbind", "narrow", "select", "clone",
    "detach", "to", "type", "type_as", "float", "half", "double", "bfloat16", "dropout", "dropout1d", "dropout2d",
    "dropout3d", "alpha_dropout", "feature_alpha_dropout", "movedim", "moveaxis", "swapaxes", "swapdims", "data",
    "roll", "flip", "as_strided", "broadcast_to", "masked_select", "identity", "requires_grad", "cpu", "cuda",
    "pin_memory", "align_as", "refine_names", "rename",
})

# Functions whose tensor output does not depend on their inputs' values; their outputs are constants, not nodes.
_DEFAULT_CONSTANT_FUNCTIONS: frozenset[str] = frozenset({
    "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor", "zeros_like", "ones_like", "empty_like",
    "full_like", "rand_like", "randn_like", "randint_like", "bernoulli", "size", "dim", "numel", "stride",
    "storage_offset", "is_contiguous", "get_device", "element_size", "shape", "dtype", "device", "is_cuda",
    "is_meta", "requires_grad_", "retain_grad", "grad", "is_floating_point", "is_complex", "data_ptr",
    "zero", "fill",  # in-place overwrites with constants (Swin-V2 zeroes the key bias): no data flow to record
})

# Functions that consume a parameter tensor -> role of the parameter node (see OpRegistry.parameter_role).
_DEFAULT_PARAM_ROLES: dict[str, str] = {
    "mul": "param_scale", "div": "param_scale", "add": "param_shift", "sub": "param_shift",
    "concat": "param_token", "index": "param_table", "embedding": "param_table",
}


_SHAPE_PRESERVING_CATEGORIES = frozenset({"norm", "activation"})
_SHAPE_CHANGING_OPS = frozenset({"glu"})


def canonical_function_name(func: Callable) -> str:
    """Name of a torch function as the registry knows it.

    ``torch.Tensor.__radd__`` -> ``"radd"``, ``torch.Tensor.add_`` -> ``"add"``, ``torch.nn.functional.relu`` ->
    ``"relu"``, the ``Tensor.T`` property getter -> ``"T"``.
    """
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":  # property / getset descriptor of Tensor, e.g. Tensor.T
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    if name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
    elif name.endswith("_") and not name.startswith("_"):
        name = name[:-1]
    return name.lstrip("_") or name


def is_inplace_function(func: Callable) -> bool:
    """Whether ``func`` writes into its first argument (``add_``, ``__iadd__``, ``__setitem__``)."""
    name = getattr(func, "__name__", "")
    if name.startswith("__i") and name.endswith("__") and name not in ("__init__", "__index__", "__int__"):
        return True
    return name == "__setitem__" or (name.endswith("_") and not name.startswith("_"))


class OpRegistry:
    """Maps modules and tensor functions to :class:`OpType`.

    Args:
        ops: ``(name, category)`` pairs in vocabulary order.
    """

    def __init__(self, ops: tuple[tuple[str, str], ...] = _DEFAULT_OPS) -> None:
        self._ops: dict[str, OpType] = {}
        for name, category in ops:
            self.add_op_type(name, category)
        self._modules: list[tuple[type[nn.Module] | str, str]] = []
        self._folded_modules: list[type[nn.Module] | str] = []
        self._functions: dict[str, str] = {}
        self._folded_functions: set[str] = set()
        self._constant_functions: set[str] = set()
        self._param_roles: dict[str, str] = {}
        self._folded = OpType("folded", "shape", -1, folded=True)
        self._probes: list[Callable[[nn.Module], str | None]] = []
        self._probed: dict[tuple, OpType | None] = {}  # (class, parameter shapes) -> what the probes said

    # -- vocabulary -----------------------------------------------------------------------------------------------
    def add_op_type(self, name: str, category: str) -> OpType:
        """Append a node type to the vocabulary (no-op if it exists with the same category)."""
        if category not in OP_CATEGORIES:
            raise ValueError(f"op type {name!r}: unknown category {category!r}; use one of {OP_CATEGORIES}")
        if name in self._ops:
            if self._ops[name].category != category:
                raise ValueError(f"op type {name!r} already registered with category {self._ops[name].category!r}")
            return self._ops[name]
        op = OpType(name, category, len(self._ops))
        self._ops[name] = op
        return op

    def op(self, name: str) -> OpType:
        """The op type called ``name``; raises ``KeyError`` naming the known types if absent."""
        try:
            return self._ops[name]
        except KeyError:
            raise KeyError(f"unknown op type {name!r}; registered: {sorted(self._ops)}") from None

    @property
    def op_types(self) -> tuple[OpType, ...]:
        """All node types in vocabulary order."""
        return tuple(self._ops.values())

    def __len__(self) -> int:
        return len(self._ops)

    # -- registration ---------------------------------------------------------------------------------------------
    def register_module(self, cls: type[nn.Module] | str, op_name: str) -> None:
        """Map a module class (and its subclasses) to an op type; ``cls`` may be ``"pkg.module:ClassName"``."""
        self.op(op_name)
        self._modules.insert(0, (cls, op_name))  # later registrations win over earlier ones
        self._module_lookup.cache_clear()

    def register_module_probe(self, probe: Callable[[nn.Module], str | None]) -> None:
        """Add a behavioural probe: ``probe(module)`` returns an op type name for a module of an unregistered class
        (it must not change the module), or ``None``. Probes are asked in registration order, once per class and
        parameter shapes."""
        self._probes.append(probe)
        self._probed.clear()

    def register_folded_module(self, cls: type[nn.Module] | str) -> None:
        """Declare that calls of ``cls`` pass their input through (dropout-like) and are not graph nodes."""
        self._folded_modules.append(cls)
        self._module_lookup.cache_clear()

    def register_function(self, canonical_name: str, op_name: str) -> None:
        """Map a tensor function (by :func:`canonical_function_name`) to an op type."""
        self.op(op_name)
        self._functions[canonical_name] = op_name

    def register_folded_function(self, canonical_name: str) -> None:
        """Declare a reshape-like function whose output is attributed to its single graph input."""
        self._folded_functions.add(canonical_name)

    def register_constant_function(self, canonical_name: str) -> None:
        """Declare a function whose output does not depend on its inputs' values (``zeros_like``)."""
        self._constant_functions.add(canonical_name)

    def register_parameter_role(self, op_name: str, role_op_name: str) -> None:
        """Type of a free parameter node whose first consumer is an ``op_name`` node."""
        self._param_roles[op_name] = self.op(role_op_name).name

    # -- lookup ---------------------------------------------------------------------------------------------------
    def module_op(self, module: nn.Module) -> OpType | None:
        """Op type of a module instance, or ``None`` if its class (and every base class) is unregistered.

        A folded module returns an :class:`OpType` with ``folded=True``. A class without an entry gets the first op
        type its probes name (see :meth:`register_module_probe`).
        """
        op = self._module_lookup(type(module))
        if op is not None or not self._probes:
            return op
        key = (type(module), tuple((n, tuple(p.shape)) for n, p in module.named_parameters(recurse=False)))
        if key not in self._probed:
            names = (probe(module) for probe in self._probes)
            found = next((name for name in names if name is not None), None)
            self._probed[key] = None if found is None else self.op(found)
        return self._probed[key]

    @functools.lru_cache(maxsize=None)  # noqa: B019 -- registry objects live as long as the process anyway
    def _module_lookup(self, cls: type) -> OpType | None:
        folded = tuple(c for c in map(_resolve_class, self._folded_modules) if c is not None)
        mapped = [(c, name) for c, name in ((_resolve_class(c), n) for c, n in self._modules) if c is not None]
        for base in cls.__mro__:
            if base in folded:
                return self._folded
            for registered, name in mapped:
                if base is registered:
                    return self._ops[name]
        return None

    def function_op(self, canonical_name: str) -> OpType:
        """Op type of a (non-folded) tensor function; ``unknown_op`` for unregistered ones."""
        return self._ops[self._functions.get(canonical_name, "unknown_op")]

    def is_folded_function(self, canonical_name: str) -> bool:
        """Whether the function is reshape-like (see :meth:`register_folded_function`)."""
        return canonical_name in self._folded_functions

    def is_constant_function(self, canonical_name: str) -> bool:
        """Whether the function's output is a constant for the graph (see :meth:`register_constant_function`)."""
        return canonical_name in self._constant_functions

    def preserves_shape(self, op: OpType) -> bool:
        """Whether modules of this type return a tensor shaped like their first input (norms, activations).

        On the meta device such leaves are not executed: their output is ``empty_like`` of the input.
        """
        return op.category in _SHAPE_PRESERVING_CATEGORIES and op.name not in _SHAPE_CHANGING_OPS

    def parameter_role(self, consumer: OpType) -> OpType:
        """Node type of a free parameter (``class_token``, ``layer_scale``...) from the op that first consumes it."""
        return self._ops[self._param_roles.get(consumer.name, "parameter")]


def _resolve_class(cls: type | str) -> type | None:
    if not isinstance(cls, str):
        return cls
    module_name, _, attr = cls.partition(":")
    module = sys.modules.get(module_name)  # never import: an unimported class cannot be in the model
    return getattr(module, attr, None) if module is not None else None


def _populate_default(registry: OpRegistry) -> OpRegistry:
    for cls, name in reversed(_DEFAULT_MODULES):
        registry.register_module(cls, name)
    for cls in _DEFAULT_FOLDED_MODULES:
        registry.register_folded_module(cls)
    for fname, op_name in _DEFAULT_FUNCTIONS.items():
        registry.register_function(fname, op_name)
    for fname in _DEFAULT_FOLDED_FUNCTIONS:
        registry.register_folded_function(fname)
    for fname in _DEFAULT_CONSTANT_FUNCTIONS:
        registry.register_constant_function(fname)
    for op_name, role in _DEFAULT_PARAM_ROLES.items():
        registry.register_parameter_role(op_name, role)
    registry.register_module_probe(normalization_probe)
    return registry


@functools.cache
def default_registry() -> OpRegistry:
    """The registry hypergen uses unless told otherwise (built once per process)."""
    return _populate_default(OpRegistry())
