"""Train a GHN for 1-D CNNs on MNIST-1D through the Hydra config API, then use it on a net it has never seen.

    python examples/train_mnist1d.py [--out runs/mnist1d_example] [--steps 500] [module.lr=3e-4 ...]
    python examples/train_mnist1d.py --fast --out /tmp/mnist1d    # 10 steps of a tiny GHN (what CI runs)

Same as ``hypergen-train data=mnist_1d archs=cnn1d logger=csv trainer.max_steps=<steps> hydra.run.dir=<out>``: the
configs are the repository's ``conf/``, extra arguments are Hydra overrides, and running the command again resumes the
run in ``--out``. MNIST-1D is generated locally (no download).
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import hypergen
from hypergen.apply import recalibrate_batchnorm
from hypergen.data import TaskDataModule
from hypergen.evaluate import accuracy
from hypergen.train.run import CONFIG_NAME, config_dir, train

#: A GHN and nets small enough for CI: 2 nets of at most 20K parameters per step, a 32-wide one-layer GHN.
FAST = ["ghn.hidden=32", "ghn.gnn_layers=1", "ghn.heads=4", "archs.param_bounds=[1000,20000]",
        "archs.heldout_count=2", "archs.pool_size=4", "module.meta_batch=2", "module.warmup_steps=0",
        "data.train_subset=512", "data.eval_subset=128", "data.batch_size=32", "trainer.enable_progress_bar=false"]


def compose_config(out: Path, steps: int, overrides: Sequence[str] = ()) -> DictConfig:
    """``conf/train.yaml`` composed for MNIST-1D and 1-D CNNs, run directory ``out``. Outside a Hydra app
    ``${hydra:runtime.output_dir}`` has no value, so ``paths.output_dir`` is set here."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(CONFIG_NAME, overrides=[
            "data=mnist_1d", "archs=cnn1d", "logger=csv", f"paths.output_dir={out.resolve()}",
            f"trainer.max_steps={steps}", f"trainer.val_check_interval={min(steps, 250)}", *overrides])


def main(out: str = "runs/mnist1d_example", steps: int = 500, overrides: Sequence[str] = ()) -> dict[str, float]:
    """Train (or resume) the run in ``out``; returns its ``metrics.json`` metrics."""
    cfg = compose_config(Path(out), steps, overrides)
    train(cfg)
    run = Path(cfg.paths.output_dir)
    summary = json.loads((run / "metrics.json").read_text())
    metrics = summary["metrics"]
    heldout = json.loads((run / "heldout_archs.json").read_text())["split"]
    print(f"GHN trained for {summary['global_step']} steps, saved to {summary['ghn']}")
    print(f"held-out {heldout}: predicted weights {100 * metrics['val/acc']:.1f}% top-1 (no training) vs random "
          f"init {100 * metrics['val/acc_random_init']:.1f}% (validation at step {metrics['step']})")

    # A net from a seed the training stream never used, initialised by the exported GHN.
    ghn = hypergen.load_ghn(run / "ghn_best.safetensors").eval()
    data = TaskDataModule("mnist1d", batch_size=64, eval_subset=cfg.data.eval_subset, seed=0)
    data.setup("fit")
    data.setup("test")
    spec = hypergen.ArchSampler("cnn1d", "test", data.input_shape, data.num_classes, seed=1234).sample(0)
    torch.manual_seed(0)
    default = hypergen.build_arch(spec, "cpu")
    net = copy.deepcopy(default)
    calibration = [x for x, _ in list(data.train_dataloader())[:4]]
    recalibrate_batchnorm(default, calibration)  # as validation does: both inits get BatchNorm statistics
    report = ghn.init_(net, (2, *data.input_shape), batchnorm="recalibrate", calibration_batches=calibration)
    print(f"new cnn1d net: {report.summary().splitlines()[0]}")
    print(f"  test accuracy on {len(data.test_dataset)} signals: {100 * accuracy(net, data.test_dataloader()):.1f}% "
          f"with predicted weights vs {100 * accuracy(default, data.test_dataloader()):.1f}% with default init "
          f"(no training)")
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/mnist1d_example", help="run directory (resumed if it exists)")
    parser.add_argument("--steps", type=int, default=500, help="training steps of the GHN")
    parser.add_argument("--fast", action="store_true", help="10 steps of a tiny GHN on tiny nets (CI)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. module.lr=3e-4 ghn=ghn2")
    args = parser.parse_args()
    main(args.out, 10 if args.fast else args.steps, [*(FAST if args.fast else []), *args.overrides])
