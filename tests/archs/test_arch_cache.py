"""ArchCache: fixed specs are built and traced once; LRU eviction; PyG data kept."""

from __future__ import annotations

import time

import pytest

from hypergen.archs import ArchCache, ArchSampler, reference_spec, trace_spec


def test_hits_reuse_the_traced_graph():
    cache = ArchCache(maxsize=4)
    spec = reference_spec("resnet20", (3, 32, 32), 10)
    first = cache.get(spec)
    reordered = dict(reversed(list(spec.items())))  # equal dict, other key order: same canonical key
    start = time.perf_counter()
    second = cache.get(reordered)
    hit_time = time.perf_counter() - start
    assert second is first and (cache.hits, cache.misses) == (1, 1)
    assert hit_time < 0.005 and spec in cache and len(cache) == 1
    assert all(p.device.type == "meta" for p in first.model.parameters())
    assert first.graph.coverage.complete and first.graph.num_params == 272_474
    assert first.data.num_nodes == first.graph.num_nodes
    assert first.data.param_names == list(first.graph.params)
    first.spec["num_classes"] = 3  # the entry keeps a private copy of the spec
    assert spec["num_classes"] == 10


def test_least_recently_used_entry_is_evicted():
    specs = ArchSampler("mlp", "train", (1, 40), 10).take(3)
    cache = ArchCache(maxsize=2, with_data=False)
    cache.get(specs[0])
    cache.get(specs[1])
    cache.get(specs[0])  # specs[1] is now the least recently used
    cache.get(specs[2])
    assert specs[0] in cache and specs[2] in cache and specs[1] not in cache
    assert (cache.hits, cache.misses, len(cache)) == (1, 3, 2)
    assert cache.get(specs[2]).data is None
    cache.clear()
    assert len(cache) == 0


def test_trace_spec_matches_the_cached_graph():
    spec = reference_spec("gpt_nano", (16,), 65)
    model, graph = trace_spec(spec)
    assert graph.coverage.complete and graph.params["tok_embed.weight"].aliases == ("lm_head.weight",)
    assert ArchCache().get(spec).graph.num_nodes == graph.num_nodes


def test_bad_size():
    with pytest.raises(ValueError, match="maxsize must be >= 1"):
        ArchCache(maxsize=0)
