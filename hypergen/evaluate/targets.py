"""What to evaluate: nets of an architecture family (e.g. the held-out nets a GHN was validated on) or named zoo
models, each built on the CPU with PyTorch's default init under a fixed seed."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hypergen.archs import build, spec_summary

__all__ = ["EvalTarget", "heldout_targets", "zoo_targets"]


@dataclass
class EvalTarget:
    """One net to evaluate.

    Attributes:
        name: a short name for tables (``"deepnets/test/3"``, ``"torchvision:resnet18"``).
        factory: builds the net on the CPU with its default init; called under a fixed torch seed.
        info: a few descriptive numbers for the report (depth, width...).
    """

    name: str
    factory: Callable[[], nn.Module]
    info: dict[str, Any]

    def build(self, seed: int) -> nn.Module:
        """The net with PyTorch's default init drawn from ``seed`` (the global RNG is left as it was)."""
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return self.factory()


def heldout_targets(specs: Sequence[Mapping[str, Any]], prefix: str) -> list[EvalTarget]:
    """Targets for architecture specs, e.g. ``ArchPool.heldout_specs`` (the nets training validated on).

    Args:
        specs: architecture specs (see :mod:`hypergen.archs`).
        prefix: name prefix, e.g. ``"deepnets/test"``; target ``i`` is ``f"{prefix}/{i}"``.
    """
    targets = []
    for i, spec in enumerate(specs):
        spec = dict(spec)
        targets.append(EvalTarget(f"{prefix}/{i}", lambda spec=spec: build(spec, "cpu"), dict(spec_summary(spec))))
    return targets


def zoo_targets(entries: Sequence[str | Mapping[str, Any]], num_classes: int, input_shape: Sequence[int],
                task: str = "classification") -> list[EvalTarget]:
    """Targets for zoo models (``"torchvision:resnet18"``, ``"timm:..."``), with a classifier of ``num_classes``;
    for ``task="language_model"``, causal language models with a vocabulary of ``num_classes`` tokens
    (``"hf:gpt2:causal_lm"``: its config's ``vocab_size``) taking token ids ``[B, T]``, ``T = input_shape[0]``.

    An entry is a zoo spec, or a mapping ``{"model": <spec>, **options}`` whose options go to
    :func:`~hypergen.zoo.load_model` (a Hugging Face config's fields, e.g. a ViT for 1 x 28 x 28 images:
    ``{"model": "hf:vit:image_classification", "num_channels": 1, "image_size": 28, "patch_size": 4}``); its
    target is named ``<spec>(<options>)``.

    Raises:
        ValueError: a mapping without ``model``; a model that cannot take inputs of ``input_shape`` (names it and
            the shape; a 3-channel ImageNet model on 1-channel data, say). Checked on ``meta``, before any weights
            exist.
    """
    from hypergen.zoo import load_model

    lm = task == "language_model"
    sized = {"vocab_size": num_classes} if lm else {"num_classes": num_classes}
    targets = []
    for entry in entries:
        if isinstance(entry, str):
            name, extra = entry, {}
        else:
            extra = dict(entry)
            name = extra.pop("model", None)
            if not isinstance(name, str):
                raise ValueError(f"zoo target {dict(entry)!r} needs a 'model' key naming a zoo spec, e.g. "
                                 "{model: hf:vit:image_classification, image_size: 28}")
        options = {**extra, **sized}
        label = name + (f"({', '.join(f'{k}={v}' for k, v in extra.items())})" if extra else "")
        probe = load_model(name, **options).model  # meta: allocates nothing
        positions = getattr(getattr(probe, "config", None), "max_position_embeddings", None)
        if lm and isinstance(positions, int) and positions < input_shape[0]:  # meta would not notice
            raise ValueError(f"zoo model {label!r} has {positions} positions, fewer than this dataset's context of "
                             f"{input_shape[0]} tokens; use a shorter context (the data's context option)")
        inputs = (torch.zeros(2, *input_shape, dtype=torch.long, device="meta") if lm
                  else torch.empty(2, *input_shape, device="meta"))
        try:
            with torch.no_grad():
                probe.eval()(inputs)
        except Exception as err:  # any failure here means the shapes do not fit; say which
            raise ValueError(f"zoo model {label!r} cannot take this dataset's inputs of shape {list(input_shape)}: "
                             f"{err}. Pick a dataset whose {'sequences' if lm else 'images'} fit the model, or "
                             "another model") from err
        targets.append(EvalTarget(label, lambda name=name, options=options: load_model(name, device="cpu",
                                                                                       **options).model,
                                  {"params": sum(p.numel() for p in probe.parameters())}))
    return targets
