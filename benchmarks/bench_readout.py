"""Where a GHN's held-out accuracy is lost: in the predicted features or in the predicted classifier.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_readout.py [--ghn fmnist-deepnets-lowrank] [--split test]
        [--nets 8] [--train-images 4000] [--test-images 2000] [--card-of NAME] [--out benchmarks/results/readout.md]

For ``--nets`` held-out nets of the GHN's architecture space (drawn as training drew them, from its model card), with
predicted weights and BatchNorm statistics re-estimated on two training batches (as every evaluation here does), the
inputs of the output layer (the last ``nn.Linear`` whose output is the logits) are collected on ``--train-images``
training and ``--test-images`` test images, and test top-1 is measured for:

- ``predicted``: the net as predicted (no training);
- ``best read-out``: the best linear classifier on the predicted features (multinomial logistic regression fitted with
  L-BFGS on the training images' features, standardised; weight decay 1e-3): what a perfect output layer would give;
- ``best re-mix of the predicted logits``: the best linear map of the predicted output layer's own logits
  (``[classes, classes]`` and a bias, fitted the same way without the penalty): equal to the best read-out when the
  predicted output layer's rows span the right directions and only their assignment to classes, their scales and
  biases are off;
- ``best in code form``: the same, restricted to what the core decoder can emit, ``W = P(10) C P(n)^T`` with the
  decoder's fixed index codes ``P`` and a free ``r x r`` core ``C`` (core decoders only);
- ``other nets' read-outs``: each net's best code-form read-out applied to the *other* nets' features (the codes make
  a core fit any width): high when the GHN gives every net features of the same meaning, low when each net's
  features mean something of their own, so that its classifier must be inferred from its graph;
- ``default init, best read-out``: the best linear classifier on the features of PyTorch's default init (random
  features), the yardstick for the predicted features.

One process; nothing is trained but the read-outs. Prints the Markdown table and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench_readout")

_WEIGHT_DECAY = 1e-3
_LBFGS_ITERATIONS = 300


def _output_layer_inputs(model, state, batches, num_classes: int):
    """``(features [N, n], labels [N], logits [N, classes])``: inputs and outputs of the last linear call that emits
    ``num_classes`` outputs (:func:`hypergen.train.swap_heads.capture_output_layer`, which the training loss of
    ``module.swap_heads`` uses)."""
    import torch
    import torch.nn.functional as F

    from hypergen.apply.functional import forward_with
    from hypergen.train.swap_heads import capture_output_layer

    features, labels, logits = [], [], []
    with torch.no_grad():
        for x, y in batches:
            with capture_output_layer(model, num_classes, type(model).__name__) as head:
                forward_with(model.eval(), state, x)
            features.append(head[0].features)
            logits.append(F.linear(head[0].features, head[0].weight, head[0].bias))
            labels.append(y)
    return torch.cat(features), torch.cat(labels), torch.cat(logits)


def _fit_readout(features, labels, num_classes: int, form: Callable | None = None, rank: int = 0,
                 weight_decay: float = _WEIGHT_DECAY):
    """Fit a linear classifier (``form(core)`` gives its ``[classes, n]`` weight when given) on standardised features
    with an L2 penalty ``weight_decay``; returns ``(weight, bias, mean, std)`` for :func:`_top1`."""
    import torch
    import torch.nn.functional as F

    mean, std = features.mean(0), features.std(0) + 1e-6
    x = (features - mean) / std
    free = torch.zeros(rank, rank) if form is not None else torch.zeros(num_classes, x.shape[1])
    free.requires_grad_(True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([free, bias], max_iter=_LBFGS_ITERATIONS, line_search_fn="strong_wolfe")

    def weight():
        return form(free) if form is not None else free

    def closure():
        optimizer.zero_grad()
        w = weight()
        loss = F.cross_entropy(x @ w.t() + bias, labels) + weight_decay * w.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return free.detach(), bias.detach(), mean, std


def _top1(features, labels, weight, bias, mean, std) -> float:
    return float((((features - mean) / std) @ weight.t() + bias).argmax(1).eq(labels).float().mean())


def _train_batches(name: str, count: int, batch_size: int, seed: int) -> list:
    """About ``count`` shuffled training images (whole batches) for fitting the read-outs."""
    import torch

    from hypergen.data.datamodule import TaskDataModule

    datamodule = TaskDataModule(name=name, batch_size=batch_size)
    datamodule.setup("fit")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return [batch for batch, _ in zip(datamodule.train_dataloader(), range(-(-count // batch_size)))]


def measure(ghn_name: str, split: str, nets: int, train_images: int, test_images: int,
            card_of: str | None = None) -> list[dict[str, float]]:
    """One row per held-out net: the accuracies of the module docstring (fractions). ``card_of``: the registered
    GHN whose model card says which architectures and data to use (default: ``ghn_name``'s own)."""
    import torch

    import hypergen
    from hypergen.apply.batchnorm import recalibrate_batchnorm
    from hypergen.apply.functional import materialize_buffers
    from hypergen.archs import build
    from hypergen.evaluate.predict import _task_batches, card_heldout_specs
    from hypergen.ghn.decoders import TensorLayout
    from hypergen.ghn.pretrained import default_pretrained

    ghn = hypergen.load_ghn(ghn_name).eval()
    card_name = card_of or ghn_name
    card = default_pretrained().get(card_name).card if card_name in default_pretrained() else None
    if card is None:
        raise ValueError(f"{card_name!r} is not a registered GHN with a model card (hypergen.list_pretrained()); "
                         "for a GHN file of your own, pass --card-of with a registered GHN of the same task")
    data = card["data"]
    classes, shape = int(data["num_classes"]), tuple(data["input_shape"])
    # BatchNorm calibration and test images as hypergen predict evaluates (the same 2 batches, the same test subset)
    calibration, test = _task_batches(data, test_images, batch_size=128)
    train = _train_batches(data["name"], train_images, 500, seed=1)
    row_codes = getattr(ghn.decoder, "row_codes", None)
    rank = getattr(ghn.decoder, "rank", 0)

    def codes(n: int):
        return row_codes(TensorLayout.of((n, 1)), torch.device("cpu"))

    nets_features, rows = [], []
    for i, spec in enumerate(card_heldout_specs(card, split, nets)):
        torch.manual_seed(0)
        model = materialize_buffers(build(spec, "cpu"))
        default = {name: p.detach() for name, p in model.named_parameters()}
        with torch.no_grad():
            predicted = ghn(model, (2, *shape))
        row: dict[str, float] = {}
        for label, params in (("predicted", predicted), ("default", default)):
            recalibrate_batchnorm(model, calibration, "cpu", params=params)
            state = {**params, **dict(model.named_buffers())}
            f_train, y_train, l_train = _output_layer_inputs(model, state, train, classes)
            f_test, y_test, logits = _output_layer_inputs(model, state, test, classes)
            free = _fit_readout(f_train, y_train, classes)
            row[f"{label}_best"] = _top1(f_test, y_test, *free)
            if label == "predicted":
                row["predicted"] = float(logits.argmax(1).eq(y_test).float().mean())
                # classes x (classes + 1) parameters on thousands of images: no penalty (with the features' 1e-3
                # the re-mix came out 8-10 points lower on 4 nets of the shipped GHN)
                row["logit_mix"] = _top1(logits, y_test, *_fit_readout(l_train, y_train, classes, weight_decay=0.0))
                if row_codes is not None:
                    n = f_train.shape[1]
                    form = _code_form(codes(classes), codes(n), rank)
                    core = _fit_readout(f_train, y_train, classes, form=form, rank=rank)
                    row["code_form"] = _top1(f_test, y_test, form(core[0]), *core[1:])
                    nets_features.append((f_test, y_test, core))  # core: (C, bias, train mean, train std)
        log.info("%s/%d: %s", split, i, {k: round(v, 3) for k, v in row.items()})
        rows.append(row)
    if row_codes is not None:
        for i, (f_test, y_test, (_, _, own_mean, own_std)) in enumerate(nets_features):
            form = _code_form(codes(classes), codes(f_test.shape[1]), rank)
            # the other nets' cores at this net's width, on this net's features standardised as its own were
            others = [_top1(f_test, y_test, form(core), bias, own_mean, own_std)
                      for j, (_, _, (core, bias, _, _)) in enumerate(nets_features) if j != i]
            rows[i]["transfer"] = statistics.mean(others) if others else float("nan")
    return rows


def _code_form(row_codes, col_codes, rank: int) -> Callable:
    """``core [r, r] -> P_rows core P_cols^T``: the core decoder's form of a matrix, up to its scale."""
    return lambda core: row_codes @ core @ col_codes.t() / rank


COLUMNS = (("predicted", "predicted (no training)"), ("predicted_best", "best read-out of predicted features"),
           ("logit_mix", "best re-mix of predicted logits"), ("code_form", "best in code form"),
           ("transfer", "other nets' read-outs"),
           ("default_best", "default init, best read-out"))


def table(rows: Sequence[dict[str, float]], split: str) -> str:
    """Markdown: one line per net and the mean (top-1 in %)."""
    present = [(key, title) for key, title in COLUMNS if any(key in row for row in rows)]
    lines = ["| net | " + " | ".join(title for _, title in present) + " |", "|---" * (len(present) + 1) + "|"]
    for i, row in enumerate(rows):
        lines.append(f"| {split}/{i} | " + " | ".join(f"{100 * row.get(k, float('nan')):.1f}" for k, _ in present)
                     + " |")
    means = [statistics.mean(row[k] for row in rows if k in row) for k, _ in present]
    lines.append("| **mean** | " + " | ".join(f"**{100 * m:.1f}**" for m in means) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ghn", default="fmnist-deepnets-lowrank", help="a registered GHN or a GHN file")
    parser.add_argument("--card-of", default=None,
                        help="the registered GHN whose model card gives the nets and data (for a GHN file)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--nets", type=int, default=8)
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--test-images", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from hypergen.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    rows = measure(args.ghn, args.split, args.nets, args.train_images, args.test_images, args.card_of)
    report = table(rows, args.split)
    sys.stdout.write(report + "\n")
    if args.out is not None:
        from _harness import write_report

        write_report(args.out, f"Read-outs of predicted features ({args.ghn}, {args.split})",
                     "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_readout.py " + " ".join(sys.argv[1:]),
                     report)


if __name__ == "__main__":
    main()
