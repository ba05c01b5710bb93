"""Architectures for GHN training: a seeded training stream (disjoint per DDP rank) and a fixed held-out set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from hypergen.apply.functional import materialize_buffers
from hypergen.archs import ArchCache, ArchSampler, build
from hypergen.archs.cache import TracedArch
from hypergen.graph.data import DEFAULT_VIRTUAL_EDGE_CUTOFF

__all__ = ["ArchPool", "HeldOutArch"]


@dataclass
class HeldOutArch:
    """A held-out architecture: its traced form and the weights of the same net under PyTorch's default init.

    Attributes:
        traced: spec, meta model (with real buffers), graph and data.
        default_params: ``{name: tensor}`` of a CPU build with its default init (the random-init baseline).
    """

    traced: TracedArch
    default_params: dict[str, Tensor]


class ArchPool:
    """Training architectures drawn from an :class:`~hypergen.archs.ArchSampler` and traced once (LRU cache).

    Step ``s`` of rank ``r`` uses global indices ``((s * world_size + r) * m + i) % size(s)`` for ``i < m``: the
    stream is a function of the step, so resuming at a step resumes the sampler position, and ranks never share an
    architecture within a step. ``size(s)`` is ``pool_size``, or, with a curriculum (``pool_start``), a pool that
    grows linearly from the first ``pool_start`` architectures at step 0 to all ``pool_size`` at
    ``pool_growth_steps`` (never fewer than one step's ``world_size * m`` nets), so the GHN first fits a few nets
    and then meets more.

    Args:
        family: architecture family (``hypergen.archs.list_families()``).
        input_shape: one input sample, e.g. ``(1, 28, 28)``.
        num_classes: classifier outputs.
        seed: sampler seed.
        pool_size: number of distinct training architectures (``None``: a new one every time; slow on CPU).
        pool_start: curriculum: how many of them step 0 draws from (``None``: all of them from the start).
        pool_growth_steps: curriculum: the step from which all ``pool_size`` architectures are drawn.
        param_bounds: ``(min, max)`` parameters of training architectures (default: the train split's).
        heldout_split: split of the held-out architectures (``"test"``, ``"wide"``, ``"deep"``...).
        heldout_count: how many held-out architectures to validate on.
        cache_size: traced architectures kept in memory.
        options: the family's sampling options (e.g. ``{"stem_stride": [2]}`` for ``deepnets``), for training and
            held-out nets alike.
        virtual_edge_cutoff: longest shortest-path distance encoded in the graphs; must be the GHN's
            ``max_distance`` (the entry point passes it).
    """

    def __init__(self, family: str = "deepnets", input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
                 seed: int = 0, pool_size: int | None = 512, param_bounds: tuple[int, int] | None = None,
                 heldout_split: str = "test", heldout_count: int = 8, cache_size: int = 1024,
                 options: Mapping[str, Any] | None = None, virtual_edge_cutoff: int = DEFAULT_VIRTUAL_EDGE_CUTOFF,
                 pool_start: int | None = None, pool_growth_steps: int = 0) -> None:
        if pool_size is not None and pool_size < 1:
            raise ValueError(f"pool_size must be >= 1 or None, got {pool_size}")
        if pool_start is not None:
            if pool_size is None:
                raise ValueError("pool_start (a curriculum over the pool) needs a finite pool_size; set pool_size or "
                                 "pool_start=None")
            if not 1 <= pool_start <= pool_size:
                raise ValueError(f"pool_start must be in [1, pool_size={pool_size}], got {pool_start}")
            if pool_growth_steps < 1:
                raise ValueError(f"pool_growth_steps must be >= 1 with pool_start={pool_start}, got "
                                 f"{pool_growth_steps}; or set pool_start=None for no curriculum")
        bounds = tuple(param_bounds) if param_bounds is not None else None
        self.train_sampler = ArchSampler(family, "train", input_shape, num_classes, seed, param_bounds=bounds,
                                         options=options)
        self.heldout_sampler = ArchSampler(family, heldout_split, input_shape, num_classes, seed + 1,
                                           param_bounds=bounds if heldout_split == "test" else None, options=options)
        self.pool_size = pool_size
        self.pool_start = pool_start
        self.pool_growth_steps = pool_growth_steps
        self.heldout_count = heldout_count
        self.cache = ArchCache(maxsize=cache_size, virtual_edge_cutoff=virtual_edge_cutoff)
        self._heldout: list[HeldOutArch] | None = None
        # Drawn now, so bounds no held-out net can meet fail before any training step (SamplingError).
        self.heldout_specs = [self.heldout_sampler.sample(i) for i in range(heldout_count)]

    def _traced(self, spec: dict) -> TracedArch:
        traced = self.cache.get(spec)
        materialize_buffers(traced.model)
        return traced

    def size(self, step: int, world_size: int = 1, meta_batch: int = 1) -> int | None:
        """How many architectures step ``step`` draws from (``None``: an unbounded stream)."""
        if self.pool_size is None or self.pool_start is None or step >= self.pool_growth_steps:
            return self.pool_size
        grown = self.pool_start + (self.pool_size - self.pool_start) * step // self.pool_growth_steps
        return min(self.pool_size, max(grown, world_size * meta_batch))

    def indices(self, step: int, rank: int, world_size: int, meta_batch: int) -> list[int]:
        """Global sampler indices used by ``rank`` at ``step``."""
        first = (step * world_size + rank) * meta_batch
        idx = range(first, first + meta_batch)
        size = self.size(step, world_size, meta_batch)
        return [i % size for i in idx] if size else list(idx)

    def batch(self, step: int, rank: int = 0, world_size: int = 1, meta_batch: int = 8) -> list[TracedArch]:
        """The ``meta_batch`` training architectures of ``rank`` at ``step``."""
        return [self._traced(self.train_sampler.sample(i)) for i in self.indices(step, rank, world_size, meta_batch)]

    def heldout(self) -> list[HeldOutArch]:
        """The fixed held-out architectures with their default-init baselines (built once)."""
        if self._heldout is None:
            self._heldout = []
            for i, spec in enumerate(self.heldout_specs):
                with torch.random.fork_rng():  # a fixed default init per net, without touching the global RNG
                    torch.manual_seed(i)
                    default: nn.Module = build(spec, "cpu")
                params = {n: p.detach() for n, p in default.named_parameters()}
                self._heldout.append(HeldOutArch(self._traced(spec), params))
        return self._heldout
