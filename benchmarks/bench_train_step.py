"""GHN training-step throughput per configuration, each configuration in a fresh process (so RSS includes imports).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train_step.py [--repeats 20] [--warmup 3] [--quick]
        [--cases deepnets_fmnist_s2 ...] [--ghns default ghn2_tiling ...] [--out benchmarks/results/train_step.md]

Each step is the real one: :class:`hypergen.train.module.GHNTrainingModule` under a ``lightning.pytorch.Trainer``
(CPU, gradient clipping at 5 as in ``conf/trainer/common.yaml``, no logger, progress bar, checkpoints or validation),
training the default :class:`~hypergen.ghn.GHNConfig` (``conf/ghn/default.yaml`` + ``conf/decoder/lowrank.yaml``) on
architectures of an :class:`hypergen.train.archs.ArchPool` and random inputs of the task's shape (speed does not
depend on the data). The pool holds ``repeats`` meta-batches, all traced before training starts, so the timed steps
(after ``--warmup`` steps) use every pool architecture once and never trace.

A step is timed from Lightning's ``on_train_batch_start`` to ``on_train_batch_end`` and split into: fetching the
meta-batch from the pool (cache hits), the GHN forward, the target nets' forwards (``forward_with``), the backward
through the target nets, the backward through the GHN (split where the last predicted weight receives its gradient:
the autograd engine runs the later-recorded target-net nodes first), gradient clipping + AdamW, and the rest (loss,
logging, zero_grad). Shares are of the summed time over the timed steps; the step time is their median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import parse_args_with_quick, run_child, write_report


@dataclass(frozen=True)
class TrainCase:
    """One training configuration.

    Attributes:
        family: architecture family (``hypergen.archs.list_families()``).
        input_shape: one input sample.
        num_classes: classifier outputs.
        meta_batch: architectures per step.
        batch_size: inputs per step (every net of the meta-batch sees all of them).
        param_bounds: ``(min, max)`` parameters of the training nets (``None``: the train split's).
        options: the family's sampling options.
        data: the dataset whose shape the inputs have (for the table only).
    """

    family: str
    input_shape: tuple[int, ...]
    num_classes: int
    meta_batch: int
    batch_size: int
    param_bounds: tuple[int, int] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    data: str = ""


CASES: dict[str, TrainCase] = {
    # conf/experiment/fmnist_cpu.yaml, with stride-2 stems (14x14 feature maps) and with stride-1 stems (28x28)
    "deepnets_fmnist_s2": TrainCase("deepnets", (1, 28, 28), 10, 4, 32, (5000, 40000), {"stem_stride": [2]},
                                    "Fashion-MNIST"),
    "deepnets_fmnist_s1": TrainCase("deepnets", (1, 28, 28), 10, 4, 32, (5000, 40000), {"stem_stride": [1]},
                                    "Fashion-MNIST"),
    "mlp_fmnist": TrainCase("mlp", (1, 28, 28), 10, 8, 64, data="Fashion-MNIST"),
    "cnn1d_mnist1d": TrainCase("cnn1d", (1, 40), 10, 8, 64, data="MNIST-1D"),
}

#: GHN configurations (``GHNConfig`` fields) compared with ``--ghns``: the library default, variants of its width and
#: depth measured in issue 15, and the README experiment before that issue (GHN-2's gated GNN, hidden 128, tiling).
GHNS: dict[str, dict[str, Any]] = {
    "default": {},
    # the default at half the width (GHN-3-T's hidden 64; issue 15's thirteenth round)
    "hidden64": {"hidden": 64},
    # twice the width, and one graph-transformer layer instead of three (fourteenth round)
    "hidden256": {"hidden": 256},
    "layers1": {"gnn_layers": 1},
    # the default decoder under GHN-2's gated GNN, one round of sweeps as in conf/ghn/ghn2.yaml (issue 15's
    # nineteenth to twenty-third rounds)
    "gated": {"gnn": "gated", "gnn_layers": 1},
    # conf/experiment/fmnist_cpu.yaml: conf/ghn/ghn2.yaml (one round) at hidden 128, tiling decoder, no node positions
    "ghn2_tiling": {"gnn": "gated", "gnn_layers": 1, "hidden": 128, "decoder": "tiling", "positional": False},
    # the same with three rounds of sweeps (the GHNConfig default for gnn_layers; this entry's name before 2026-12-04)
    "ghn2_tiling_r3": {"gnn": "gated", "hidden": 128, "decoder": "tiling"},
    "ghn2_lowrank": {"gnn": "gated", "gnn_layers": 1, "hidden": 128, "decoder": "lowrank"},
    "transformer_lowrank": {"decoder": "lowrank", "base": False, "positional": False},
}

#: Defaults of ``--quick`` (explicit options still win): fewer steps, two cases.
QUICK = {"repeats": 3, "warmup": 1, "cases": ["deepnets_fmnist_s2", "mlp_fmnist"]}

#: Step phases, in the order of the table's share columns.
PHASES = ("fetch", "ghn_forward", "nets_forward", "nets_backward", "ghn_backward", "optimizer")


class _PhaseClock:
    """Accumulates wall time per phase of the current training step.

    ``mark`` records instants (``step_start``, ``backward_start``, ``last_weight_grad``...), ``add`` sums
    durations of phases that happen several times per step (one target-net forward per architecture).
    """

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []
        self.instants: dict[str, float] = {}
        self.sums: dict[str, float] = {}

    def start_step(self) -> None:
        self.instants, self.sums = {"step_start": time.perf_counter()}, dict.fromkeys(PHASES, 0.0)

    def mark(self, name: str) -> None:
        self.instants[name] = time.perf_counter()

    def add(self, phase: str, seconds: float) -> None:
        self.sums[phase] += seconds

    def end_step(self) -> None:
        """Close the step: derive the backward split and the optimizer time from the marked instants."""
        t = {**self.instants, "step_end": time.perf_counter()}
        split = t.get("last_weight_grad", t["backward_start"])
        self.sums["nets_backward"] = split - t["backward_start"]
        self.sums["ghn_backward"] = t["backward_end"] - split
        self.sums["optimizer"] = t["step_end"] - t["backward_end"]
        self.steps.append({"step": t["step_end"] - t["step_start"], **self.sums})


def _timed(clock: _PhaseClock, phase: str, fn: Any) -> Any:
    """``fn`` with its wall time added to ``phase`` of the current step."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock.add(phase, time.perf_counter() - start)

    return wrapper


def _instrument(module: Any, clock: _PhaseClock) -> None:
    """Time the fetch, the GHN forward and the target-net forwards of ``module.training_step`` without changing it.

    ``forward_with`` is replaced in ``hypergen.train.module``'s namespace (where ``training_step`` looks it up); the
    GHN gets forward hooks, and a gradient hook on every predicted tensor marks when the GHN's backward begins.
    """
    import hypergen.train.module as module_file

    module.archs.batch = _timed(clock, "fetch", module.archs.batch)
    module_file.forward_with = _timed(clock, "nets_forward", module_file.forward_with)

    def before_ghn(*_: Any) -> None:
        clock.mark("ghn_start")

    def after_ghn(_module: Any, _inputs: Any, predictions: list[dict[str, Any]]) -> None:
        clock.add("ghn_forward", time.perf_counter() - clock.instants["ghn_start"])
        for params in predictions:
            for tensor in params.values():
                if tensor.requires_grad:
                    tensor.register_hook(lambda grad: clock.mark("last_weight_grad"))

    module.ghn.register_forward_pre_hook(before_ghn)
    module.ghn.register_forward_hook(after_ghn)


def _clock_callback(clock: _PhaseClock) -> Any:
    """A Lightning callback that opens, splits and closes ``clock``'s steps."""
    from lightning.pytorch.callbacks import Callback

    class PhaseClockCallback(Callback):
        def on_train_batch_start(self, *_: Any) -> None:
            clock.start_step()

        def on_before_backward(self, *_: Any) -> None:
            clock.mark("backward_start")

        def on_after_backward(self, *_: Any) -> None:
            clock.mark("backward_end")

        def on_train_batch_end(self, *_: Any) -> None:
            clock.end_step()

    return PhaseClockCallback()


def _random_loader(case: TrainCase, steps: int) -> Any:
    """A data loader of ``steps`` batches of random inputs and labels of the task's shape."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    generator = torch.Generator().manual_seed(0)
    n = steps * case.batch_size
    x = torch.randn(n, *case.input_shape, generator=generator)
    y = torch.randint(0, case.num_classes, (n,), generator=generator)
    return DataLoader(TensorDataset(x, y), batch_size=case.batch_size, shuffle=False)


def _measure(case: TrainCase, warmup: int, repeats: int, ghn_config: dict[str, Any]) -> dict[str, Any]:
    """Train ``warmup + repeats`` steps of ``case`` and time the last ``repeats``."""
    import logging
    import resource

    import torch

    from hypergen.compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # lightning imports torchvision (CPU torch + CUDA torchvision wheels)
    import lightning.pytorch as pl

    from hypergen.ghn import GHNConfig
    from hypergen.train.archs import ArchPool
    from hypergen.train.module import GHNTrainingModule

    torch.set_num_threads(1)
    torch.manual_seed(0)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    pool = ArchPool(case.family, case.input_shape, case.num_classes, seed=0, pool_size=case.meta_batch * repeats,
                    param_bounds=case.param_bounds, heldout_count=0, options=case.options)
    start = time.perf_counter()
    archs = [a for s in range(repeats) for a in pool.batch(s, meta_batch=case.meta_batch)]
    trace_s = (time.perf_counter() - start) / len(archs)
    steps = warmup + repeats
    module = GHNTrainingModule(GHNConfig(**ghn_config), pool, meta_batch=case.meta_batch, lr=1e-3, warmup_steps=0,
                               total_steps=steps)
    ready_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    clock = _PhaseClock()
    _instrument(module, clock)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=steps, max_epochs=-1, limit_val_batches=0,
                         num_sanity_val_steps=0, gradient_clip_val=5.0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[_clock_callback(clock)])
    trainer.fit(module, train_dataloaders=_random_loader(case, steps))
    timed = clock.steps[warmup:]
    if len(timed) != repeats:
        raise RuntimeError(f"expected {steps} training steps, Lightning ran {len(clock.steps)}")
    total = sum(s["step"] for s in timed)
    return {
        "step_s": statistics.median(s["step"] for s in timed), "min_step_s": min(s["step"] for s in timed),
        "shares": {p: sum(s[p] for s in timed) / total for p in PHASES},
        "trace_s": trace_s, "net_params": statistics.median(a.graph.num_params for a in archs),
        "ghn_params": module.ghn.num_parameters, "ready_rss_mb": ready_rss_mb,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


#: Table columns; the first eight and the last three are per case, the seven in between are shares of step time.
COLUMNS = ["case", "GHN", "family", "input", "nets x batch", "median params/net", "s/step (median)", "nets/s",
           "images/s",
           "fetch", "GHN fwd", "nets fwd", "nets bwd", "GHN bwd", "clip+AdamW", "other", "trace (ms/net)",
           "RSS before steps (MB)", "peak RSS (MB)"]
HEADER = ["| " + " | ".join(COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]


def _row(name: str, ghn: str, case: TrainCase, r: dict[str, Any]) -> str:
    """One table row of ``case``'s measurement ``r`` with the GHN configuration ``ghn``."""
    shares = [100 * r["shares"][p] for p in PHASES]
    cells = [name, f"{ghn} ({r['ghn_params'] / 1e6:.2f}M)", case.family + (f" {case.options}" if case.options else ""),
             f"{list(case.input_shape)} ({case.data})" if case.data else str(list(case.input_shape)),
             f"{case.meta_batch} x {case.batch_size}", f"{r['net_params'] / 1e3:.1f}K", f"{r['step_s']:.3f}",
             f"{case.meta_batch / r['step_s']:.1f}", f"{case.batch_size / r['step_s']:.0f}",
             *[f"{s:.0f}%" for s in shares], f"{max(0.0, 100 - sum(shares)):.0f}%", f"{1e3 * r['trace_s']:.0f}",
             f"{r['ready_rss_mb']:.0f}", f"{r['peak_rss_mb']:.0f}"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed steps (one per pool meta-batch)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "train_step.md"))
    parser.add_argument("--note", default="", help="a sentence added to the report (e.g. the machine's load)")
    parser.add_argument("--quick", action="store_true", help=f"defaults for a fast check: {QUICK}")
    parser.add_argument("--ghns", nargs="+", default=["default"], choices=list(GHNS),
                        help="GHN configurations to time side by side (each case with each)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--ghn-config", default="{}", help=argparse.SUPPRESS)
    args = parse_args_with_quick(parser, QUICK)
    if args.repeats < 1 or args.warmup < 0 or not args.cases:
        parser.error("--repeats must be >= 1, --warmup >= 0 and --cases must name at least one case")
    if args.child:
        sys.stdout.write(json.dumps(_measure(CASES[args.child], args.warmup, args.repeats,
                                             json.loads(args.ghn_config))) + "\n")
        return
    rows = list(HEADER)
    for name in args.cases:
        for ghn in args.ghns:  # configurations side by side, case by case (same machine load)
            r = run_child(__file__, name, ["--repeats", str(args.repeats), "--warmup", str(args.warmup),
                                           "--ghn-config", json.dumps(GHNS[ghn])])
            rows.append(_row(name, ghn, CASES[name], r))
            sys.stderr.write(rows[-1] + "\n")
    configs = "; ".join(f"{g}: GHNConfig({', '.join(f'{k}={v!r}' for k, v in GHNS[g].items())})" for g in args.ghns)
    notes = (f"GHNs: {configs}. Median of {args.repeats} steps after {args.warmup} warm-up "
             "step(s), one CPU thread, random inputs. nets/s = architectures trained per second; images/s = inputs "
             "per second (each input goes through every net of the meta-batch). Shares of step time: fetch = "
             "meta-batch from the pool (traced beforehand), GHN/nets fwd/bwd = forward and backward of the GHN and "
             "of the target nets (the backward is split where the last predicted weight receives its gradient), "
             "clip+AdamW = gradient clipping and the optimiser step, other = loss, logging and "
             "Lightning glue. trace = building and tracing a pool architecture once (not part of a step). RSS before "
             "steps = peak RSS after imports, tracing the pool and building the module.")
    command = (f"OMP_NUM_THREADS=1 python benchmarks/bench_train_step.py --repeats {args.repeats} "
               f"--warmup {args.warmup}" + (f" --cases {' '.join(args.cases)}" if args.cases != list(CASES) else "")
               + (f" --ghns {' '.join(args.ghns)}" if args.ghns != ["default"] else ""))
    write_report(args.out, "GHN training-step benchmark", command, "\n".join(rows),
                 notes + (f"\n\n{args.note}" if args.note else ""))
    sys.stdout.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
