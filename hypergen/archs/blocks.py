"""Layers shared by the architecture families: norms, activations, conv-norm-act, squeeze-excite, dense stages, heads.

Everything is built from standard ``torch.nn`` layers so that :func:`~hypergen.graph.trace_module` attaches every
parameter to a typed node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

__all__ = [
    "ACTIVATIONS", "CONV_NORMS", "FEATURE_NORMS", "BasicBlock", "BottleneckBlock", "ClassifierHead", "ConvNormAct",
    "DenseSequence", "SqueezeExcite", "activation", "conv_layer", "conv_norm", "feature_norm", "pool_layer",
]

#: Activation name -> module class.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "relu6": nn.ReLU6, "gelu": nn.GELU, "silu": nn.SiLU, "hardswish": nn.Hardswish,
    "tanh": nn.Tanh,
}

_CONVS: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d}
_BATCH_NORMS: dict[int, type[nn.Module]] = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
_AVG_POOLS: dict[int, type[nn.Module]] = {1: nn.AvgPool1d, 2: nn.AvgPool2d}
_MAX_POOLS: dict[int, type[nn.Module]] = {1: nn.MaxPool1d, 2: nn.MaxPool2d}
_GLOBAL_POOLS: dict[str, dict[int, type[nn.Module]]] = {
    "avg": {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d},
    "max": {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d},
}

#: Norms of conv feature maps ``[B, C, *spatial]``: kind -> (channels, spatial dims) -> module.
CONV_NORMS: dict[str, Callable[[int, int], nn.Module]] = {
    "bn": lambda channels, dims: _BATCH_NORMS[dims](channels),
    "none": lambda channels, dims: nn.Identity(),
}

#: Norms of feature vectors ``[B, F]`` or token sequences ``[B, T, F]``: kind -> features -> module.
#: ``"bn"`` is for ``[B, F]`` only.
FEATURE_NORMS: dict[str, Callable[[int], nn.Module]] = {
    "ln": nn.LayerNorm, "rms": nn.RMSNorm, "bn": nn.BatchNorm1d, "none": lambda features: nn.Identity(),
}


def activation(name: str) -> nn.Module:
    """A new activation module by name (see :data:`ACTIVATIONS`)."""
    return ACTIVATIONS[name]()


def conv_norm(kind: str, channels: int, dims: int = 2) -> nn.Module:
    """Norm of a ``dims``-D feature map (see :data:`CONV_NORMS`); ``"none"`` gives an identity."""
    return CONV_NORMS[kind](channels, dims)


def feature_norm(kind: str, features: int) -> nn.Module:
    """Norm over the last axis of ``[B, F]`` / ``[B, T, F]`` inputs (see :data:`FEATURE_NORMS`)."""
    return FEATURE_NORMS[kind](features)


def conv_layer(dims: int, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, dilation: int = 1,
               bias: bool = False) -> nn.Module:
    """A ``dims``-D convolution with 'same' padding (output size ``ceil(size / stride)``)."""
    return _CONVS[dims](c_in, c_out, kernel, stride=stride, padding=dilation * (kernel - 1) // 2, groups=groups,
                        dilation=dilation, bias=bias)


def pool_layer(kind: str, dims: int, kernel: int = 3, stride: int = 1) -> nn.Module:
    """Max or average pooling with 'same' padding (``kind`` is ``"max"`` or ``"avg"``)."""
    if kind == "max":
        return _MAX_POOLS[dims](kernel, stride=stride, padding=kernel // 2)
    return _AVG_POOLS[dims](kernel, stride=stride, padding=kernel // 2, count_include_pad=False)


class ConvNormAct(nn.Sequential):
    """Convolution -> norm -> activation; the convolution has a bias only when there is no norm.

    Args:
        c_in, c_out: channels. kernel, stride, groups, dilation: of the convolution ('same' padding).
        dims: 1 (``[B, C, L]``) or 2 (``[B, C, H, W]``). norm: a :data:`CONV_NORMS` kind.
        act: an :data:`ACTIVATIONS` name, or ``None`` for no activation.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, *, groups: int = 1,
                 dilation: int = 1, dims: int = 2, norm: str = "bn", act: str | None = "relu") -> None:
        layers = [conv_layer(dims, c_in, c_out, kernel, stride, groups, dilation, bias=norm == "none"),
                  conv_norm(norm, c_out, dims)]
        if act is not None:
            layers.append(activation(act))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Channel attention: ``x * sigmoid(W2 act(W1 mean_spatial(x)))`` with 1x1 convolutions.

    Args:
        channels: ``C`` of the input ``[B, C, *spatial]``. reduced: hidden channels. dims: 1 or 2.
        act: activation between the two convolutions.
    """

    def __init__(self, channels: int, reduced: int, dims: int = 2, act: str = "relu") -> None:
        super().__init__()
        self.pool = _GLOBAL_POOLS["avg"][dims](1)
        self.reduce = _CONVS[dims](channels, reduced, 1)
        self.act = activation(act)
        self.expand = _CONVS[dims](reduced, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, *spatial]`` -> same shape."""
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class DenseSequence(nn.Module):
    """Blocks applied in order; with ``dense`` every block after the first reads the mean of all earlier outputs.

    The first block may change the shape (a stage's transition); the others must keep it. Dense connectivity is the
    DenseNet idea with a mean instead of a concatenation (as in DenseFormer), so widths do not grow.

    Args:
        blocks: the blocks. dense: connectivity (``False``: a plain chain).
    """

    def __init__(self, blocks: Sequence[nn.Module], dense: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.dense = dense

    def forward(self, x: Tensor) -> Tensor:
        """Any input the first block accepts -> the last block's output."""
        if not self.dense:
            for block in self.blocks:
                x = block(x)
            return x
        states = [self.blocks[0](x)]
        for block in self.blocks[1:]:
            mean = states[0] if len(states) == 1 else sum(states[1:], states[0]) / len(states)
            states.append(block(mean))
        return states[-1]


class ClassifierHead(nn.Module):
    """Global pooling -> flatten -> optional hidden linear layer + activation -> linear to the classes.

    Args:
        features: channels of the input ``[B, features, *spatial]``. num_classes: outputs.
        dims: spatial dims (1 or 2) of the input. hidden: width of a hidden layer (0: none).
        pool: ``"avg"`` or ``"max"``. act: activation after the hidden layer.
    """

    def __init__(self, features: int, num_classes: int, dims: int = 2, hidden: int = 0, pool: str = "avg",
                 act: str = "relu") -> None:
        super().__init__()
        self.pool = _GLOBAL_POOLS[pool][dims](1)
        self.flatten = nn.Flatten()
        layers: list[nn.Module] = []
        if hidden:
            layers += [nn.Linear(features, hidden), activation(act)]
            features = hidden
        layers.append(nn.Linear(features, num_classes))
        self.fc = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, features, *spatial]`` -> ``[B, num_classes]``."""
        return self.fc(self.flatten(self.pool(x)))


def _shortcut(c_in: int, c_out: int, stride: int, dims: int, norm: str) -> nn.Module:
    """Identity, or a strided 1x1 projection + norm where the shape changes (ResNet option B)."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return ConvNormAct(c_in, c_out, 1, stride, dims=dims, norm=norm, act=None)


