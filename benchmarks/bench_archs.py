"""Architectures sampled + built (meta) + traced per second, per family, on this CPU.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_archs.py [--n 30] [--quick] [--out benchmarks/results/archs.md]

For each family, ``--n`` train specs (after 2 warm-up specs) go through the pipeline a GHN training step needs:
``ArchSampler.sample`` (draws, hash-part and parameter-bound rejection, which builds each draw on ``meta`` to count
parameters), ``build(spec, "meta")``, ``trace_module`` (strict) and ``to_data`` (virtual edges up to distance 50).
Times are means per architecture, single-threaded; "cache hit" is ``ArchCache.get`` on an already traced spec.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from _harness import parse_args_with_quick

from hypergen.archs import ArchCache, ArchSampler, build, example_input
from hypergen.graph import trace_module
from hypergen.graph.data import to_data

# family -> (input_shape, num_classes): CIFAR images, MNIST-1D signals, 64-token contexts over a 256-symbol vocabulary
TASKS: dict[str, tuple[tuple[int, ...], int]] = {
    "deepnets": ((3, 32, 32), 10), "resnet": ((3, 32, 32), 10), "mobilenet": ((3, 32, 32), 10),
    "vit": ((3, 32, 32), 10), "gpt": ((64,), 256), "mlp": ((1, 40), 10), "cnn1d": ((1, 40), 10),
}
#: Defaults of ``--quick`` (explicit options still win): 5 specs per family.
QUICK = {"n": 5}


def _measure(family: str, n: int) -> dict[str, float]:
    shape, classes = TASKS[family]
    sampler = ArchSampler(family, "train", shape, classes, seed=0)
    times: dict[str, list[float]] = {"sample": [], "build": [], "trace": [], "to_data": []}
    params, nodes = [], []
    for i in range(n + 2):
        t0 = time.perf_counter()
        spec = sampler.sample(i)
        t1 = time.perf_counter()
        model = build(spec, "meta")
        t2 = time.perf_counter()
        graph = trace_module(model, example_input(spec, 2, "meta"))
        t3 = time.perf_counter()
        to_data(graph)
        t4 = time.perf_counter()
        if i < 2:
            continue
        for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            times[key].append(dt)
        params.append(graph.num_params)
        nodes.append(graph.num_nodes)
    cache = ArchCache()
    cache.get(spec)
    t0 = time.perf_counter()
    for _ in range(100):
        cache.get(spec)
    hit = (time.perf_counter() - t0) / 100
    mean = {key: statistics.fmean(v) for key, v in times.items()}
    pipeline = mean["sample"] + mean["build"] + mean["trace"]
    return {**mean, "per_s": 1 / pipeline, "per_s_data": 1 / (pipeline + mean["to_data"]), "hit": hit,
            "params": statistics.median(params), "nodes": statistics.median(nodes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="specs per family (after 2 warm-up specs)")
    parser.add_argument("--families", nargs="*", default=list(TASKS))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "archs.md"))
    parser.add_argument("--quick", action="store_true", help=f"defaults for a fast check: {QUICK}")
    args = parse_args_with_quick(parser, QUICK)
    torch.set_num_threads(1)
    rows = ["| family | input | median params | median nodes | sample (ms) | build meta (ms) | trace (ms) | "
            "to_data (ms) | **sampled+built+traced / s** | incl. to_data / s | cache hit (µs) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for family in args.families:
        r = _measure(family, args.n)
        shape, classes = TASKS[family]
        rows.append(f"| {family} | {list(shape)}, {classes} classes | {r['params'] / 1e3:.0f}K | {r['nodes']:.0f} | "
                    f"{1e3 * r['sample']:.1f} | {1e3 * r['build']:.1f} | {1e3 * r['trace']:.1f} | "
                    f"{1e3 * r['to_data']:.1f} | **{r['per_s']:.1f}** | {r['per_s_data']:.1f} | {1e6 * r['hit']:.0f} |")
        sys.stderr.write(rows[-1] + "\n")
    table = "\n".join(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        f"# Architecture-space benchmark\n\nCommand: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_archs.py "
        f"--n {args.n}{' --quick' if args.quick else ''}` (train split, seed 0, means over {args.n} specs, one CPU "
        f"thread; torch {torch.__version__}).\n\n{table}\n"
    )
    sys.stdout.write(table + "\n")


if __name__ == "__main__":
    main()
