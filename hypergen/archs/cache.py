"""An LRU cache from spec to its meta-device module, traced graph and PyG data, so fixed specs are traced once.

Held-out evaluation nets and a training set of fixed specs are revisited every epoch; building and tracing them
again costs 10-300 ms each (``benchmarks/results/archs.md``), a cache hit costs a dict lookup.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch_geometric.data import Data

from hypergen.archs.spec import build, example_input, spec_key
from hypergen.graph import ComputationGraph, trace_module
from hypergen.graph.data import DEFAULT_VIRTUAL_EDGE_CUTOFF, to_data

__all__ = ["ArchCache", "TracedArch", "trace_spec"]


@dataclass
class TracedArch:
    """A spec with its module (on ``meta``), its computation graph and (optionally) its PyG encoding.

    Attributes:
        spec: the spec (a private copy). key: its canonical JSON (:func:`~hypergen.archs.spec.spec_key`).
        model: the module with parameters on ``meta`` (for ``torch.func.functional_call`` with predicted weights).
        graph: the traced graph; every parameter is attached (traced with ``strict=True``).
        data: ``to_data(graph)``, or ``None`` if the cache was created with ``with_data=False``.
    """

    spec: dict[str, Any]
    key: str
    model: nn.Module
    graph: ComputationGraph
    data: Data | None = None


def trace_spec(spec: Mapping[str, Any], *, batch_size: int = 2) -> tuple[nn.Module, ComputationGraph]:
    """Build ``spec`` on ``meta`` and trace it on its example input (strict: every parameter must be attached).

    Returns:
        ``(model, graph)``.

    Raises:
        InvalidSpecError: for an invalid spec. IncompleteCoverageError: if a parameter is not attached.
    """
    model = build(spec, "meta")
    graph = trace_module(model, example_input(spec, batch_size, "meta"), name=spec["family"])
    return model, graph


class ArchCache:
    """LRU cache spec -> :class:`TracedArch` (keyed by canonical JSON, so equal dicts share an entry).

    Args:
        maxsize: entries kept; the least recently used one is evicted beyond it.
        with_data: also compute and keep ``to_data(graph)``.
        virtual_edge_cutoff: passed to :func:`~hypergen.graph.data.to_data`.
    """

    def __init__(self, maxsize: int = 1024, *, with_data: bool = True,
                 virtual_edge_cutoff: int = DEFAULT_VIRTUAL_EDGE_CUTOFF) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.with_data = with_data
        self.virtual_edge_cutoff = virtual_edge_cutoff
        self._entries: OrderedDict[str, TracedArch] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, spec: Mapping[str, Any]) -> TracedArch:
        """The traced architecture of ``spec``; built and traced on a miss."""
        key = spec_key(spec)
        entry = self._entries.get(key)
        if entry is not None:
            self.hits += 1
            self._entries.move_to_end(key)
            return entry
        self.misses += 1
        model, graph = trace_spec(spec)
        data = to_data(graph, virtual_edge_cutoff=self.virtual_edge_cutoff) if self.with_data else None
        entry = TracedArch(json.loads(key), key, model, graph, data)
        self._entries[key] = entry
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return entry

    def __contains__(self, spec: Mapping[str, Any]) -> bool:
        return spec_key(spec) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Drop every entry (the hit/miss counters are kept)."""
        self._entries.clear()
