"""torchvision classification models (``torchvision:<name>``)."""

from __future__ import annotations

from typing import Any

from torch import nn

from hypergen.compat import ensure_torchvision_importable
from hypergen.graph.inputs import DEFAULT_IMAGE_SHAPE, ExampleInputs
from hypergen.zoo.names import unknown_name_message
from hypergen.zoo.registry import register_source

__all__ = ["TorchvisionSource"]

# Models whose forward needs another input size than 224 (inception's auxiliary head needs 299 in train mode).
_INPUT_SIZE: dict[str, int] = {"inception_v3": 299}


@register_source("torchvision")
class TorchvisionSource:
    """Builds ``torchvision.models`` classification models with random (or meta) weights, never downloading."""

    def _models(self) -> Any:
        if not ensure_torchvision_importable():
            raise ImportError("torchvision is not installed; `pip install 'hypergen[zoo]'`")
        import torchvision.models

        return torchvision.models

    def names(self) -> list[str]:
        """All classification models of ``torchvision.models``."""
        models = self._models()
        return list(models.list_models(module=models))

    def build(self, name: str, **kwargs: Any) -> tuple[nn.Module, ExampleInputs]:
        """Build ``name`` with ``weights=None`` (kwargs such as ``num_classes`` are passed through)."""
        models = self._models()
        known = models.list_models(module=models)
        if name not in known:
            raise ValueError(unknown_name_message(f"torchvision:{name}", name, known, "classification model",
                                                  "torchvision"))
        kwargs.setdefault("weights", None)
        if name in ("inception_v3", "googlenet"):
            kwargs.setdefault("init_weights", True)  # silences torchvision's FutureWarning; same init as before
        size = _INPUT_SIZE.get(name, DEFAULT_IMAGE_SHAPE[-1])
        return models.get_model(name, **kwargs), (DEFAULT_IMAGE_SHAPE[0], 3, size, size)