class BasicBlock(nn.Module):
    """ResNet basic block: two kxk conv-norms, the first strided, plus a shortcut, then the activation.

    Args:
        c_in, c_out: channels. kernel: conv kernel size. stride: of the first conv. dims: 1 or 2.
        norm: a :data:`CONV_NORMS` kind. act: an :data:`ACTIVATIONS` name. residual: add the shortcut.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, *, dims: int = 2,
                 norm: str = "bn", act: str = "relu", residual: bool = True) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(c_in, c_out, kernel, stride, dims=dims, norm=norm, act=act)
        self.conv2 = ConvNormAct(c_out, c_out, kernel, dims=dims, norm=norm, act=None)
        self.shortcut = _shortcut(c_in, c_out, stride, dims, norm) if residual else None
        self.act = activation(act)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, c_in, *size]`` -> ``[B, c_out, *ceil(size / stride)]``."""
        out = self.conv2(self.conv1(x))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.act(out)


class BottleneckBlock(nn.Module):
    """ResNet bottleneck: 1x1 reduce -> strided kxk -> 1x1 expand (``c_out // expansion`` inner channels), shortcut.

    Args:
        c_in, c_out: channels. kernel: of the middle conv. stride: of the middle conv. expansion: c_out / inner.
        dims, norm, act: as in :class:`BasicBlock`.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, *, expansion: int = 4,
                 dims: int = 2, norm: str = "bn", act: str = "relu") -> None:
        super().__init__()
        inner = max(1, c_out // expansion)
        self.reduce = ConvNormAct(c_in, inner, 1, dims=dims, norm=norm, act=act)
        self.conv = ConvNormAct(inner, inner, kernel, stride, dims=dims, norm=norm, act=act)
        self.expand = ConvNormAct(inner, c_out, 1, dims=dims, norm=norm, act=None)
        self.shortcut = _shortcut(c_in, c_out, stride, dims, norm)
        self.act = activation(act)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, c_in, *size]`` -> ``[B, c_out, *ceil(size / stride)]``."""
        return self.act(self.expand(self.conv(self.reduce(x))) + self.shortcut(x))
