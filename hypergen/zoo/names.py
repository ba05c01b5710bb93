"""Messages for names a zoo source does not know: one line with the closest names and how to list them all."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["unknown_name_message"]


def unknown_name_message(spec: str, name: str, known: Sequence[str], what: str, source: str) -> str:
    """``"hf:gtp2: unknown model type 'gtp2'; closest: 'gpt2', ...; list all with hypergen.zoo.list_models('hf')"``.

    Args:
        spec: the spec the user wrote.
        name: the part of it that is unknown.
        known: every name the source knows (never printed in full).
        what: what ``name`` is (``"model type"``, ``"model"``).
        source: the source prefix, for the listing hint.
    """
    close = difflib.get_close_matches(name, list(known), n=5, cutoff=0.5)
    closest = f"closest: {', '.join(map(repr, close))}" if close else "no close match"
    return (f"{spec}: unknown {what} {name!r} ({closest}); list all {len(known)} with "
            f"`hypergen models {source}` or hypergen.zoo.list_models({source!r})")
