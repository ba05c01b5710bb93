"""The registry of parameter decoders: name -> factory of a :class:`ParamDecoder` from a :class:`GHNConfig`.

Each decoder registers its factory in its own module of ``hypergen.ghn.decoders`` with
``@register_decoder("name")``; the registry imports those modules on its first lookup (see
:class:`hypergen.registry.Registry`). A factory reads the :class:`GHNConfig` fields it needs (``hidden``, ``rank``,
``tile_size``...), which ``conf/decoder/<name>.yaml`` sets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from hypergen.ghn.decoders.base import ParamDecoder
from hypergen.registry import Registry

if TYPE_CHECKING:
    from hypergen.ghn.config import GHNConfig

__all__ = ["DECODER_REGISTRY", "DecoderFactory", "build_decoder", "list_decoders", "register_decoder"]

DecoderFactory = Callable[["GHNConfig"], ParamDecoder]
FactoryT = TypeVar("FactoryT", bound=DecoderFactory)

#: Name -> factory; ``GHNConfig.decoder`` names an entry.
DECODER_REGISTRY: Registry[DecoderFactory] = Registry(
    "decoder", "hypergen.ghn.decoders", "register_decoder", entry_point_group="hypergen.decoders",
    hint="Add one as a module with an @register_decoder(<name>) factory and conf/decoder/<name>.yaml "
         "(docs/extending.md).",
)


def register_decoder(name: str) -> Callable[[FactoryT], FactoryT]:
    """Decorator: register a decoder factory ``factory(config: GHNConfig) -> ParamDecoder`` under ``name``
    (replacing an earlier one).

    Example:
        >>> @register_decoder("rank1")
        ... def rank_one(config: GHNConfig) -> ParamDecoder: ...
    """

    return DECODER_REGISTRY.callable_decorator(name, "a factory of the GHNConfig")


def list_decoders() -> list[str]:
    """Registered decoder names, sorted."""
    return DECODER_REGISTRY.names()


def build_decoder(config: GHNConfig) -> ParamDecoder:
    """Build the decoder ``config.decoder`` names, sized by ``config``.

    Raises:
        KeyError: for an unknown name (lists the registered ones).
    """
    return DECODER_REGISTRY[config.decoder](config)
