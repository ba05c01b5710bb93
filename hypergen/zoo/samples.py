"""Curated samples of zoo models used by tests and benchmarks: diverse families that must always work."""

from __future__ import annotations

from typing import Any

__all__ = ["TIMM_SAMPLE", "HF_SMALL_CONFIGS", "HF_LM_FAMILY_CONFIGS"]

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
