"""Inputs for Hugging Face ``transformers`` models, derived from their config and the shape of the main input.

Two registries: :data:`MAIN_INPUTS` builds a model's main input (``model.main_input_name``) for the zoo, and
:data:`COMPANIONS` adds what a forward cannot run without besides it (an encoder-decoder's ``decoder_input_ids``, the
other modality of a dual encoder such as CLIP). Only shapes are derived; values are zeros (valid token ids).
Nothing here imports ``transformers``: it works on the model and config objects it is given.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["MAIN_INPUTS", "COMPANIONS", "Companion", "hf_main_inputs", "complete_hf_inputs", "SEQ_LEN", "BATCH"]

log = logging.getLogger(__name__)

#: Sequence length and batch size of built inputs.
SEQ_LEN = 16
BATCH = 2

#: ``(config, batch, length, device) -> tensor``.
InputBuilder = Callable[[Any, int, int, torch.device], Tensor]


def _token_ids(config: Any, batch: int, length: int, device: torch.device) -> Tensor:
    limit = getattr(config, "max_position_embeddings", None) or length
    return torch.zeros(batch, min(length, limit), dtype=torch.long, device=device)


def _pixel_values(config: Any, batch: int, length: int, device: torch.device) -> Tensor:
    size = getattr(config, "image_size", 224)
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    return torch.zeros(batch, getattr(config, "num_channels", 3), height, width, device=device)


def _input_features(config: Any, batch: int, length: int, device: torch.device) -> Tensor:
    # Whisper-style log-mel frames: the encoder's two convolutions (stride 1, 2) end at max_source_positions.
    return torch.zeros(batch, config.num_mel_bins, 2 * config.max_source_positions, device=device)


def _input_values(config: Any, batch: int, length: int, device: torch.device) -> Tensor:
    return torch.zeros(batch, 16_000, device=device)  # one second of 16 kHz audio (wav2vec2-style raw waveform)


#: ``model.main_input_name`` -> builder of that input from the model's config.
MAIN_INPUTS: dict[str, InputBuilder] = {
    "input_ids": _token_ids,
    "pixel_values": _pixel_values,
    "input_features": _input_features,
    "input_values": _input_values,
}


@dataclass(frozen=True)
class Companion:
    """An input a forward cannot run without besides its main input.

    Attributes:
        name: the forward's argument.
        needed: ``(config, given names) -> bool``: whether the model needs it and the user did not pass it (or an
            alternative to it).
        build: ``(config, batch, length, device) -> tensor``.
    """

    name: str
    needed: Callable[[Any, set[str]], bool]
    build: InputBuilder


def _decoder_length(config: Any, batch: int, length: int, device: torch.device) -> Tensor:
    limit = getattr(config, "max_target_positions", None) or length
    return torch.zeros(batch, min(length, limit), dtype=torch.long, device=device)


def _dual_encoder(config: Any) -> bool:
    """CLIP-like contrastive models: a text tower and a vision tower joined by a projection."""
    return all(getattr(config, key, None) is not None for key in ("text_config", "vision_config", "projection_dim"))


#: Inputs added when missing, in this order.
COMPANIONS: tuple[Companion, ...] = (
    Companion("decoder_input_ids",
              lambda config, given: bool(getattr(config, "is_encoder_decoder", False))
              and not given & {"decoder_input_ids", "decoder_inputs_embeds", "labels"},
              _decoder_length),
    Companion("pixel_values", lambda config, given: _dual_encoder(config) and "pixel_values" not in given,
              lambda config, batch, length, device: _pixel_values(config.vision_config, batch, length, device)),
    Companion("input_ids", lambda config, given: _dual_encoder(config) and not given & {"input_ids", "inputs_embeds"},
              lambda config, batch, length, device: _token_ids(config.text_config, batch, length, device)),
)


def hf_main_inputs(model: nn.Module, device: torch.device | str | None = None) -> dict[str, Tensor]:
    """``{main_input_name: tensor}`` for a transformers model, shaped from its config (batch :data:`BATCH`).

    Raises:
        ValueError: if the model's main input is not in :data:`MAIN_INPUTS` (names it and the known ones).
    """
    name = getattr(model, "main_input_name", "input_ids")
    if name not in MAIN_INPUTS:
        raise ValueError(f"{type(model).__name__}'s main input {name!r} has no builder; pass example inputs "
                         f"yourself (builders exist for {sorted(MAIN_INPUTS)})")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    return {name: MAIN_INPUTS[name](model.config, BATCH, SEQ_LEN, device)}


def _batch_and_length(given: dict[str, Any]) -> tuple[int, int]:
    tensors = [v for v in given.values() if isinstance(v, Tensor) and v.dim() > 0]
    batch = tensors[0].shape[0] if tensors else BATCH
    ids = given.get("input_ids")
    return batch, ids.shape[-1] if isinstance(ids, Tensor) and ids.dim() > 0 else SEQ_LEN


def complete_hf_inputs(
    model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], device: torch.device
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Add the :data:`COMPANIONS` a transformers model needs, and ``use_cache=False`` (a KV cache adds concat
    nodes that are not part of the architecture), unless the user passed them. Batch and sequence length follow
    the given inputs."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return args, kwargs
    given = {**dict(zip(params, args)), **kwargs}
    kwargs = dict(kwargs)
    batch, length = _batch_and_length(given)
    for companion in COMPANIONS:
        if companion.name in params and companion.needed(model.config, set(given)):
            kwargs[companion.name] = given[companion.name] = companion.build(model.config, batch, length, device)
            log.debug("added %s%s to the inputs of %s", companion.name, tuple(kwargs[companion.name].shape),
                      type(model).__name__)
    if "use_cache" in params and "use_cache" not in given:
        kwargs["use_cache"] = False
    return args, kwargs
