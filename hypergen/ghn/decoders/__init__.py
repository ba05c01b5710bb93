"""Parameter decoders: conditioning vectors -> raw parameter tensors of any shape, looked up by name.

Each decoder lives in its own module and registers a factory with ``@register_decoder("name")`` (see
:mod:`hypergen.ghn.decoders.registry`).
"""

from __future__ import annotations

from hypergen.ghn.decoders.base import DenseParams, LowRankParams, ParamDecoder, RawParams, TensorLayout
from hypergen.ghn.decoders.core import CoreDecoder, KernelMLP
from hypergen.ghn.decoders.lowrank import LowRankDecoder
from hypergen.ghn.decoders.registry import DECODER_REGISTRY, build_decoder, list_decoders, register_decoder
from hypergen.ghn.decoders.tiling import TilingDecoder

__all__ = [
    "CoreDecoder", "DECODER_REGISTRY", "DenseParams", "KernelMLP", "LowRankDecoder", "LowRankParams", "ParamDecoder",
    "RawParams", "TensorLayout", "TilingDecoder", "build_decoder", "list_decoders", "register_decoder",
]
