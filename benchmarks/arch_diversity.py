"""Diversity of sampled ``deepnets`` specs: depth, width, parameter count, cell sizes and op types.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/arch_diversity.py [--n 1000] [--heldout 100] [--trace]

Samples ``--n`` train specs for CIFAR-10 inputs (3x32x32, 10 classes, seed 0) and prints Markdown tables; with
``--heldout`` also a summary of that many specs of every other split; with ``--trace`` also traced graph sizes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from collections.abc import Sequence

from hypergen.archs import ArchSampler, count_params, list_splits, trace_spec
from hypergen.archs.deepnets import CELL_OPS

TASK = ((3, 32, 32), 10)


def _quantiles(values: Sequence[float]) -> list[float]:
    """min, 10%, 25%, median, 75%, 90%, max."""
    cuts = statistics.quantiles(values, n=20, method="inclusive")  # 5% steps
    return [min(values), cuts[1], cuts[4], statistics.median(values), cuts[14], cuts[17], max(values)]


def _fmt(value: float, unit: str) -> str:
    return f"{value / 1e3:.0f}K" if unit == "K" else f"{value:.0f}"


def _quantile_table(columns: dict[str, tuple[list[float], str]]) -> str:
    rows = ["| statistic | min | 10% | 25% | median | 75% | 90% | max | mean |", "|---|---|---|---|---|---|---|---|---|"]
    for name, (values, unit) in columns.items():
        cells = [_fmt(q, unit) for q in _quantiles(values)] + [_fmt(statistics.fmean(values), unit)]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _histogram(values: list[int], bins: list[tuple[int, int]], label: str, names: Sequence[str] = ()) -> str:
    names = names or [f"{lo}-{hi}" if lo != hi else f"{lo}" for lo, hi in bins]
    head = "| " + label + " | " + " | ".join(names) + " |"
    counts = [sum(lo <= v <= hi for v in values) for lo, hi in bins]
    return "\n".join([head, "|---" * (len(bins) + 1) + "|", "| nets | " + " | ".join(map(str, counts)) + " |"])


def _op_table(specs: list[dict]) -> str:
    edges: Counter[str] = Counter()
    nets_with: Counter[str] = Counter()
    for spec in specs:
        geno = spec["genotype"]
        ops = [op for kind in ("normal", "reduce") for node in geno[kind] for op, _ in node]
        edges.update(ops)
        nets_with.update(set(ops))
    total = sum(edges.values())
    rows = ["| op | share of cell edges | nets using it |", "|---|---|---|"]
    rows += [f"| {op} | {100 * edges[op] / total:.1f}% | {100 * nets_with[op] / len(specs):.1f}% |" for op in CELL_OPS]
    return "\n".join(rows)


def _split_summary(n: int) -> str:
    rows = ["| split | cells (min-max) | channels (min-max) | nodes/cell (min-max) | params median | params max |",
            "|---|---|---|---|---|---|"]
    for split in list_splits():
        specs = ArchSampler("deepnets", split, *TASK, seed=0).take(n)
        params = [count_params(s) for s in specs]
        cells = [s["num_cells"] for s in specs]
        channels = [s["channels"] for s in specs]
        nodes = [len(s["genotype"][k]) for s in specs for k in ("normal", "reduce")]
        rows.append(f"| {split} | {min(cells)}-{max(cells)} | {min(channels)}-{max(channels)} | "
                    f"{min(nodes)}-{max(nodes)} | {statistics.median(params) / 1e3:.0f}K | {max(params) / 1e6:.2f}M |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--heldout", type=int, default=0, help="specs per split for the split summary (0: skip)")
    parser.add_argument("--trace", action="store_true", help="also trace every spec and report graph sizes")
    args = parser.parse_args()
    specs = ArchSampler("deepnets", "train", *TASK, seed=0).take(args.n)
    params = [count_params(s) for s in specs]
    columns: dict[str, tuple[list[float], str]] = {
        "cells (depth)": ([s["num_cells"] for s in specs], ""),
        "channels (width)": ([s["channels"] for s in specs], ""),
        "nodes per normal cell": ([len(s["genotype"]["normal"]) for s in specs], ""),
        "nodes per reduction cell": ([len(s["genotype"]["reduce"]) for s in specs], ""),
        "parameters": (params, "K"),
    }
    if args.trace:
        columns["graph nodes (traced)"] = ([trace_spec(s)[1].num_nodes for s in specs], "")
    out = [f"{args.n} `deepnets` train specs, input 3x32x32, 10 classes, seed 0.\n", _quantile_table(columns), ""]
    out.append(_histogram([s["num_cells"] for s in specs], [(4, 6), (7, 9), (10, 12), (13, 15), (16, 18)], "cells"))
    out.append("")
    out.append(_histogram([s["channels"] for s in specs], [(8, 12), (16, 20), (24, 28), (32, 32)], "channels"))
    out.append("")
    bins = [(0, 49_999), (50_000, 199_999), (200_000, 499_999), (500_000, 999_999), (1_000_000, 2_000_000)]
    out.append(_histogram(params, bins, "parameters", ["<50K", "50K-200K", "200K-500K", "500K-1M", "1M-2M"]))
    out.append("")
    other = Counter()
    for s in specs:
        other[f"reductions={len(s['reduction_cells'])}"] += 1
        other[f"channel_multiplier={s['channel_multiplier']}"] += 1
        other[f"stem_layers={s['stem_layers']}"] += 1
        other[f"stem_stride={s['stem_stride']}"] += 1
        other[f"fc_layers={2 if s['fc_hidden'] else 1}"] += 1
    out.append("Other choices (nets): " + ", ".join(f"{k}: {v}" for k, v in sorted(other.items())))
    out.append("")
    out.append(_op_table(specs))
    out.append(f"\nDistinct specs: {len({str(s) for s in specs})} of {args.n}.")
    if args.heldout:
        out += ["", f"Splits ({args.heldout} specs each, same task and seed):", "", _split_summary(args.heldout)]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
