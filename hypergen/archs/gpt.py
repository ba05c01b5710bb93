"""``gpt``: decoder-only (GPT-2-like) causal language models over token ids.

``input_shape`` is ``[T]`` (the context length) and ``num_classes`` is the **vocabulary size**: the model maps token
ids ``[B, T]`` (int64, ``0 <= id < num_classes``) to next-token logits ``[B, T, num_classes]``. Blocks are pre-norm
causal self-attention (``Linear`` q/k/v and output projections around ``F.scaled_dot_product_attention``) + MLP.

Spec fields::

    depth           int    blocks                                    base 1..6, deep 7..16
    width           int    token dims = heads * head dims            base 8..128, wide 160..512
    heads           int    attention heads (divides width)           base 1..4, wide 5..8
    mlp_ratio       float  MLP hidden / width                        2 or 4
    norm            str    "ln", "rms" or "none" (no_norm split)
    pos_embedding   str    "learned" (an nn.Embedding over positions) or "none" (NoPE)
    tie_embeddings  bool   the output layer shares the token embedding's weight
    dense           bool   each block reads the mean of all earlier block outputs (dense split)
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hypergen.archs.blocks import DenseSequence, feature_norm
from hypergen.archs.draw import draw_choice, draw_int
from hypergen.archs.registry import ArchFamily, register_family
from hypergen.archs.splits import Split
from hypergen.archs.validation import InvalidSpecError, check_bool, check_choice, check_float, check_int
from hypergen.archs.vit import TransformerMLP
from hypergen.tasks import LANGUAGE_MODEL

__all__ = ["CausalSelfAttention", "GPT", "GPTBlock", "GPTFamily"]


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention from a fused q/k/v ``Linear`` and an output ``Linear``.

    Args:
        width: token dims. heads: attention heads (divides ``width``).
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, T, width]`` -> ``[B, T, width]``; position t attends to positions <= t."""
        b, t, c = x.shape
        q, k, v = (z.reshape(b, t, self.heads, c // self.heads).transpose(1, 2) for z in self.qkv(x).split(c, dim=2))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(b, t, c))


class GPTBlock(nn.Module):
    """Pre-norm block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``."""

    def __init__(self, width: int, heads: int, hidden: int, norm: str) -> None:
        super().__init__()
        self.norm1 = feature_norm(norm, width)
        self.attn = CausalSelfAttention(width, heads)
        self.norm2 = feature_norm(norm, width)
        self.mlp = TransformerMLP(width, hidden)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, T, width]`` -> ``[B, T, width]``."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    """A causal language model from a ``gpt`` spec (see the module docstring for the fields)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        vocab, width = spec["num_classes"], spec["width"]
        self.tok_embed = nn.Embedding(vocab, width)
        learned = spec["pos_embedding"] == "learned"
        self.pos_embed = nn.Embedding(spec["input_shape"][0], width) if learned else None
        hidden = max(1, round(width * spec["mlp_ratio"]))
        self.blocks = DenseSequence([GPTBlock(width, spec["heads"], hidden, spec["norm"])
                                     for _ in range(spec["depth"])], spec["dense"])
        self.norm = feature_norm(spec["norm"], width)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        if spec["tie_embeddings"]:
            self.lm_head.weight = self.tok_embed.weight
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """GPT-2's init of one submodule: linear and embedding weights N(0, 0.02), biases 0 (norms keep their ones
        and zeros). Applied to every submodule at construction; :mod:`hypergen.graph.reference` calls it too (the
        Hugging Face protocol), so a GHN predicts around these statistics.

        PyTorch's own defaults would give the token embedding N(0, 1), so a tied head would emit logits of std
        ``sqrt(width)`` and an untrained net's loss would be many times ``ln(vocab)``; with GPT-2's init it starts
        near ``ln(vocab)``.
        """
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(self, idx: Tensor) -> Tensor:
        """Token ids ``[B, T']`` (``T' <= T``) -> logits ``[B, T', vocab]``."""
        x = self.tok_embed(idx)
        if self.pos_embed is not None:
            x = x + self.pos_embed(torch.arange(idx.shape[1], device=idx.device))
        return self.lm_head(self.norm(self.blocks(x)))


_DEPTH = {False: (1, 6), True: (7, 16)}  # by split.deep
_HEADS = {False: (1, 4), True: (5, 8)}  # by split.wide
_HEAD_DIMS = {False: (8, 16, 32), True: (32, 48, 64)}


@register_family
class GPTFamily(ArchFamily):
    """Causal language models over token ids ``[T]``; ``num_classes`` is the vocabulary size."""

    name = "gpt"
    keys = ("depth", "width", "heads", "mlp_ratio", "norm", "pos_embedding", "tie_embeddings", "dense")
    input_ranks = (1,)
    input_description = "[sequence length]"
    task = LANGUAGE_MODEL

    def sample(self, rng: random.Random, split: Split, input_shape: tuple[int, ...], num_classes: int) -> dict:
        """Draw depth, heads x head dims, MLP ratio, norm, position embedding and tying for ``split``."""
        heads = draw_int(rng, _HEADS[split.wide])
        return {
            "depth": draw_int(rng, _DEPTH[split.deep]),
            "width": heads * draw_choice(rng, _HEAD_DIMS[split.wide]),
            "heads": heads,
            "mlp_ratio": draw_choice(rng, (2.0, 4.0)),
            "norm": draw_choice(rng, ("ln", "rms")) if split.norm else "none",
            "pos_embedding": draw_choice(rng, ("learned", "learned", "none")),
            "tie_embeddings": rng.random() < 0.5,
            "dense": split.dense,
        }

    def validate(self, spec: Mapping[str, Any]) -> None:
        """Check every field; ``heads`` must divide ``width``; ``num_classes`` (the vocabulary) must be >= 2."""
        w = self.where
        check_int(spec["num_classes"], f"{w('num_classes')} (the vocabulary size)", 2, 1_000_000)
        check_int(spec["depth"], w("depth"), 1, 128)
        width = check_int(spec["width"], w("width"), 1, 16384)
        heads = check_int(spec["heads"], w("heads"), 1, 256)
        if width % heads:
            raise InvalidSpecError(f"{w('width')} must be a multiple of 'heads' ({heads}), got {width}")
        check_float(spec["mlp_ratio"], w("mlp_ratio"), 0.25, 16.0)
        check_choice(spec["norm"], w("norm"), ("ln", "rms", "none"))
        check_choice(spec["pos_embedding"], w("pos_embedding"), ("learned", "none"))
        check_bool(spec["tie_embeddings"], w("tie_embeddings"))
        check_bool(spec["dense"], w("dense"))

    def build(self, spec: Mapping[str, Any]) -> nn.Module:
        """The :class:`GPT` of ``spec``."""
        return GPT(spec)

    def example_input(self, spec: Mapping[str, Any], batch_size: int, device: torch.device) -> Tensor:
        """Random token ids ``[batch_size, T]`` (int64; zeros on ``meta``)."""
        shape = (batch_size, spec["input_shape"][0])
        if device.type == "meta":
            return torch.zeros(shape, dtype=torch.long, device=device)
        return torch.randint(0, spec["num_classes"], shape, device=device)

    def output_shape(self, spec: Mapping[str, Any], batch_size: int) -> tuple[int, ...]:
        """``[batch_size, T, vocab]``."""
        return (batch_size, spec["input_shape"][0], spec["num_classes"])

    def summary(self, spec: Mapping[str, Any]) -> dict[str, float]:
        """``depth`` (blocks), ``width`` (token dims), ``heads``."""
        return {"depth": spec["depth"], "width": spec["width"], "heads": spec["heads"]}

    def reference_nets(self, input_shape: tuple[int, ...], num_classes: int) -> dict[str, dict]:
        """minGPT's ``gpt_nano`` (3 x 48, 3 heads) and ``gpt_micro`` (4 x 128, 4 heads)."""
        common = {"mlp_ratio": 4.0, "norm": "ln", "pos_embedding": "learned", "tie_embeddings": True, "dense": False}
        return {"gpt_nano": {**common, "depth": 3, "width": 48, "heads": 3},
                "gpt_micro": {**common, "depth": 4, "width": 128, "heads": 4}}
