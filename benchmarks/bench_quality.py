"""GHN quality benchmark: train GHN configurations on the ``experiment=fmnist_cpu`` stream over several seeds and report
mean +- std of what their predicted weights achieve with no training.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_quality.py --variants core_cyc1_pos tiling --seeds 0 1 2
        [--steps 1300 | --proxy] [--jobs 2] [--variant 'mine=ghn.hidden=64 decoder.rank=32'] [--out FILE.md]
        [--device cuda]

Each (variant, seed) is one ``hypergen-train experiment=fmnist_cpu <variant overrides> seed=<seed>`` run in its own
process (``logger=csv``, validation only at the last step, so the exported GHN is the final one): the seed sets the
GHN's init and the data order, the architecture stream (``archs.seed``) stays fixed. The exported GHN is then measured
on 8 held-out nets of each architecture split (``test``: the training space's test part; ``wide`` and ``deep``: nets
wider or deeper than any in training), BatchNorm statistics re-estimated on 2 fixed training batches of 250 images,
top-1 on 2,000 fixed Fashion-MNIST test images, with :func:`hypergen.evaluate.quality.predicted_quality`: accuracy,
same-shape layer similarity (1 = collapsed to one tensor per shape) and the fraction of exactly repeated output
units, and how many steps the training loss sat at chance (:func:`hypergen.evaluate.quality.steps_at_chance` on the
run's logged training losses: the first step whose 50-step mean is 0.1 below ln 10; runs that leave chance late end
lower). Wall time per step counts the whole training process (pool tracing and the final validation included); peak
RSS is the training process's. ``--device`` sets where the exported GHNs are evaluated; training runs where the
variant's trainer overrides put it (e.g. ``trainer=gpu trainer.precision=32-true`` in a ``--variant``).

``--proxy`` trains 300 steps (screening); decisions use the full 1300. Results of every run are cached as JSON in
``--runs`` (a rerun with the same label, seed and steps reuses them), and one Markdown table goes to ``--out``;
``--collect`` prints one table of every finished run in ``--runs`` without training anything. With only
``--variant`` entries, only those run (``--variants`` defaults to ``gated_wu300``, the GHN the README trains, when no
``--variant`` is given).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: The library default ``GHNConfig()`` as overrides of ``experiment=fmnist_cpu``'s GHN (GHN-2's gated GNN, tiling).
_DEFAULT_GHN = "ghn=default decoder=core decoder.index_encoding=cyclic decoder.index_tilt=1.0 ghn.positional=true"

#: Named variants: overrides on top of ``experiment=fmnist_cpu``. Add yours with ``--variant 'label=overrides'``.
VARIANTS: dict[str, str] = {
    # graph transformer + core decoder (identity index codes) with its seeded base, *without* node positions:
    # experiment=fmnist_cpu sets ghn.positional=false and this variant inherits it (issue 15's rounds 1-4 ran so)
    "core_id": "ghn=default decoder=core decoder.index_encoding=identity",
    # core_id with node positions (the library default GHNConfig() and experiment=fmnist_cpu_lowrank until issue 15's
    # eighth round)
    "core_id_pos": "ghn=default decoder=core decoder.index_encoding=identity ghn.positional=true",
    # core_id_pos whose nets also learn from a trained teacher's logits (module.distill, hypergen.train.distill)
    "kd": "ghn=default decoder=core decoder.index_encoding=identity ghn.positional=true "
          "module.distill={weight:0.5,temperature:4}",
    # core_id with cyclic index codes (units beyond the rank are near copies of the first ones: tilt 0.25)
    "core_cyc": "ghn=default decoder=core decoder.index_encoding=cyclic decoder.index_tilt=0.25",
    # core_id_pos with those cyclic index codes: beats tiling on test, wide and deep (3 seeds), but an untrained GHN's
    # ResNet-50 explodes with these codes (docs/results.md, issue 15's seventh round)
    "core_cyc_pos": "ghn=default decoder=core decoder.index_encoding=cyclic decoder.index_tilt=0.25 "
                    "ghn.positional=true",
    # the library default GHNConfig(): cyclic codes tilted by 1.0 (unit i + 32 leans towards unit i, cosine 0.71) and
    # node positions, on experiment=fmnist_cpu's schedule (50 warmup steps to lr 1e-3; experiment=fmnist_cpu_lowrank's
    # until issue 15's seventeenth round)
    "core_cyc1_pos": _DEFAULT_GHN,
    # the library default GHNConfig() on experiment=fmnist_cpu_lowrank's schedule: core_cyc1_pos with 300 warmup steps
    # to lr 2e-3 (the README experiment from issue 15's eighteenth to twenty-second rounds)
    "wu300_lr2e3": f"{_DEFAULT_GHN} module.warmup_steps=300 module.lr=2e-3",
    # wu300_lr2e3 on GHN-2's gated GNN (one round, hidden 128) instead of the graph transformer: level on test, ahead
    # on wide and deep over 5 seeds at 1.25x the step time (docs/results.md, issue 15's nineteenth to twenty-third
    # rounds); experiment=fmnist_cpu_lowrank since the twenty-third round (tests/benchmarks/test_bench_quality.py
    # checks the two compose to the same config)
    "gated_wu300": f"{_DEFAULT_GHN.replace('ghn=default', 'ghn=ghn2 ghn.hidden=128')} module.warmup_steps=300 "
                   "module.lr=2e-3",
    # the same with relative index codes (the default of issue 15's first rounds)
    "core_base": "ghn=default decoder=core decoder.index_encoding=relative",
    # GHN-2's gated GNN (hidden 128) with the tiling decoder, no node positions (= experiment=fmnist_cpu)
    "tiling": "ghn=ghn2 ghn.hidden=128 decoder=tiling ghn.positional=false",
    # the factor decoder (the library default before issue 15, here with the distance prior, no node positions)
    "lowrank": "ghn=default decoder=lowrank",
    # experiment=fmnist_cpu as it is now
    "experiment": "",
}
#: What runs when neither ``--variants`` nor ``--variant`` is given: the README experiment.
DEFAULT_VARIANT = "gated_wu300"
SPLITS = ("test", "wide", "deep")
PROXY_STEPS = 300
FULL_STEPS = 1300
EVAL_IMAGES = 2000
EVAL_BATCH = 250  # images per forward in evaluation (larger batches: fewer Python round trips)
CALIBRATION_BATCHES = 2
NUM_CLASSES = 10  # Fashion-MNIST


def _overrides(variant: str, seed: int, steps: int, run_dir: Path) -> list[str]:
    return ["experiment=fmnist_cpu", *shlex.split(variant), f"seed={seed}", f"trainer.max_steps={steps}",
            f"trainer.val_check_interval={steps}", "logger=csv", "resume=false", "trainer.enable_progress_bar=false",
            "callbacks.best_checkpoint=null", f"hydra.run.dir={run_dir}", f"name=bench_{run_dir.parent.name}"]


def train(variant: str, seed: int, steps: int, run_dir: Path) -> dict[str, float]:
    """Run one training process; returns its wall time, s/step and peak RSS (of that process)."""
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run (finished ones are kept by run_one)
    run_dir.mkdir(parents=True)
    cmd = [sys.executable, "-m", "hypergen.train", *_overrides(variant, seed, steps, run_dir)]
    start = time.perf_counter()
    with open(run_dir / "stdout.log", "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"training failed ({shlex.join(cmd)}); see {run_dir / 'stdout.log'}")
    return {"wall_min": wall / 60, "s_per_step": wall / steps, "peak_rss_gb": usage.ru_maxrss / 2**20}


def evaluate(variant: str, run_dir: Path, device: str = "cpu") -> dict[str, Any]:
    """Measure the exported GHN of ``run_dir`` on every split (see the module docstring), on ``device``."""
    from hydra import compose, initialize_config_dir

    from hypergen.evaluate.quality import predicted_quality
    from hypergen.ghn import load_ghn
    from hypergen.train import builders
    from hypergen.train.run import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=fmnist_cpu", *shlex.split(variant), "seed=0",
                                          f"paths.output_dir={run_dir}", f"data.eval_subset={EVAL_IMAGES}",
                                          f"data.batch_size={EVAL_BATCH}"])
    datamodule = builders.build_datamodule(cfg.data)
    datamodule.setup("fit")
    datamodule.setup("test")
    train_loader = datamodule.train_dataloader()
    calibration = [x for (x, _), _ in zip(train_loader, range(CALIBRATION_BATCHES))]
    batches = list(datamodule.test_dataloader())
    ghn = load_ghn(run_dir / "ghn_best.safetensors").to(device)
    result: dict[str, Any] = {}
    for split in SPLITS:
        # only the held-out nets are used: one training net, no curriculum over the pool
        archs_cfg = {**cfg.archs, "heldout_split": split, "pool_size": 1, "pool_start": None}
        if split == "deep":  # deep nets are deeper than the training range by construction: no cell-count option
            archs_cfg["options"] = {k: v for k, v in cfg.archs.options.items() if k != "num_cells"}
        pool = builders.build_arch_pool(archs_cfg, datamodule, virtual_edge_cutoff=int(cfg.ghn.max_distance))
        nets = [pool._traced(spec) for spec in pool.heldout_specs]
        quality = predicted_quality(ghn, nets, calibration, batches, device=device)
        result[f"{split}_acc"] = quality.mean_accuracy
        result[f"{split}_similarity"] = quality.similarity
        result[f"{split}_repeated"] = quality.repeated_units
    return result


def chance_steps(run_dir: Path) -> dict[str, Any]:
    """``{"chance_steps": steps the run's training loss sat at chance or None if it never left,
    "chance_logged": whether the run has a training log}``."""
    import csv

    from hypergen.evaluate.quality import steps_at_chance

    log = run_dir / "csv" / "version_0" / "metrics.csv"
    if not log.is_file():
        return {"chance_steps": None, "chance_logged": False}
    with log.open(newline="") as f:
        losses = [(int(row["step"]), float(row["train/loss"])) for row in csv.DictReader(f) if row.get("train/loss")]
    return {"chance_steps": steps_at_chance(losses, NUM_CLASSES), "chance_logged": True}


def run_one(label: str, variant: str, seed: int, steps: int, runs: Path, device: str = "cpu") -> dict[str, Any]:
    """Train and evaluate one (variant, seed), or read the cached result; the evaluation runs on ``device``."""
    run_dir = runs / f"{label}_{steps}" / f"seed{seed}"
    cached = run_dir / "quality.json"
    if cached.is_file():
        record = json.loads(cached.read_text())
        if record.get("variant") == variant:
            return {**record, **chance_steps(run_dir)}
    trained = run_dir / "train.json"  # a finished training whose evaluation failed is evaluated again, not retrained
    record = json.loads(trained.read_text()) if trained.is_file() else {}
    if record.get("variant") != variant:
        record = {"label": label, "variant": variant, "seed": seed, "steps": steps,
                  **train(variant, seed, steps, run_dir)}
        trained.write_text(json.dumps(record, indent=1) + "\n")
    proc = subprocess.run([sys.executable, __file__, "--evaluate", str(run_dir), "--variant-overrides", variant,
                           "--device", device],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise RuntimeError(f"evaluation of {run_dir} failed:\n{proc.stderr[-3000:]}")
    record.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    cached.write_text(json.dumps(record, indent=1) + "\n")
    return {**record, **chance_steps(run_dir)}


def _fmt(mean_std: tuple[float, float] | None, scale: float = 100.0, digits: int = 1) -> str:
    if mean_std is None:
        return "–"
    mean, std = mean_std
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def _chance(runs: list[dict[str, Any]]) -> str:
    """Per seed, the steps each run sat at chance ("never" if it did not leave, "–" without a training log)."""
    def one(r: dict[str, Any]) -> str:
        if r.get("chance_steps") is not None:
            return str(r["chance_steps"])
        return "never" if r.get("chance_logged") else "–"
    return " / ".join(one(r) for r in sorted(runs, key=lambda r: r["seed"]))


def table(records: list[dict[str, Any]], variants: dict[str, str]) -> str:
    """One Markdown row per (variant, steps): mean ± std over its seeds."""
    from hypergen.evaluate.quality import summarize_runs

    keys = ["test_acc", "wide_acc", "deep_acc", "test_similarity", "test_repeated", "s_per_step", "wall_min",
            "peak_rss_gb"]
    lines = ["| variant | overrides | steps | seeds | test top-1 (%) | wide top-1 (%) | deep top-1 (%) | "
             "layer similarity (test) | repeated units (%) | steps at chance | s/step | wall (min) | peak RSS (GB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["label"], r["steps"]), []).append(r)
    for (label, steps), runs in groups.items():
        s = summarize_runs(runs, keys)
        seeds = ",".join(str(r["seed"]) for r in sorted(runs, key=lambda r: r["seed"]))
        lines.append(f"| {label} | `{variants.get(label, runs[0]['variant']) or '(none)'}` | {steps} | {seeds} | "
                     f"{_fmt(s.get('test_acc'))} | {_fmt(s.get('wide_acc'))} | {_fmt(s.get('deep_acc'))} | "
                     f"{_fmt(s.get('test_similarity'), 1, 3)} | {_fmt(s.get('test_repeated'))} | "
                     f"{_chance(runs)} | {_fmt(s.get('s_per_step'), 1, 2)} | {_fmt(s.get('wall_min'), 1, 1)} | "
                     f"{_fmt(s.get('peak_rss_gb'), 1, 2)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="*", default=None,
                        help=f"named variants: {sorted(VARIANTS)} (default: {DEFAULT_VARIANT}, the README "
                             "experiment, unless --variant is given)")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=OVERRIDES",
                        help="an extra variant: a label and Hydra overrides on top of experiment=fmnist_cpu")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=FULL_STEPS)
    parser.add_argument("--proxy", action="store_true", help=f"screening: {PROXY_STEPS} steps")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (each single-threaded)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench_quality")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality.md")
    parser.add_argument("--collect", action="store_true",
                        help="train nothing: one table of every finished run in --runs (the ablation table)")
    parser.add_argument("--device", default="cpu",
                        help="where the exported GHNs are evaluated (e.g. cuda; training follows the variant's "
                             "trainer overrides, e.g. 'trainer=gpu trainer.precision=32-true')")
    parser.add_argument("--evaluate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--variant-overrides", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.evaluate:
        print(json.dumps(evaluate(args.variant_overrides, args.evaluate, args.device)))
        return
    named = args.variants if args.variants is not None else ([] if args.variant else [DEFAULT_VARIANT])
    unknown = sorted(set(named) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant(s) {unknown}: named variants are {sorted(VARIANTS)}; give others as "
                     "--variant LABEL=OVERRIDES")
    variants = {name: VARIANTS[name] for name in named}
    for entry in args.variant:
        label, _, overrides = entry.partition("=")
        variants[label] = overrides
    if args.collect:
        records = [{**json.loads(p.read_text()), **chance_steps(p.parent)}
                   for p in sorted(args.runs.glob("*/seed*/quality.json"))]
        print(table(records, {r["label"]: r["variant"] for r in records}))
        return
    steps = PROXY_STEPS if args.proxy else args.steps
    jobs = [(label, overrides, seed) for label, overrides in variants.items() for seed in args.seeds]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        records = list(pool.map(lambda job: run_one(*job, steps, args.runs, args.device), jobs))
    body = table(records, variants)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    command = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_quality.py " + shlex.join(sys.argv[1:])
    args.out.write_text(f"# GHN quality (fmnist_cpu stream, no training of the nets)\n\nCommand: `{command}`\n\n"
                        f"{body}\n")
    print(body)


if __name__ == "__main__":
    main()
