"""Architecture spaces: seeded samplers and builders of diverse training and held-out architectures.

A spec is a JSON-able dict (``{"family", "input_shape", "num_classes", ...}``); :class:`ArchSampler` draws specs of a
family for a split reproducibly from ``(seed, index)``; :func:`build` turns a spec into an ``nn.Module`` (on ``meta``
when asked); :class:`ArchCache` keeps traced graphs of fixed specs. Each family registers itself in its own module
with ``@register_family``; the registry imports those modules on its first lookup. See ``docs/archs.md``.
"""

from __future__ import annotations

from hypergen.archs.cache import ArchCache, TracedArch, trace_spec
from hypergen.archs.references import reference_spec, reference_specs
from hypergen.archs.registry import ArchFamily, get_family, list_families, register_family
from hypergen.archs.sampler import ArchSampler, SamplingError
from hypergen.archs.spec import (
    build, count_params, example_input, output_shape, spec_from_json, spec_key, spec_summary, validate_spec,
)
from hypergen.archs.splits import Split, get_split, list_splits, register_split
from hypergen.archs.validation import InvalidSpecError

__all__ = [
    "ArchCache", "ArchFamily", "ArchSampler", "InvalidSpecError", "SamplingError", "Split", "TracedArch", "build",
    "count_params", "example_input", "get_family", "get_split", "list_families", "list_splits", "output_shape",
    "reference_spec", "reference_specs", "register_family", "register_split", "spec_from_json", "spec_key",
    "spec_summary", "trace_spec", "validate_spec",
]
