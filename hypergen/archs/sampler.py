"""``ArchSampler``: a deterministic, resumable stream of specs of one family, split and task.

Spec ``i`` depends only on ``(family, split, seed, i)`` (plus the task), so training can resume at any position and
data-parallel ranks can draw disjoint indices (rank ``r`` of ``w`` draws ``r, r + w, r + 2w, ...``).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hypergen.archs.registry import ArchFamily, get_family
from hypergen.archs.spec import count_params, spec_key, validate_spec, validate_task
from hypergen.archs.splits import Split, get_split, in_test_part

__all__ = ["ArchSampler", "SamplingError", "DEFAULT_MAX_ATTEMPTS"]

#: Draws tried per index before giving up (the ``test`` split keeps about 1 draw in 10 by hash).
DEFAULT_MAX_ATTEMPTS = 500


class SamplingError(RuntimeError):
    """No spec satisfying the split's constraints was found for an index; the message says which constraint."""


class ArchSampler:
    """Seeded specs of one architecture family for one split and task.

    Args:
        family: a registered family name (``hypergen.archs.list_families()``).
        split: a split name (``"train"``, ``"test"``, ``"wide"``, ``"deep"``, ``"dense"``, ``"no_norm"``) or
            :class:`~hypergen.archs.splits.Split`.
        input_shape: one input sample without the batch axis, e.g. ``(1, 28, 28)``, ``(1, 40)``, ``(64,)``.
        num_classes: outputs of the classifier (the vocabulary size for ``gpt``).
        seed: stream seed.
        param_bounds: inclusive ``(min, max)`` parameter counts; default: the split's.
        rank, world_size: this process draws global indices ``rank, rank + world_size, ...`` when iterated.
        max_attempts: draws per index before :class:`SamplingError`.
        memo_size: specs of this many indices are remembered (as canonical JSON), so revisiting an index (a fixed
            pool of training nets, every epoch) skips the rejection sampling and its parameter counting.
        options: the family's sampling options (:attr:`ArchFamily.options`), e.g. ``{"ops": ["conv_3x3",
            "skip_connect"]}`` for ``deepnets``; give held-out samplers the same options as training ones.

    Raises:
        KeyError: unknown family or split (the message lists the known ones).
        InvalidSpecError: the family cannot take ``input_shape`` / ``num_classes``.
        ValueError: bad ``param_bounds``, ``rank``, ``world_size`` or ``options`` (names the option).

    Example::

        sampler = ArchSampler("deepnets", "train", (3, 32, 32), 10, seed=0)
        spec = next(sampler)              # == sampler.sample(0)
        state = sampler.state_dict()      # {"position": 1}; load_state_dict(state) resumes here
    """

    def __init__(self, family: str, split: str | Split = "train", input_shape: Sequence[int] = (3, 32, 32),
                 num_classes: int = 10, seed: int = 0, *, param_bounds: tuple[int, int] | None = None,
                 rank: int = 0, world_size: int = 1, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 memo_size: int = 10_000, options: Mapping[str, Any] | None = None) -> None:
        self.family: ArchFamily = get_family(family)
        self.split: Split = get_split(split)
        self.input_shape = [int(d) for d in input_shape]
        self.num_classes = int(num_classes)
        validate_task(self.family, self.input_shape, self.num_classes)
        self.options = dict(options or {})
        self.family.check_options(self.options, tuple(self.input_shape))
        self.family.check_split_options(self.split, self.options)
        self.seed = int(seed)
        self.param_bounds = tuple(param_bounds) if param_bounds is not None else self.split.param_bounds
        if len(self.param_bounds) != 2 or not 0 <= self.param_bounds[0] <= self.param_bounds[1]:
            raise ValueError(f"param_bounds must be (min, max) with 0 <= min <= max, got {param_bounds}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got rank={rank}, world_size={world_size}")
        self.rank, self.world_size = rank, world_size
        self.max_attempts = max_attempts
        self.position = 0
        self._memo: OrderedDict[int, str] = OrderedDict()
        self._memo_size = memo_size

    def __repr__(self) -> str:
        options = f", options={self.options}" if self.options else ""
        return (f"ArchSampler({self.family.name!r}, {self.split.name!r}, input_shape={self.input_shape}, "
                f"num_classes={self.num_classes}, seed={self.seed}{options}, position={self.position})")

    def _rng(self, index: int, attempt: int) -> random.Random:
        text = f"{self.family.name}/{self.split.name}/{self.seed}/{index}/{attempt}"
        return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "little"))

    def _draw(self, index: int, attempt: int) -> dict[str, Any]:
        fields = self.family.sample(self._rng(index, attempt), self.split, tuple(self.input_shape), self.num_classes,
                                    **self.options)
        return {"family": self.family.name, "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                **fields}

    def sample(self, index: int) -> dict[str, Any]:
        """The spec at global position ``index`` (the same for every call, process and rank).

        Draws are rejected while they fall in the other in-distribution part (``train``/``test``, by hash) or
        outside ``param_bounds``.

        Raises:
            ValueError: for a negative index.
            SamplingError: if ``max_attempts`` draws are all rejected (message gives the bounds to widen).
        """
        if index < 0:
            raise ValueError(f"index must be >= 0, got {index}")
        key = self._memo.get(index)
        if key is None:
            key = spec_key(self._search(index))
            self._memo[index] = key
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        else:
            self._memo.move_to_end(index)
        return json.loads(key)  # a fresh dict: callers may modify it

    def _search(self, index: int) -> dict[str, Any]:
        """Draw until a spec passes the hash-part and parameter-bound filters."""
        lo, hi = self.param_bounds
        counts: list[int] = []
        for attempt in range(self.max_attempts):
            spec = self._draw(index, attempt)
            if self.split.part is not None and in_test_part(spec_key(spec)) != (self.split.part == "test"):
                continue
            validate_spec(spec)
            n = count_params(spec)
            if lo <= n <= hi:
                return spec
            counts.append(n)
        seen = f"; parameter counts of rejected draws ranged {min(counts)}..{max(counts)}" if counts else ""
        raise SamplingError(
            f"no {self.family.name!r} spec for split {self.split.name!r}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes} within param_bounds={self.param_bounds} after {self.max_attempts} "
            f"draws (index {index}){seen}. Widen param_bounds (ArchSampler(..., param_bounds=(min, max)))."
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        """The next spec of this rank's share of the stream; advances :attr:`position`."""
        spec = self.sample(self.position * self.world_size + self.rank)
        self.position += 1
        return spec

    def take(self, n: int) -> list[dict[str, Any]]:
        """The next ``n`` specs (advances :attr:`position`)."""
        return [next(self) for _ in range(n)]

    def state_dict(self) -> dict[str, int]:
        """What resuming needs: ``{"position": ...}`` (everything else is given to the constructor)."""
        return {"position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume at ``state["position"]``."""
        self.position = int(state["position"])
