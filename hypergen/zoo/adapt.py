"""Adapt zoo models to a task's inputs: the first convolution takes the task's number of channels."""

from __future__ import annotations

from torch import nn

__all__ = ["adapt_input_channels"]


def adapt_input_channels(model: nn.Module, channels: int) -> nn.Module:
    """Replace the model's first convolution by one taking ``channels`` input channels (same everything else), so
    an ImageNet model runs on grey-scale images. The new convolution gets PyTorch's default init.

    Args:
        model: a model whose first ``nn.Conv*d`` (in module order) is its input stem.
        channels: input channels of the task.

    Returns:
        ``model`` (changed in place; unchanged when the stem already fits).

    Raises:
        ValueError: the model has no convolution, or its stem is grouped (names it).
    """
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            if module.in_channels == channels:
                return model
            if module.groups != 1:
                raise ValueError(f"the first convolution {name!r} of {type(model).__name__} is grouped "
                                 f"(groups={module.groups}); adapt its input by hand")
            stem = type(module)(channels, module.out_channels, module.kernel_size, module.stride, module.padding,
                                module.dilation, 1, module.bias is not None, module.padding_mode,
                                device=module.weight.device, dtype=module.weight.dtype)
            parent_name, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, attr, stem)
            return model
    raise ValueError(f"{type(model).__name__} has no convolution whose input channels could be set to {channels}")
