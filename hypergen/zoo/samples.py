"""Curated samples of zoo models used by tests and benchmarks: diverse families that must always work."""

from __future__ import annotations

from typing import Any

__all__ = ["TIMM_SAMPLE", "HF_SMALL_CONFIGS", "HF_FAMILY_CONFIGS", "HF_LM_FAMILY_CONFIGS"]

#: CNNs, ViTs, hybrids and MLP-mixers from timm.
TIMM_SAMPLE: tuple[str, ...] = (
    "resnet50d", "efficientnet_b0", "mobilenetv3_large_100", "convnext_atto", "convnextv2_atto",
    "vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224", "swin_tiny_patch4_window7_224", "regnety_002",
    "densenet121", "mixer_s16_224", "resmlp_12_224", "poolformer_s12", "levit_128", "cait_xxs24_224",
    "xcit_nano_12_p16_224", "efficientformer_l1", "mobilevit_xxs", "ghostnet_100", "dla34", "dpn68",
    "hrnet_w18_small", "inception_v3", "rexnet_100", "crossvit_tiny_240", "pit_ti_224", "edgenext_xx_small",
    "fastvit_t8", "maxvit_nano_rw_256", "coatnet_nano_rw_224", "eva02_tiny_patch14_224",
)

#: Small Hugging Face configs (spec -> config overrides) covering decoder LMs, encoders and ViTs.
HF_SMALL_CONFIGS: dict[str, dict[str, Any]] = {
    "hf:gpt2:causal_lm": dict(n_layer=2, n_embd=64, n_head=4, vocab_size=1000),
    "hf:bert:masked_lm": dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                              vocab_size=1000),
    "hf:llama:causal_lm": dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                               num_key_value_heads=2, vocab_size=1000),
    "hf:bert:sequence_classification": dict(num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                                            intermediate_size=64, num_labels=5),
    "hf:vit:image_classification": dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
                                        intermediate_size=128, image_size=32, patch_size=8, num_labels=10),
}

_DECODER = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4, vocab_size=1000)
_SEQ2SEQ = dict(encoder_layers=1, decoder_layers=1, d_model=64, encoder_attention_heads=4, decoder_attention_heads=4,
                encoder_ffn_dim=128, decoder_ffn_dim=128, vocab_size=1000)
_SPECIAL_TOKENS = dict(pad_token_id=0, bos_token_id=0, eos_token_id=0, decoder_start_token_id=0)

#: One small config per Hugging Face model family the zoo builds (``hf:<model_type>`` -> config overrides): decoder
#: LMs, mixture-of-experts, encoders, encoder-decoders, speech, dual encoders, state-space models and ViTs. Their
#: main input alone (``{"input_ids": ids}``, ``{"pixel_values": ...}``...) must trace with full coverage.
HF_FAMILY_CONFIGS: dict[str, dict[str, Any]] = {
    "hf:gpt2": dict(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, bos_token_id=0, eos_token_id=0),
    "hf:llama": dict(_DECODER, num_key_value_heads=2),
    "hf:mistral": dict(_DECODER, num_key_value_heads=2),
    "hf:qwen2": dict(_DECODER, num_key_value_heads=2),
    "hf:phi": dict(_DECODER),
    "hf:gpt_neox": dict(_DECODER),
    "hf:gemma": dict(_DECODER, num_key_value_heads=2, head_dim=16),
    "hf:mixtral": dict(_DECODER, num_key_value_heads=2, num_local_experts=4),
    "hf:opt": dict(_DECODER, ffn_dim=128, word_embed_proj_dim=64),
    "hf:bert": dict(_DECODER),
    "hf:deberta-v2": dict(_DECODER),
    "hf:t5": dict(num_layers=1, num_decoder_layers=1, d_model=64, d_ff=128, num_heads=4, d_kv=16, vocab_size=1000),
    "hf:bart": dict(_SEQ2SEQ, **_SPECIAL_TOKENS),
    "hf:whisper": dict(_SEQ2SEQ, **_SPECIAL_TOKENS, num_mel_bins=16, max_source_positions=32,
                       max_target_positions=32),
    "hf:clip": dict(text_config=dict(num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=2,
                                     vocab_size=1000),
                    vision_config=dict(num_hidden_layers=1, hidden_size=32, intermediate_size=64,
                                       num_attention_heads=2, image_size=32, patch_size=8),
                    projection_dim=16),
    "hf:mamba": dict(num_hidden_layers=2, hidden_size=64, vocab_size=1000),
    "hf:vit": dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128, image_size=32,
                   patch_size=8),
}

_SMALL_LM = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1000)

#: Small decoder LMs of families whose norms no registry entry lists (each writes its own RMSNorm/LayerNorm; Gemma's
#: is ``x * (1 + w)`` with ``w`` zeros) and Mamba (state-space mixer with free scales and tables).
HF_LM_FAMILY_CONFIGS: dict[str, dict[str, Any]] = {
    "hf:mistral:causal_lm": dict(_SMALL_LM),
    "hf:qwen2:causal_lm": dict(_SMALL_LM),
    "hf:qwen3:causal_lm": dict(_SMALL_LM, head_dim=16),
    "hf:olmo2:causal_lm": dict(_SMALL_LM),
    "hf:cohere:causal_lm": dict(_SMALL_LM),
    "hf:gemma:causal_lm": dict(_SMALL_LM, head_dim=16),
    "hf:mamba:causal_lm": dict(num_hidden_layers=2, hidden_size=64, state_size=8, vocab_size=1000, expand=2),
}
