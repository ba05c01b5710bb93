"""Trace time and peak RSS per model, each model in a fresh process (so RSS includes imports).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_trace.py [--repeats 7] [--quick]
        [--out benchmarks/results/trace.md]

Time is the median of ``--repeats`` calls of ``trace_module`` + ``to_data`` on a model built on the meta device
(the first call, which warms caches, is not counted). Peak RSS is the process's ``ru_maxrss`` at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from _harness import parse_args_with_quick, run_child, write_report

# name -> (zoo spec, config overrides, reference GHN-3 graph-builder median seconds measured on this machine)
MODELS: dict[str, tuple[str, dict, float | None]] = {
    "resnet18": ("torchvision:resnet18", {}, 0.06),
    "resnet50": ("torchvision:resnet50", {}, 0.17),
    "vit_b_16": ("torchvision:vit_b_16", {}, 0.53),
    "convnext_tiny": ("torchvision:convnext_tiny", {}, 0.20),
    "efficientnet_b0": ("torchvision:efficientnet_b0", {}, 0.12),
    "mobilenet_v3_large": ("torchvision:mobilenet_v3_large", {}, 0.11),
    "gpt2-large": ("hf:gpt2:causal_lm", {"n_layer": 36, "n_embd": 1280, "n_head": 20}, None),
}

TARGETS = {"gpt2-large": (5.0, 600.0)}  # seconds, MB; others: reference time and 500 MB
#: Defaults of ``--quick`` (explicit options still win): two small models, two repeats.
QUICK = {"repeats": 2, "models": ["resnet18", "efficientnet_b0"]}


def _measure(spec: str, overrides: dict, repeats: int) -> dict:
    import resource

    import torch

    from hypergen import load_model, to_data, trace_module

    torch.set_num_threads(1)
    zoo = load_model(spec, **overrides)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        graph = trace_module(zoo.model, zoo.example_inputs)
        to_data(graph)
        times.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(times[1:]), "first_s": times[0], "nodes": graph.num_nodes,
        "params": graph.num_params, "coverage": graph.coverage.fraction,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "trace.md"))
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help=f"defaults for a fast check: {QUICK}")
    args = parse_args_with_quick(parser, QUICK)
    if args.child:
        spec, overrides = MODELS[args.child][:2]
        sys.stdout.write(json.dumps(_measure(spec, overrides, args.repeats)) + "\n")
        return
    rows = ["| model | params | nodes | coverage | trace+to_data median (s) | first call (s) | reference (s) | "
            "peak RSS (MB) | target met |", "|---|---|---|---|---|---|---|---|---|"]
    for name in args.models:
        r = run_child(__file__, name, ["--repeats", str(args.repeats)])
        ref = MODELS[name][2]
        max_s, max_mb = TARGETS.get(name, (ref, 500.0))
        ok = r["median_s"] <= max_s and r["peak_rss_mb"] <= max_mb
        rows.append(f"| {name} | {r['params'] / 1e6:.1f}M | {r['nodes']} | {100 * r['coverage']:.0f}% | "
                    f"{r['median_s']:.3f} | {r['first_s']:.3f} | {ref if ref is not None else '-'} | "
                    f"{r['peak_rss_mb']:.0f} | {'yes' if ok else 'NO'} (≤{max_s} s, ≤{max_mb:.0f} MB) |")
        sys.stderr.write(rows[-1] + "\n")
    table = "\n".join(rows)
    write_report(args.out, "Tracing benchmark",
                 f"OMP_NUM_THREADS=1 python benchmarks/bench_trace.py --repeats {args.repeats}"
                 + (" --quick" if args.quick else ""), table)
    sys.stdout.write(table + "\n")


if __name__ == "__main__":
    main()
