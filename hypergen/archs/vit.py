"""``vit``: Vision Transformers over images (patch size, depth, width, heads, MLP ratio).

A conv patch embedding (``patch_size`` x ``patch_size``, stride ``patch_size``; a border smaller than a patch is
dropped, so any patch size up to the image size works), an optional class token, learned position embeddings,
pre-norm blocks of self-attention + MLP, a final norm and a linear classifier on the class token or on the mean token.
The attention is ``nn.MultiheadAttention`` (``"fused"``: one ``[3 * width, width]`` input projection, one graph node)
or separate query, key, value and output ``nn.Linear`` layers around ``F.scaled_dot_product_attention``
(``"split"``: the graph of Hugging Face's ``ViTForImageClassification`` and most HF encoders).

Spec fields::

    patch_size  int    patch side (chosen so that there are 16..256 tokens when the image allows)
    depth       int    blocks                                    base 2..8, deep 9..16
    width       int    token dims = heads * head dims            base 8..128, wide 160..512
    heads       int    attention heads (divides width)           base 1..4, wide 5..8
    mlp_ratio   float  MLP hidden / width                        1, 2, 3 or 4
    pool        str    "cls" (class token) or "mean"
    norm        str    "ln" or "none" (no_norm split)
    dense       bool   each block reads the mean of all earlier block outputs (dense split, as in DenseFormer)
    attention   str    "fused" or "split" (drawn from the family's ``attention`` option); optional, left out of
                       specs when "fused" (specs from before it existed stay valid and keep their hash)
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hypergen.archs.blocks import DenseSequence, feature_norm
from hypergen.archs.draw import draw_choice, draw_int
from hypergen.archs.registry import ArchFamily, register_family
from hypergen.archs.splits import Split
from hypergen.archs.validation import InvalidSpecError, check_bool, check_choice, check_float, check_int

__all__ = ["ATTENTION_KINDS", "SplitSelfAttention", "TransformerMLP", "ViT", "ViTBlock", "ViTFamily", "patch_sizes"]

#: Self-attention implementations a ``vit`` spec can ask for (its ``attention`` field).
ATTENTION_KINDS: tuple[str, ...] = ("fused", "split")
#: The attention kind of a spec without an ``attention`` field.
DEFAULT_ATTENTION = "fused"


class TransformerMLP(nn.Sequential):
    """Linear -> GELU -> linear over the last axis (``[..., width]`` -> same shape)."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))


