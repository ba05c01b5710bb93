"""Fixed (non-learned) encodings of sizes, channel indices and kernel positions.

Every encoding is a function of the value itself, with no vocabulary: a width of 50257 or 5120 is encoded as well as
one seen in training.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable

import torch
from torch import Tensor

from hypergen.registry import lookup

__all__ = [
    "CYCLIC_TILT", "INDEX_ENCODINGS", "KERNEL_DIMS", "KERNEL_FEATURES", "SEED_OFFSET", "WIDTH_INDEPENDENT_ENCODINGS",
    "absolute_index_encoding", "cyclic_index_encoding", "identity_index_encoding", "index_encoder", "index_encoding",
    "kernel_position_encoding", "log_size_encoding", "seeded_uniform",
]

#: Kernels have at most this many spatial dims (conv3d).
KERNEL_DIMS = 3
_KERNEL_FREQS = 3
#: Width of :func:`kernel_position_encoding` rows.
KERNEL_FEATURES = KERNEL_DIMS * (2 + 2 * _KERNEL_FREQS)


def log_size_encoding(sizes: Tensor, num_freqs: int) -> Tensor:
    """Sinusoidal encoding of ``log2(1 + size)``: continuous, so unseen sizes get their own code.

    Args:
        sizes: ``[..., D]`` non-negative sizes (any dtype).
        num_freqs: frequencies per size; periods range from 2 to ``2 ** num_freqs`` octaves.

    Returns:
        ``[..., D * 2 * num_freqs]`` float32.
    """
    x = torch.log2(1 + sizes.float()).unsqueeze(-1)
    freqs = math.pi * 2.0 ** -torch.arange(num_freqs, dtype=torch.float32, device=sizes.device)
    angles = x * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)


def _index_frequencies(n: int, num_features: int, seed: int) -> Tensor:
    """Distinct integer frequencies in ``[0, n / 2]`` for :func:`index_encoding`, ``-1`` marking unused slots.

    The lowest ``num_features / 4`` come first (smooth structure), then pseudo-random distinct ones up to ``n / 2``
    (so neighbouring rows differ). Higher frequencies would alias onto these at ``n`` points (``f`` and ``n - f``
    give the same columns up to sign): duplicated columns make the decoder's cores badly conditioned (one direction
    gets the steps of all its copies), so narrow widths get fewer frequencies and zero columns instead.
    """
    half = num_features // 2
    top = n // 2  # frequencies 0..top are distinct at n half-integer positions
    low = min(half // 2, top + 1)
    generator = torch.Generator().manual_seed(seed)
    pool = top + 1 - low
    picked = torch.randperm(pool, generator=generator)[: half - low] + low if pool > 0 else torch.zeros(0, dtype=torch.long)
    freqs = torch.full((half,), -1, dtype=torch.long)
    freqs[:low] = torch.arange(low)
    freqs[low:low + picked.numel()] = picked
    return freqs


def index_encoding(n: int, num_features: int, *, seed: int = 0, device: torch.device | str = "cpu") -> Tensor:
    """Encoding of the positions ``0..n-1`` along one tensor dimension (output channels, input channels, tokens).

    Columns are ``sqrt(2) * cos/sin(2 pi f (i + 1/2) / n)`` for distinct integer frequencies ``0 <= f <= n / 2``: the
    low ones (smooth structure) and fixed pseudo-random ones (so neighbouring rows differ); widths with fewer than
    ``num_features / 2`` distinct frequencies get zero columns for the rest. Non-zero columns are orthogonal, so a
    product of two layers' factors composes cleanly through a shared channel and no direction is duplicated.
    Position ``i`` of width ``n`` always gets the same code: consecutive layers agree on what channel ``i`` is.

    Args:
        n: length of the dimension (no maximum).
        num_features: ``E``, even.
        seed: fixes the pseudo-random frequencies.
        device: where to build the result.

    Returns:
        ``[n, num_features]`` float32 with entries in ``[-sqrt(2), sqrt(2)]``.
    """
    freqs = _index_frequencies(n, num_features, seed).to(device)
    used = (freqs >= 0).double()
    t = (torch.arange(n, dtype=torch.float64, device=device) + 0.5) / n
    angles = 2 * math.pi * t[:, None] * freqs.clamp(min=0).double()[None, :]
    code = torch.cat([angles.cos() * used, angles.sin() * used], dim=1)
    return (math.sqrt(2.0) * code).float()


_MAX_ABSOLUTE_FREQ = 0.95 * math.pi


def absolute_index_encoding(n: int, num_features: int, *, seed: int = 0,
                            device: torch.device | str = "cpu") -> Tensor:
    """Width-independent encoding of the positions ``0..n-1``: row ``i`` is the same whatever ``n``.

    Channel ``i`` of a 16-wide layer and of a 64-wide one (of this net or another) get the same code, so what the
    decoder learns about channel ``i`` carries over between widths, as with GHN-2's tiling, but without a period:
    every position has its own code at any width. Columns are ``sqrt(2) * cos(w_k (i + 1/2) + phi_k)``, the angular
    frequencies ``w_k`` one in each of ``num_features`` equal bins of ``(0, 0.95 pi)`` (pseudo-random within its
    bin; below ``pi`` no two alias at integer positions, and frequencies next to ``pi`` would alternate sign with an
    amplitude set by the phase) and random phases ``phi_k``: columns have unit mean square (but the lowest one,
    nearly constant: the mean direction) and become orthogonal as ``n`` grows.

    Args:
        n: length of the dimension (no maximum).
        num_features: ``E``.
        seed: fixes frequencies and phases.
        device: where to build the result.

    Returns:
        ``[n, num_features]`` float32 with entries in ``[-sqrt(2), sqrt(2)]``.
    """
    generator = torch.Generator().manual_seed(seed)
    jitter = torch.rand(num_features, generator=generator, dtype=torch.float64)
    freqs = _MAX_ABSOLUTE_FREQ * (torch.arange(num_features, dtype=torch.float64) + jitter) / num_features
    phases = 2 * math.pi * torch.rand(num_features, generator=generator, dtype=torch.float64)
    positions = torch.arange(n, dtype=torch.float64)[:, None] + 0.5
    return (math.sqrt(2.0) * torch.cos(positions * freqs + phases)).float().to(device)


def identity_index_encoding(n: int, num_features: int, *, seed: int = 0,
                            device: torch.device | str = "cpu") -> Tensor:
    """Width-independent encoding whose first ``num_features`` positions are the standard basis.

    Row ``i < E`` is ``sqrt(E) e_i``: a product ``P C P^T / E`` of two such codes *is* the core ``C`` cropped to the
    layer, so every unit of a layer up to ``E`` wide gets its own row of the core, and unit ``i`` means the same in
    every layer and width (as with GHN-2's tiling, but never repeated). Rows ``i >= E`` are the
    :func:`absolute_index_encoding` rows rescaled to the same norm: pseudo-random mixtures of the first ``E`` (so
    wider layers stay rank ``E``, with no two units equal).

    Args:
        n: length of the dimension (no maximum).
        num_features: ``E``.
        seed: fixes the rows beyond ``E``.
        device: where to build the result.

    Returns:
        ``[n, num_features]`` float32; every row has norm ``sqrt(E)``.
    """
    head = math.sqrt(num_features) * torch.eye(min(n, num_features), num_features)
    if n <= num_features:
        return head.to(device)
    tail = absolute_index_encoding(n, num_features, seed=seed)[num_features:]
    tail = tail * (math.sqrt(num_features) / tail.norm(dim=1, keepdim=True).clamp(min=1e-6))
    return torch.cat([head, tail]).to(device)


#: Default weight of the pseudo-random direction in a :func:`cyclic_index_encoding` row beyond ``E``: the row's
#: cosine to its cycle partner is ``1 / sqrt(1 + tilt**2)``, 0.71. Untrained GHNs' ResNet-50 logits (eval mode,
#: BatchNorm statistics kept) have 2.6x the std of default init's with tilt 1.0, 58x with 0.25 (cosine 0.97), the
#: tilt of GHNs saved before :attr:`~hypergen.ghn.config.GHNConfig.index_tilt` existed (docs/results.md).
CYCLIC_TILT = 1.0


def cyclic_index_encoding(n: int, num_features: int, *, seed: int = 0, device: torch.device | str = "cpu",
                          tilt: float = CYCLIC_TILT) -> Tensor:
    """Width-independent encoding that repeats the standard basis with a pseudo-random tilt per row.

    Rows ``i < E`` are :func:`identity_index_encoding`'s (``sqrt(E) e_i``); row ``i >= E`` is ``e_{i mod E}`` plus
    ``tilt`` times a unit :func:`absolute_index_encoding` row, rescaled to norm ``sqrt(E)``. So unit ``i + E`` of a
    wide layer leans towards unit ``i`` — what the GHN learned for unit ``i`` at training widths
    carries over to wider layers, as GHN-2's tiling does — but never an exact one: no two rows are equal, so no two
    units are, and fine-tuning can tell them apart. (``identity``'s rows beyond ``E`` are unrelated mixtures of all
    ``E`` units.) The price: a layer reading a concatenation wider than ``E`` sees its channels ``j`` and ``j + E``
    — different parts of the concatenation — alike. The larger ``tilt``, the less alike (``tilt -> inf`` gives
    :func:`identity_index_encoding`); with a small one, near copies in consecutive layers line up through depth.
    GHNs trained on Fashion-MNIST cell nets (3 seeds, tilt 1.0): held-out nets wider than the training ones 25.5%
    instead of 12.8% with identity codes, nets like the training ones 36.2% instead of 37.0% (docs/results.md).

    Args:
        n: length of the dimension (no maximum).
        num_features: ``E``.
        seed: fixes the tilts' directions.
        device: where to build the result.
        tilt: weight of the pseudo-random direction in rows beyond ``E`` (:data:`CYCLIC_TILT` by default).

    Returns:
        ``[n, num_features]`` float32; every row has norm ``sqrt(E)``.
    """
    _check_tilt(tilt)
    codes = identity_index_encoding(n, num_features, seed=seed)
    if n <= num_features:
        return codes.to(device)
    direction = codes[num_features:] / math.sqrt(num_features)  # identity's rows beyond E, of unit norm
    tail = torch.eye(num_features)[torch.arange(num_features, n) % num_features] + tilt * direction
    tail = tail * (math.sqrt(num_features) / tail.norm(dim=1, keepdim=True))
    return torch.cat([codes[:num_features], tail]).to(device)


def _check_tilt(tilt: float) -> None:
    """Raises ValueError unless ``tilt`` is a finite positive number (0 would make units ``i`` and ``i + E`` exact
    copies)."""
    if not (isinstance(tilt, (int, float)) and math.isfinite(tilt) and tilt > 0):
        raise ValueError(f"index_tilt must be a finite number > 0 (0 makes units i and i + E exact copies), got "
                         f"{tilt!r}; the default is {CYCLIC_TILT}")


def index_encoder(encoding: str, tilt: float = CYCLIC_TILT) -> Callable[..., Tensor]:
    """The index encoding named ``encoding``, with ``tilt`` bound where the encoding takes one (``"cyclic"``).

    Args:
        encoding: name in :data:`INDEX_ENCODINGS`.
        tilt: see :func:`cyclic_index_encoding`.

    Returns:
        ``encode(n, num_features, *, seed, device)``.

    Raises:
        KeyError: unknown ``encoding`` (lists the known ones). ValueError: a ``tilt`` that is not > 0, for an
            encoding that takes one.
    """
    encode = lookup(INDEX_ENCODINGS, encoding, "index encoding")
    if "tilt" not in inspect.signature(encode).parameters:
        return encode
    _check_tilt(tilt)
    return functools.partial(encode, tilt=tilt)


class IndexCodeCache:
    """Index encodings of an encoding scheme by width and device, computed once (the same widths recur in every
    layer and every step) and kept up to ``size`` of them.

    Args:
        encoding: name in :data:`INDEX_ENCODINGS`.
        features: ``E``, columns per code.
        seed: the encoding's seed.
        size: widths kept.
        tilt: passed to encodings that take one (``"cyclic"``), ignored by the others.

    Raises:
        KeyError: unknown ``encoding`` (lists the known ones).
    """

    def __init__(self, encoding: str, features: int, seed: int = 0, size: int = 512,
                 tilt: float = CYCLIC_TILT) -> None:
        self.encode = index_encoder(encoding, tilt)
        self.features, self.seed, self.size = features, seed, size
        self._codes: dict[tuple[int, str], Tensor] = {}

    def __call__(self, n: int, device: torch.device) -> Tensor:
        """``[n, E]`` codes of the positions ``0..n-1``."""
        key = (n, str(device))
        if key not in self._codes:
            if len(self._codes) >= self.size:
                self._codes.pop(next(iter(self._codes)))
            self._codes[key] = self.encode(n, self.features, seed=self.seed, device=device)
        return self._codes[key]


#: Index encodings by name: ``"relative"`` (:func:`index_encoding`: positions relative to the width, orthogonal
#: columns at every width), ``"absolute"`` (:func:`absolute_index_encoding`: width-independent) and ``"identity"``
#: (:func:`identity_index_encoding`: the standard basis up to ``E``, then mixtures of it) and ``"cyclic"``
#: (:func:`cyclic_index_encoding`: the standard basis, repeated with a tilt beyond ``E``).
INDEX_ENCODINGS = {"absolute": absolute_index_encoding, "cyclic": cyclic_index_encoding,
                   "identity": identity_index_encoding, "relative": index_encoding}
#: Encodings whose row ``i`` is the same at every width (a table of learned rows can start from them).
WIDTH_INDEPENDENT_ENCODINGS = ("absolute", "cyclic", "identity")


def kernel_position_encoding(kernel: tuple[int, ...], device: torch.device | str = "cpu") -> Tensor:
    """Encoding of every position of a convolution kernel of any size and up to three dims.

    Each dim contributes its centred coordinate ``t`` in ``(-1/2, 1/2)``, ``log2`` of the kernel size and
    ``sin/cos(pi k t)`` for a few ``k``; missing dims (``1x1`` kernels, linear layers) encode as size 1.

    Args:
        kernel: the kernel's spatial sizes, e.g. ``()`` (linear), ``(3,)``, ``(7, 7)``, ``(3, 3, 3)``.
        device: where to build the result.

    Returns:
        ``[prod(kernel), KERNEL_FEATURES]`` float32 in row-major kernel order (matching ``weight.flatten(2)``).

    Raises:
        ValueError: for kernels with more than :data:`KERNEL_DIMS` dims.
    """
    if len(kernel) > KERNEL_DIMS:
        raise ValueError(f"kernel {kernel} has {len(kernel)} spatial dims; at most {KERNEL_DIMS} are supported")
    sizes = (*kernel, *(1,) * (KERNEL_DIMS - len(kernel)))
    axes = [(torch.arange(k, dtype=torch.float32, device=device) + 0.5) / k - 0.5 for k in sizes]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, KERNEL_DIMS)  # [K, 3]
    freqs = math.pi * torch.arange(1, _KERNEL_FREQS + 1, dtype=torch.float32, device=device)
    angles = grid[..., None] * freqs  # [K, 3, F]
    log_k = torch.log2(torch.tensor(sizes, dtype=torch.float32, device=device)).expand_as(grid)
    parts = [grid[..., None], log_k[..., None], angles.sin(), angles.cos()]
    return torch.cat(parts, dim=-1).reshape(grid.shape[0], KERNEL_FEATURES)


#: Added to a tensor's id to seed its base (any fixed number; changing it changes every prediction with a base).
SEED_OFFSET = 0x5EED


def seeded_uniform(ids: Tensor, numel: int, *, out: Tensor | None = None) -> Tensor:
    """Pseudo-random values, uniform with mean 0 and variance 1, fixed by each id: the low-rank decoder's base.

    Row ``g`` is drawn from a generator seeded with ``ids[g] + SEED_OFFSET`` on ``ids``'s device, so a tensor gets
    the same values whenever it is predicted, alone or in a batch (CPU and CUDA generators draw different values:
    a GHN's predictions are reproducible per device type). One generator draw per id: as fast as ``torch.rand``.

    Args:
        ids: ``[G]`` integer ids.
        numel: values per id.
        out: optional contiguous float ``[G, numel]`` (or same-numel) tensor to write into.

    Returns:
        ``[G, numel]`` (``out``'s shape when given) in ``[-sqrt(3), sqrt(3)]``.
    """
    device = ids.device
    values = out if out is not None else torch.empty(ids.numel(), numel, device=device)
    rows = values.view(ids.numel(), numel)
    bound = math.sqrt(3.0)
    for row, seed in zip(rows, ids.tolist()):
        generator = torch.Generator(device=device).manual_seed(int(seed) + SEED_OFFSET)
        row.uniform_(-bound, bound, generator=generator)
    return values
