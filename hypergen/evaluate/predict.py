"""The main job in one call: predict the weights of nets a pretrained GHN never saw and measure their test accuracy
with no training, next to PyTorch's default init (``hypergen predict``).

What the nets are and what data they are measured on comes from the GHN's model card (see
:mod:`hypergen.ghn.pretrained`): held-out nets of the architecture space it was trained on, and any zoo models,
adapted to the task's input channels and classes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["NetAccuracy", "card_heldout_specs", "predict_accuracy"]

log = logging.getLogger(__name__)

_CARD_KEYS = ("data", "archs")


@dataclass
class NetAccuracy:
    """Test top-1 of one net with predicted weights and with its default init (no training for either)."""

    name: str
    params: int
    predicted: float
    default: float


def card_heldout_specs(card: dict[str, Any], split: str, count: int) -> list[dict[str, Any]]:
    """Specs of ``count`` held-out nets of ``split`` from the architecture space of a GHN's card, drawn as
    training drew its held-out nets (sampler seed ``archs.seed + 1``).

    Raises:
        ValueError: the card lacks the ``data``/``archs`` entries (names them).
    """
    from hypergen.archs import ArchSampler

    missing = [key for key in _CARD_KEYS if key not in card]
    if missing:
        raise ValueError(f"the GHN's model card has no {missing} entries: it does not say which architectures and "
                         "data it was trained on, so held-out nets cannot be drawn; pass --model instead")
    archs, data = card["archs"], card["data"]
    options = dict(archs.get("options") or {})
    if split == "deep":  # deep nets are deeper than the training range by construction
        options.pop("num_cells", None)
    bounds = archs.get("param_bounds") if split == "test" else None
    sampler = ArchSampler(archs["family"], split, data["input_shape"], data["num_classes"], archs.get("seed", 0) + 1,
                          param_bounds=tuple(bounds) if bounds else None, options=options)
    return [sampler.sample(i) for i in range(count)]


def _task_batches(data: dict[str, Any], images: int, batch_size: int) -> tuple[list, list]:
    """Two calibration batches from the training split and ``images`` fixed test images."""
    from hypergen.data.datamodule import TaskDataModule

    datamodule = TaskDataModule(name=data["name"], batch_size=batch_size, eval_subset=images,
                                dataset_options=data.get("dataset_options"))
    datamodule.setup("fit")
    datamodule.setup("test")
    with torch.random.fork_rng():  # the same calibration batches every time (the loader shuffles)
        torch.manual_seed(0)
        calibration = [x for (x, _), _ in zip(datamodule.train_dataloader(), range(2))]
    return calibration, list(datamodule.test_dataloader())


def predict_accuracy(ghn: nn.Module, card: dict[str, Any], *, split: str = "test", nets: int = 4,
                     models: Sequence[str] = (), images: int = 2000, seed: int = 0) -> list[NetAccuracy]:
    """Predict weights for held-out nets (and zoo ``models``) and measure them against default init.

    Both inits get their BatchNorm statistics re-estimated on the same two training batches; nothing is trained.

    Args:
        ghn: the GHN.
        card: its model card (``data``: ``name``, ``input_shape``, ``num_classes``; ``archs``: ``family``, ``seed``,
            ``options``, ``param_bounds``).
        split: architecture split of the held-out nets (``test``, ``wide``, ``deep``...).
        nets: how many held-out nets (0 for none).
        models: zoo specs (``timm:resnet18``, ``torchvision:mobilenet_v3_small``...), built for the task's classes
            with their first convolution taking the task's channels.
        images: test images measured on.
        seed: seed of every default init.

    Returns:
        One :class:`NetAccuracy` per net.
    """
    from hypergen.apply.functional import materialize_buffers
    from hypergen.archs import build
    from hypergen.evaluate.quality import accuracy_with
    from hypergen.zoo import load_model
    from hypergen.zoo.adapt import adapt_input_channels

    data = card["data"]
    shape, classes = list(data["input_shape"]), int(data["num_classes"])
    builders: list[tuple[str, Any]] = [
        (f"{card['archs']['family']}/{split}/{i}", lambda spec=spec: build(spec, "cpu"))
        for i, spec in enumerate(card_heldout_specs(card, split, nets) if nets else [])
    ]
    for spec in models:
        builders.append((spec, lambda spec=spec: adapt_input_channels(
            load_model(spec, device="cpu", num_classes=classes).model, shape[0])))
    calibration, batches = _task_batches(data, images, batch_size=128)
    results = []
    ghn = ghn.eval()
    for name, make in builders:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = materialize_buffers(make())
        with torch.no_grad():
            predicted = ghn(model, (2, *shape))
        default = {n: p.detach() for n, p in model.named_parameters()}
        results.append(NetAccuracy(name, sum(p.numel() for p in default.values()),
                                   accuracy_with(model, predicted, calibration, batches),
                                   accuracy_with(model, default, calibration, batches)))
        log.info("%s: predicted %.1f%%, default init %.1f%%", name, 100 * results[-1].predicted,
                 100 * results[-1].default)
    return results