class SplitSelfAttention(nn.Module):
    """Multi-head self-attention with separate ``query``, ``key``, ``value`` and ``out`` projections (each an
    ``nn.Linear(width, width)``) around ``F.scaled_dot_product_attention``, laid out as Hugging Face's ViT and BERT
    attention is: the same function as ``nn.MultiheadAttention`` with its input projection cut in three.

    Args:
        width: token dims. heads: attention heads (divides ``width``).
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, N, width]`` -> ``[B, N, width]``."""
        b, n, width = x.shape

        def per_head(t: Tensor) -> Tensor:  # [B, N, width] -> [B, heads, N, width / heads]
            return t.view(b, n, self.heads, width // self.heads).transpose(1, 2)

        h = F.scaled_dot_product_attention(per_head(self.query(x)), per_head(self.key(x)), per_head(self.value(x)))
        return self.out(h.transpose(1, 2).reshape(b, n, width))


class ViTBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``.

    Args:
        width: token dims. heads: attention heads. hidden: MLP hidden dims. norm: a feature-norm kind.
        attention: ``"fused"`` (``nn.MultiheadAttention``) or ``"split"`` (:class:`SplitSelfAttention`).
    """

    def __init__(self, width: int, heads: int, hidden: int, norm: str, attention: str = DEFAULT_ATTENTION) -> None:
        super().__init__()
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"ViTBlock attention must be one of {list(ATTENTION_KINDS)}, got {attention!r}")
        self.norm1 = feature_norm(norm, width)
        self.fused = attention == "fused"
        self.attn = (nn.MultiheadAttention(width, heads, batch_first=True) if self.fused
                     else SplitSelfAttention(width, heads))
        self.norm2 = feature_norm(norm, width)
        self.mlp = TransformerMLP(width, hidden)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, N, width]`` -> ``[B, N, width]``."""
        h = self.norm1(x)
        x = x + (self.attn(h, h, h, need_weights=False)[0] if self.fused else self.attn(h))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """A Vision Transformer from a ``vit`` spec (see the module docstring for the fields)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        channels, height, width_px = spec["input_shape"]
        p, width = spec["patch_size"], spec["width"]
        self.patch_embed = nn.Conv2d(channels, width, p, stride=p)
        self.use_cls = spec["pool"] == "cls"
        tokens = (height // p) * (width_px // p) + int(self.use_cls)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width)) if self.use_cls else None
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, width) * 0.02)
        hidden = max(1, round(width * spec["mlp_ratio"]))
        attention = spec.get("attention", DEFAULT_ATTENTION)
        self.blocks = DenseSequence([ViTBlock(width, spec["heads"], hidden, spec["norm"], attention)
                                     for _ in range(spec["depth"])], spec["dense"])
        self.norm = feature_norm(spec["norm"], width)
        self.head = nn.Linear(width, spec["num_classes"])

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, num_classes]``."""
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.norm(self.blocks(x + self.pos_embed))
        return self.head(x[:, 0] if self.use_cls else x.mean(dim=1))


def patch_sizes(height: int, width: int, min_tokens: int = 16, max_tokens: int = 256) -> list[int]:
    """Patch sizes giving ``min_tokens..max_tokens`` patches (or the one closest to that range if none does)."""
    sizes = range(1, min(height, width) + 1)
    tokens = {p: (height // p) * (width // p) for p in sizes}
    inside = [p for p in sizes if min_tokens <= tokens[p] <= max_tokens]
    return inside or [min(sizes, key=lambda p: min(abs(tokens[p] - min_tokens), abs(tokens[p] - max_tokens)))]


_DEPTH = {False: (2, 8), True: (9, 16)}  # by split.deep
_HEADS = {False: (1, 4), True: (5, 8)}  # by split.wide
_HEAD_DIMS = {False: (8, 16, 32), True: (32, 48, 64)}


@register_family
class ViTFamily(ArchFamily):
    """Vision Transformers over images ``[C, H, W]`` (see the module docstring)."""

    name = "vit"
    keys = ("patch_size", "depth", "width", "heads", "mlp_ratio", "pool", "norm", "dense")
    optional_keys = {"attention": DEFAULT_ATTENTION}
    input_ranks = (3,)
    input_description = "[channels, height, width]"
    options = {
        "attention": f"self-attention kinds to draw from, a subset of {list(ATTENTION_KINDS)} (default: "
                     "['fused']); add 'split' for GHNs that should predict Hugging Face ViTs",
    }

    def check_options(self, options: Mapping[str, Any], input_shape: tuple[int, ...]) -> None:
        """Check ``attention`` (a non-empty list of distinct kinds of :data:`ATTENTION_KINDS`)."""
        super().check_options(options, input_shape)
        kinds = options.get("attention")
        if kinds is not None and (isinstance(kinds, str) or not kinds or len(set(kinds)) != len(kinds)
                                  or not set(kinds) <= set(ATTENTION_KINDS)):
            raise ValueError(f"vit option 'attention' must list distinct kinds of {list(ATTENTION_KINDS)}, got "
                             f"{kinds!r}")

    def sample(self, rng: random.Random, split: Split, input_shape: tuple[int, ...], num_classes: int, *,
               attention: Sequence[str] = (DEFAULT_ATTENTION,)) -> dict:
        """Draw patch size, depth, heads x head dims, MLP ratio and pooling for ``split``, then the attention kind
        (one draw more only when ``attention`` offers more than one, and the field only when it is not ``"fused"``:
        the default draws the specs it always did)."""
        heads = draw_int(rng, _HEADS[split.wide])
        spec = {
            "patch_size": draw_choice(rng, patch_sizes(*input_shape[1:])),
            "depth": draw_int(rng, _DEPTH[split.deep]),
            "width": heads * draw_choice(rng, _HEAD_DIMS[split.wide]),
            "heads": heads,
            "mlp_ratio": float(draw_int(rng, (1, 4))),
            "pool": draw_choice(rng, ("cls", "mean")),
            "norm": "ln" if split.norm else "none",
            "dense": split.dense,
        }
        kind = draw_choice(rng, list(attention)) if len(attention) > 1 else attention[0]
        return spec if kind == DEFAULT_ATTENTION else {**spec, "attention": kind}

    def validate(self, spec: Mapping[str, Any]) -> None:
        """Check every field; the patch must fit in the image and ``heads`` must divide ``width``."""
        w = self.where
        check_int(spec["patch_size"], w("patch_size"), 1, min(spec["input_shape"][1:]))
        check_int(spec["depth"], w("depth"), 1, 64)
        width = check_int(spec["width"], w("width"), 1, 16384)
        heads = check_int(spec["heads"], w("heads"), 1, 256)
        if width % heads:
            raise InvalidSpecError(f"{w('width')} must be a multiple of 'heads' ({heads}), got {width}")
        check_float(spec["mlp_ratio"], w("mlp_ratio"), 0.25, 16.0)
        check_choice(spec["pool"], w("pool"), ("cls", "mean"))
        check_choice(spec["norm"], w("norm"), ("ln", "rms", "none"))
        check_bool(spec["dense"], w("dense"))
        check_choice(spec.get("attention", DEFAULT_ATTENTION), w("attention"), ATTENTION_KINDS)

    def build(self, spec: Mapping[str, Any]) -> nn.Module:
        """The :class:`ViT` of ``spec``."""
        return ViT(spec)

    def summary(self, spec: Mapping[str, Any]) -> dict[str, float]:
        """``depth`` (blocks), ``width`` (token dims), ``heads``, ``tokens``."""
        _, height, width_px = spec["input_shape"]
        p = spec["patch_size"]
        return {"depth": spec["depth"], "width": spec["width"], "heads": spec["heads"],
                "tokens": (height // p) * (width_px // p)}

    def reference_nets(self, input_shape: tuple[int, ...], num_classes: int) -> dict[str, dict]:
        """``vit_tiny`` (ViT-Ti: 12 x 192, 3 heads) and ``vit_mini`` (6 x 128, 4 heads), ~64 tokens."""
        sizes = patch_sizes(*input_shape[1:])
        tokens = {p: (input_shape[1] // p) * (input_shape[2] // p) for p in sizes}
        patch = min(sizes, key=lambda p: abs(tokens[p] - 64))
        common = {"patch_size": patch, "pool": "cls", "norm": "ln", "dense": False}
        return {
            "vit_tiny": {**common, "depth": 12, "width": 192, "heads": 3, "mlp_ratio": 4.0},
            "vit_mini": {**common, "depth": 6, "width": 128, "heads": 4, "mlp_ratio": 2.0},
        }
