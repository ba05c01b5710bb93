"""Hugging Face transformers models built from configs (``hf:<model_type>[:<head>]``), never downloading.

``hf:gpt2`` is the bare ``GPT2Model`` with GPT-2 small's default config; ``hf:gpt2:causal_lm`` adds the LM head;
config fields are keyword arguments: ``load_model("hf:gpt2:causal_lm", n_layer=36, n_embd=1280, n_head=20)``
is GPT-2-large. ``num_classes``, as the other sources take it, sets ``num_labels`` of the classification heads.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from hypergen.compat import ensure_torchvision_importable
from hypergen.graph.hf_inputs import complete_hf_inputs, hf_main_inputs
from hypergen.graph.inputs import ExampleInputs
from hypergen.zoo.names import unknown_name_message
from hypergen.zoo.registry import register_source

__all__ = ["HFSource", "HEADS"]

#: Head name -> transformers auto class.
HEADS: dict[str, str] = {
    "model": "AutoModel",
    "causal_lm": "AutoModelForCausalLM",
    "masked_lm": "AutoModelForMaskedLM",
    "sequence_classification": "AutoModelForSequenceClassification",
    "image_classification": "AutoModelForImageClassification",
}

#: Heads whose ``num_labels`` the ``num_classes`` keyword sets.
_CLASSIFICATION_HEADS: tuple[str, ...] = ("image_classification", "sequence_classification")


@register_source("hf")
class HFSource:
    """Builds transformers models from their default config plus overrides."""

    def _transformers(self) -> Any:
        ensure_torchvision_importable()  # transformers imports torchvision when it is installed
        import transformers

        return transformers

    def names(self) -> list[str]:
        """Model types known to transformers' ``AutoConfig``."""
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

        self._transformers()
        return sorted(CONFIG_MAPPING_NAMES)

    def build(self, name: str, **kwargs: Any) -> tuple[nn.Module, ExampleInputs]:
        """Build ``<model_type>[:<head>]`` with config overrides from ``kwargs``."""
        transformers = self._transformers()
        model_type, _, head = name.partition(":")
        head = head or "model"
        known = self.names()
        if model_type not in known:
            raise ValueError(unknown_name_message(f"hf:{name}", model_type, known, "model type", "hf"))
        if head not in HEADS:
            raise ValueError(f"hf:{name}: unknown head {head!r}; use one of {sorted(HEADS)}")
        if "num_classes" in kwargs:
            if head not in _CLASSIFICATION_HEADS:
                raise ValueError(f"hf:{name}: num_classes is for the classification heads {_CLASSIFICATION_HEADS}, "
                                 f"not {head!r}; set the config's own field instead (a language model's vocab_size)")
            if "num_labels" in kwargs and kwargs["num_labels"] != kwargs["num_classes"]:
                raise ValueError(f"hf:{name}: num_classes={kwargs['num_classes']} and num_labels="
                                 f"{kwargs['num_labels']} disagree; give one of them")
            kwargs["num_labels"] = kwargs.pop("num_classes")  # kwargs is this call's own dict
        try:
            config = transformers.AutoConfig.for_model(model_type, **kwargs)
        except ValueError as err:
            raise ValueError(f"hf:{name}: {err}") from err
        model = getattr(transformers, HEADS[head]).from_config(config)
        return model, _example_inputs(model)


def _example_inputs(model: nn.Module) -> ExampleInputs:
    """The model's main input (shaped from its config) and what its forward cannot run without besides it."""
    device = next(model.parameters()).device
    _, inputs = complete_hf_inputs(model, (), hf_main_inputs(model, device), device)
    return inputs
