"""Initialise a torchvision ResNet with a GHN and fine-tune it on Fashion-MNIST next to the same net with PyTorch's
default init (same seed, same batches in the same order; ``hypergen.evaluate.compare_inits``).

    python examples/finetune_torchvision.py --ckpt runs/fmnist_cpu_lowrank/ghn_best.safetensors [--model resnet50] [--steps 200]
    python examples/finetune_torchvision.py --ckpt ... --orthogonalize   # GHN init = polar factors of the predictions
    python examples/finetune_torchvision.py --fast       # 4 steps, 128 test images (what CI runs)

A GHN predicts parameters of any shape, so the ImageNet net is adapted to 1x28x28 images *before* it is initialised:
a 1-channel 3x3 stride-1 stem, no max-pool, 10 classes. Without ``--ckpt`` the GHN is untrained: its weights have
sane statistics, but only a trained GHN (``hypergen-train``, docs/training.md) starts the net above chance.
"""

from __future__ import annotations

import argparse
from functools import partial

import torch
from torch import nn

import hypergen
from hypergen.data import TaskDataModule
from hypergen.evaluate import CompareConfig, EvalTarget, FinetuneConfig, compare_inits, seeded_batches

#: torchvision models with a ``conv1`` stem and a ``maxpool`` that :func:`adapt_resnet` replaces.
RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnext50_32x4d", "wide_resnet50_2")


def adapt_resnet(model: nn.Module, in_channels: int) -> nn.Module:
    """Fit an ImageNet ResNet to small images: a 3x3 stride-1 stem on ``in_channels`` and no max-pool (a 28x28 input
    keeps 28x28 into the first stage instead of 7x7). The new stem gets torchvision's own ResNet init."""
    model.conv1 = nn.Conv2d(in_channels, model.conv1.out_channels, 3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model


def main(model: str = "resnet18", ckpt: str | None = None, steps: int = 200, eval_every: int = 50,
         batch_size: int = 64, eval_subset: int | None = 1000, seed: int = 0,
         orthogonalize: bool = False) -> dict[str, list[float]]:
    """Fine-tune ``model`` from GHN init and from default init; returns ``{init: [acc at step 0, ..., final]}``.

    ``orthogonalize``: the GHN init is the polar factor of each predicted weight (docs/evaluation.md).
    """
    torch.manual_seed(seed)
    data = TaskDataModule("fashion_mnist", batch_size=batch_size, eval_subset=eval_subset, seed=seed)
    data.setup("fit")
    data.setup("test")
    if ckpt:
        ghn = hypergen.load_ghn(ckpt)
    else:
        ghn = hypergen.GraphHyperNetwork()
        print("note: no --ckpt, so the GHN is untrained; only a trained GHN gives better accuracy than default init")

    def build() -> nn.Module:  # the adapted net with PyTorch's default init (compare_inits seeds it)
        zoo = hypergen.load_model(f"torchvision:{model}", device="cpu", num_classes=data.num_classes)
        return adapt_resnet(zoo.model, data.input_shape[0])

    target = EvalTarget(f"torchvision:{model}", build, {})
    config = CompareConfig(FinetuneConfig(steps, eval_every), batchnorm="recalibrate", seed=seed,
                           orthogonalize=orthogonalize)
    sgd = partial(torch.optim.SGD, lr=0.01, momentum=0.9, weight_decay=5e-4)  # conf/eval.yaml's optimiser
    result = compare_inits(target, ghn.eval(), lambda: seeded_batches(data.train_dataset, batch_size, seed),
                           list(data.test_dataloader()), config, sgd, data.input_shape)
    print(f"{target.name} adapted to {list(data.input_shape)}: {result.params:,} parameters; not predicted by the "
          f"GHN: {', '.join(result.not_predicted) or 'none'}")
    print(f"GHN init: {'polar factors of the predicted weights' if orthogonalize else 'the predicted weights'}")
    print(f"test accuracy on {len(data.test_dataset)} Fashion-MNIST images, {steps} SGD steps of {batch_size}:")
    for init, curve in result.curves.items():
        points = ", ".join(f"step {s} {100 * a:.1f}%" for s, a in zip(curve.steps, curve.acc))
        print(f"  {init:7s} init: {points}")
    return {init: curve.acc for init, curve in result.curves.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", choices=RESNETS)
    parser.add_argument("--ckpt", help="a trained GHN checkpoint (.safetensors); default: an untrained GHN")
    parser.add_argument("--steps", type=int, default=200, help="fine-tuning steps")
    parser.add_argument("--orthogonalize", action="store_true",
                        help="start from the polar factors of the predicted weights (docs/evaluation.md)")
    parser.add_argument("--fast", action="store_true", help="4 steps of 16 images, 128 test images (CI)")
    args = parser.parse_args()
    if args.fast:
        main(args.model, args.ckpt, steps=4, eval_every=4, batch_size=16, eval_subset=128,
             orthogonalize=args.orthogonalize)
    else:
        main(args.model, args.ckpt, steps=args.steps, orthogonalize=args.orthogonalize)
