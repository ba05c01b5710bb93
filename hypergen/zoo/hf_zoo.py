"""Hugging Face transformers models built from configs (``hf:<model_type>[:<head>]``), never downloading.

``hf:gpt2`` is the bare ``GPT2Model`` with GPT-2 small's default config; ``hf:gpt2:causal_lm`` adds the LM head;
config fields are keyword arguments: ``load_model("hf:gpt2:causal_lm", n_layer=36, n_embd=1280, n_head=20)``
is GPT-2-large.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from hypergen.compat import ensure_torchvision_importable
from hypergen.graph.inputs import ExampleInputs

__all__ = ["SOURCE", "HFSource", "HEADS"]

#: Head name -> transformers auto class.
HEADS: dict[str, str] = {
    "model": "AutoModel",
    "causal_lm": "AutoModelForCausalLM",
    "masked_lm": "AutoModelForMaskedLM",
    "sequence_classification": "AutoModelForSequenceClassification",
    "image_classification": "AutoModelForImageClassification",
}

_SEQ_LEN = 16


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
        if head not in HEADS:
            raise ValueError(f"hf:{name}: unknown head {head!r}; use one of {sorted(HEADS)}")
        try:
            config = transformers.AutoConfig.for_model(model_type, **kwargs)
        except ValueError as err:
            raise ValueError(f"hf:{name}: {err}") from err
        model = getattr(transformers, HEADS[head]).from_config(config)
        return model, _example_inputs(model, config)


def _example_inputs(model: nn.Module, config: Any) -> ExampleInputs:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    device = next(model.parameters()).device
    if getattr(model, "main_input_name", "input_ids") == "pixel_values":
        size = getattr(config, "image_size", 224)
        return {"pixel_values": torch.zeros(2, getattr(config, "num_channels", 3), size, size, device=device)}
    inputs: dict[str, Any] = {"input_ids": torch.zeros(2, _SEQ_LEN, dtype=torch.long, device=device)}
    # An explicit 4-D mask: without one, transformers inspects mask/position *values* (packed-sequence detection),
    # which meta tensors do not have. Causal for decoder-only model types, full attention otherwise.
    mask = torch.ones(_SEQ_LEN, _SEQ_LEN, dtype=torch.bool, device=device)
    if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not getattr(config, "is_encoder_decoder", False):
        mask = mask.tril()
    inputs["attention_mask"] = mask.expand(2, 1, _SEQ_LEN, _SEQ_LEN)
    if "use_cache" in inspect.signature(model.forward).parameters:
        inputs["use_cache"] = False  # a KV cache adds concat nodes that are not part of the architecture
    return inputs


SOURCE = HFSource()
