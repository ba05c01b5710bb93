"""Parameter decoders: conditioning vectors -> raw parameter tensors of any shape, looked up by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hypergen.ghn.decoders.base import DenseParams, LowRankParams, ParamDecoder, RawParams, TensorLayout
from hypergen.ghn.decoders.core import CoreDecoder
from hypergen.ghn.decoders.lowrank import LowRankDecoder
from hypergen.ghn.decoders.tiling import TilingDecoder
from hypergen.registry import lookup

if TYPE_CHECKING:
    from hypergen.ghn.config import GHNConfig

__all__ = [
    "CoreDecoder", "DECODER_REGISTRY", "DenseParams", "LowRankDecoder", "LowRankParams", "ParamDecoder", "RawParams",
    "TensorLayout",
    "TilingDecoder", "build_decoder",
]

#: name -> factory(config) of a :class:`ParamDecoder`; each decoder reads the :class:`GHNConfig` fields it needs.
DECODER_REGISTRY: dict[str, Callable[[GHNConfig], ParamDecoder]] = {
    "lowrank": lambda c: LowRankDecoder(c.hidden, c.rank, c.index_features, c.mip, index_encoding=c.index_encoding,
                                        base=c.base),
    "core": lambda c: CoreDecoder(c.hidden, c.rank, base=c.base, index_encoding=c.index_encoding),
    "tiling": lambda c: TilingDecoder(c.hidden, c.tile_size),
}


def build_decoder(config: GHNConfig) -> ParamDecoder:
    """Build the decoder ``config.decoder`` names, sized by ``config``.

    Raises:
        KeyError: for an unknown name (lists the registered ones).
    """
    return lookup(DECODER_REGISTRY, config.decoder, "decoder")(config)
