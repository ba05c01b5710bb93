"""Inputs a Hugging Face model cannot run without, derived from its main input (hypergen/graph/hf_inputs.py)."""

from __future__ import annotations

import pytest
import torch

from hypergen.graph.hf_inputs import complete_hf_inputs, hf_main_inputs
from hypergen.zoo import load_model
from hypergen.zoo.samples import HF_FAMILY_CONFIGS

pytest.importorskip("transformers")
META = torch.device("meta")


def _model(spec: str):
    return load_model(spec, **HF_FAMILY_CONFIGS[spec]).model


def _shapes(kwargs: dict) -> dict:
    return {k: tuple(v.shape) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}


def test_encoder_decoders_get_decoder_ids_shaped_like_the_input_and_users_inputs_stay():
    t5 = _model("hf:t5")
    ids = torch.zeros(3, 5, dtype=torch.long, device="meta")
    _, kwargs = complete_hf_inputs(t5, (), {"input_ids": ids}, META)
    assert _shapes(kwargs) == {"input_ids": (3, 5), "decoder_input_ids": (3, 5), "use_cache": False}
    assert kwargs["input_ids"] is ids
    given = {"input_ids": ids, "decoder_input_ids": torch.zeros(3, 2, dtype=torch.long), "use_cache": True}
    assert complete_hf_inputs(t5, (), given, META)[1] == given  # nothing the user passed is replaced
    _, positional = complete_hf_inputs(t5, (ids,), {}, META)  # input_ids passed positionally
    assert _shapes(positional) == {"decoder_input_ids": (3, 5), "use_cache": False}


def test_whisper_decoder_length_is_capped_by_its_positions():
    whisper = _model("hf:whisper")
    main = hf_main_inputs(whisper, META)
    assert _shapes(main) == {"input_features": (2, 16, 64)}  # num_mel_bins, 2 * max_source_positions
    _, kwargs = complete_hf_inputs(whisper, (), main, META)
    assert _shapes(kwargs)["decoder_input_ids"] == (2, 16)


def test_dual_encoders_get_the_other_modality_and_decoder_lms_only_use_cache():
    clip = _model("hf:clip")
    _, kwargs = complete_hf_inputs(clip, (), {"input_ids": torch.zeros(4, 6, dtype=torch.long)}, META)
    assert _shapes(kwargs) == {"input_ids": (4, 6), "pixel_values": (4, 3, 32, 32)}
    gpt2 = _model("hf:gpt2")
    _, kwargs = complete_hf_inputs(gpt2, (), {"input_ids": torch.zeros(1, 4, dtype=torch.long)}, META)
    assert _shapes(kwargs) == {"input_ids": (1, 4), "use_cache": False}


def test_unknown_main_input_names_the_builders():
    gpt2 = _model("hf:gpt2")
    gpt2.main_input_name = "spectrogram"
    with pytest.raises(ValueError, match=r"GPT2Model's main input 'spectrogram' has no builder; pass example inputs"):
        hf_main_inputs(gpt2)
