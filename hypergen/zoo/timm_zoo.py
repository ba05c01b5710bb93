"""timm models (``timm:<name>``), created without pretrained weights."""

from __future__ import annotations

from typing import Any

from torch import nn

from hypergen.compat import ensure_torchvision_importable
from hypergen.graph.inputs import DEFAULT_IMAGE_SHAPE, ExampleInputs
from hypergen.zoo.names import unknown_name_message
from hypergen.zoo.registry import register_source

__all__ = ["TimmSource"]


@register_source("timm")
class TimmSource:
    """Builds timm models with ``pretrained=False``; the example input follows the model's pretrained config."""

    def _timm(self) -> Any:
        ensure_torchvision_importable()  # timm imports torchvision lazily in places
        import timm

        return timm

    def names(self) -> list[str]:
        """All model names timm can create."""
        return list(self._timm().list_models())

    def build(self, name: str, **kwargs: Any) -> tuple[nn.Module, ExampleInputs]:
        """Create ``name`` (kwargs such as ``num_classes`` go to ``timm.create_model``)."""
        timm = self._timm()
        if not timm.is_model(name):
            raise ValueError(unknown_name_message(f"timm:{name}", name, timm.list_models(), "model", "timm"))
        model = timm.create_model(name, pretrained=False, **kwargs)
        cfg = getattr(model, "pretrained_cfg", None) or {}
        channels, height, width = cfg.get("input_size", DEFAULT_IMAGE_SHAPE[1:])
        return model, (DEFAULT_IMAGE_SHAPE[0], channels, height, width)
