"""Parameter decoders: conditioning vectors -> raw parameter tensors of any shape, looked up by name."""

from __future__ import annotations

from collections.abc import Callable

from hypergen.ghn.decoders.base import DenseParams, LowRankParams, ParamDecoder, RawParams, TensorLayout
from hypergen.ghn.decoders.lowrank import LowRankDecoder
from hypergen.ghn.decoders.tiling import TilingDecoder
from hypergen.registry import lookup

__all__ = [
    "DECODER_REGISTRY", "DenseParams", "LowRankDecoder", "LowRankParams", "ParamDecoder", "RawParams", "TensorLayout",
    "TilingDecoder", "build_decoder",
]

#: name -> factory(hidden, rank, index_features, tile_size, mip) of a :class:`ParamDecoder`.
DECODER_REGISTRY: dict[str, Callable[..., ParamDecoder]] = {
    "lowrank": lambda hidden, rank, index_features, tile_size, mip: LowRankDecoder(hidden, rank, index_features, mip),
    "tiling": lambda hidden, rank, index_features, tile_size, mip: TilingDecoder(hidden, tile_size),
}


def build_decoder(name: str, hidden: int, rank: int, index_features: int, tile_size: int, mip: bool) -> ParamDecoder:
    """Build the decoder registered as ``name``.

    Raises:
        KeyError: for an unknown name (lists the registered ones).
    """
    return lookup(DECODER_REGISTRY, name, "decoder")(hidden, rank, index_features, tile_size, mip)
