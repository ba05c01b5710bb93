"""Sweep the GHN's learning rate with Optuna (TPE, maximising held-out ``val/acc``) through ``hypergen-train -m``,
W&B logging offline, then list where each trial's results are.

    python examples/sweep.py [--trials 8] [--out runs/lr_sweep] [trainer.max_steps=500 ...]
    python examples/sweep.py --fast --out /tmp/lr_sweep    # 2 trials of 4 steps of a tiny GHN (what CI runs)

The search space is ``conf/hparams_search/optuna.yaml`` with everything but ``module.lr`` fixed on the command line
(a fixed value removes a parameter from Optuna's space). Extra arguments are Hydra overrides for every trial.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

#: The other parameters of optuna.yaml's search space, fixed at experiment=fmnist_cpu's values.
FIXED = ["module.weight_decay=1e-5", "module.warmup_steps=25", "module.weight_reg=0.0", "ghn.hidden=128"]
#: A tiny GHN on tiny MLPs, 4 steps and one validation per trial (tests/conftest.py's TINY settings).
FAST = ["ghn.hidden=32", "ghn.gnn_layers=1", "ghn.heads=4", "archs=mlp", "archs.param_bounds=[1000,50000]",
        "archs.heldout_count=2", "archs.pool_size=4", "module.meta_batch=2", "module.warmup_steps=0",
        "data.train_subset=512", "data.eval_subset=128", "data.batch_size=32", "trainer.max_steps=4",
        "trainer.val_check_interval=4", "trainer.enable_progress_bar=false"]


def sweep_command(out: Path, trials: int, overrides: Sequence[str]) -> list[str]:
    """The ``python -m hypergen.train -m ...`` command line (later overrides win over earlier ones)."""
    return [sys.executable, "-m", "hypergen.train", "-m", "experiment=fmnist_cpu", "name=lr_sweep",
            "hparams_search=optuna", f"hydra.sweeper.n_trials={trials}", f"hydra.sweep.dir={out}", *FIXED,
            *overrides]


def main(out: str = "runs/lr_sweep/multirun", trials: int = 8, overrides: Sequence[str] = ()) -> list[dict]:
    """Run the sweep into ``out``; returns one ``{"trial", "lr", "val/acc", "dir"}`` per finished trial."""
    command = sweep_command(Path(out), trials, overrides)
    print("running:", " ".join(command[1:]), flush=True)
    subprocess.run(command, env={**os.environ, "WANDB_MODE": "offline"}, check=True)
    results = []
    for trial in sorted((p for p in Path(out).iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
        trial_overrides = dict(o.split("=", 1) for o in yaml.safe_load((trial / ".hydra/overrides.yaml").read_text()))
        metrics = json.loads((trial / "metrics.json").read_text())["metrics"]
        results.append({"trial": int(trial.name), "lr": float(trial_overrides["module.lr"]),
                        "val/acc": metrics["val/acc"], "dir": str(trial)})
        offline = sorted(trial.glob("wandb/offline-run-*"))
        print(f"trial {trial.name}: module.lr={results[-1]['lr']:.2e} val/acc={100 * metrics['val/acc']:.1f}% -> "
              f"{trial} (ghn_best.safetensors, metrics.json, W&B: {offline[0] if offline else 'none'})")
    best = yaml.safe_load((Path(out) / "optimization_results.yaml").read_text())
    print(f"{len(results)} trials finished; best: {best['best_params']} val/acc={100 * best['best_value']:.1f}% "
          f"({Path(out) / 'optimization_results.yaml'})")
    print(f"upload the W&B runs with: wandb sync {out}/*/wandb/offline-run-*")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/lr_sweep/multirun", help="sweep directory (one folder per trial)")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--fast", action="store_true", help="2 trials of a tiny GHN (CI); FAST=1 does the same")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every trial, e.g. trainer.max_steps=500")
    args = parser.parse_args()
    fast = args.fast or os.environ.get("FAST") == "1"
    main(args.out, 2 if fast else args.trials, [*(FAST if fast else []), *args.overrides])
