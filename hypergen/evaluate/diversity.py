"""How different are a net's layers? The mean cosine similarity between its weight tensors of equal shape.

A GHN that gives every layer of a shape the same tensor (whatever its depth or place in the graph) has collapsed to
one weight per shape: the predicted net may still score above chance, but it is a poor start for fine-tuning.
PyTorch's default init scores about 0 here; a collapsed GHN scores close to 1.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

__all__ = ["same_shape_similarity"]


def same_shape_similarity(params: nn.Module | Iterable[tuple[str, Tensor]], min_dims: int = 2) -> float | None:
    """Mean cosine similarity over all pairs of distinct weight tensors that have the same shape.

    Args:
        params: a model, or ``(name, tensor)`` pairs (``model.named_parameters()``, a GHN's prediction ``.items()``).
        min_dims: only tensors of at least this rank count (default: weights, not biases or norm parameters).

    Returns:
        The mean over pairs (each pair counts once, whatever its shape group), or ``None`` when no two tensors
        share a shape. Shared (tied) tensors count once.
    """
    named = params.named_parameters() if isinstance(params, nn.Module) else params
    groups: dict[tuple[int, ...], list[Tensor]] = {}
    seen: set[int] = set()
    for _, tensor in named:
        if tensor.dim() < min_dims or id(tensor) in seen:
            continue
        seen.add(id(tensor))
        groups.setdefault(tuple(tensor.shape), []).append(tensor.detach().flatten().float())
    total, pairs = 0.0, 0
    for tensors in groups.values():
        if len(tensors) < 2:
            continue
        flat = torch.nn.functional.normalize(torch.stack(tensors), dim=1)
        n = len(tensors)
        sims = flat @ flat.T
        total += float(sims.sum() - sims.diagonal().sum()) / 2
        pairs += n * (n - 1) // 2
    return total / pairs if pairs else None
