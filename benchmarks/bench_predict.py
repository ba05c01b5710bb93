"""GHN prediction time and peak RSS per model, each model in a fresh process (so RSS includes imports).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_predict.py [--repeats 5] [--quick] [--profile 8]
        [--out benchmarks/results/predict.md]

``predict``: median of ``--repeats`` calls of ``ghn(data)`` (all weights as a ``{name: tensor}`` dict, inference mode;
the graph is traced once beforehand and its time reported separately; the first call is not counted).
``init``: the model is allocated on CPU (``to_empty``, then zero-filled so its pages exist, as after a normal
construction; that first touch is reported separately) and ``ghn.init_(model)`` traces it and writes every weight
into it (timed once, tracing included). Peak RSS is ``ru_maxrss`` at the end; "x model" divides
it by the model's own float32 bytes. The GHN is the default :class:`GHNConfig` (randomly initialised: speed and memory do
not depend on training).
``--profile N``: one more call of ``ghn(data)`` under ``torch.profiler`` (CPU) per predicted model, and a second table with
its ``N`` ops of most self CPU time (where to look before optimising).
``--floor``: per predicted model, a third table of what any GHN whose decoder is low-rank must spend here, without a GHN
(median of ``--repeats``, the same fresh tensors ``ghn(data)`` returns): writing every parameter once (the floor of
any predictor, GHN-3-T's tiling included), forming every matrix and kernel as a rank-``r + 1`` product of factors (the
core decoder's product with its base scale, ``r`` = the default ``GHNConfig().rank``), and drawing the seeded base.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

from _harness import parse_args_with_quick, run_child, write_report

# name -> (zoo spec, config overrides, mode, reference median seconds of GHN-3-T measured here with the reference code)
MODELS: dict[str, tuple[str, dict, str, float | None]] = {
    "resnet50": ("torchvision:resnet50", {}, "predict", 0.06),
    "vit_b_16": ("torchvision:vit_b_16", {}, "predict", 0.09),
    "convnext_tiny": ("torchvision:convnext_tiny", {}, "predict", 0.07),
    "efficientnet_b0": ("torchvision:efficientnet_b0", {}, "predict", 0.08),
    "gpt2-small": ("hf:gpt2:causal_lm", {}, "predict", None),
    "gpt2-large": ("hf:gpt2:causal_lm", {"n_layer": 36, "n_embd": 1280, "n_head": 20}, "init", None),
}
# name -> (max seconds, max peak RSS as a multiple of the model's bytes); image models: the reference's time
TARGETS = {"gpt2-small": (0.5, 1.5), "gpt2-large": (None, 1.5)}
#: Defaults of ``--quick`` (explicit options still win): one image model and GPT-2 small, two repeats.
QUICK = {"repeats": 2, "models": ["resnet50", "gpt2-small"]}


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _profile(ghn: object, data: object, top: int) -> list[tuple[str, float, float]]:
    """``(op, self CPU ms, share of the call)`` of the ``top`` ops of one profiled ``ghn(data)``."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        ghn(data)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [(e.key, e.self_cpu_time_total / 1e3, e.self_cpu_time_total / total) for e in events[:top]]


def _floor_makers(model: object, rank: int) -> dict[str, Callable[[], list]]:
    """Three ways of producing ``model``'s parameters as fresh tensors, with no GHN: ``write_s`` (allocate and fill
    each), ``product_s`` (matrices and kernels as a rank-``rank`` product of fixed random factors, the rest filled)
    and ``draw_s`` (matrices and kernels drawn uniformly in [-1, 1) from one generator, as the seeded base)."""
    import torch

    shapes = [tuple(p.shape) for p in model.parameters()]
    flat = {s: (s[0], math.prod(s[1:])) for s in shapes if len(s) >= 2}
    factors = {s: (torch.randn(n, rank), torch.randn(rank, m)) for s, (n, m) in flat.items()}

    def filled(shape: tuple) -> object:
        return torch.empty(shape).fill_(0.5)

    def write() -> list:
        return [filled(s) for s in shapes]

    def product() -> list:
        return [torch.mm(*factors[s]).view(s) if s in flat else filled(s) for s in shapes]

    def draw() -> list:
        generator = torch.Generator().manual_seed(0)
        return [torch.empty(s).uniform_(-1, 1, generator=generator) if s in flat else filled(s) for s in shapes]

    return {"write_s": write, "product_s": product, "draw_s": draw}


def _median_seconds(call: Callable[[], object], repeats: int, device: str = "cpu") -> float:
    """Median wall time of ``repeats`` calls of ``call`` after one uncounted call; each result is dropped before the
    next call, so every call writes fresh tensors as a user's would."""
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        made = call()
        _sync(device)
        times.append(time.perf_counter() - start)
        del made
    return statistics.median(times[1:])


def _floor(model: object, rank: int, repeats: int) -> dict[str, float]:
    """Median seconds of each of :func:`_floor_makers` (:func:`_median_seconds`)."""
    return {name: _median_seconds(make, repeats) for name, make in _floor_makers(model, rank).items()}


def _measure(spec: str, overrides: dict, mode: str, repeats: int, device: str, profile_top: int = 0,
             floor: bool = False) -> dict:
    import torch

    from hypergen import GraphHyperNetwork, load_model, to_data, trace_module

    torch.set_num_threads(1)
    torch.manual_seed(0)
    ghn = GraphHyperNetwork().eval().to(device)
    zoo = load_model(spec, **overrides)
    model_mb = sum(p.numel() for p in zoo.model.parameters()) * 4 / 2**20
    result = {"ghn_params": ghn.num_parameters, "model_params": sum(p.numel() for p in zoo.model.parameters()),
              "model_mb": model_mb}
    start = time.perf_counter()
    data = to_data(trace_module(zoo.model, zoo.example_inputs))
    result["graph_s"] = time.perf_counter() - start
    result["rss_before_mb"] = _rss_mb()
    if mode == "init":
        model = zoo.model.to_empty(device=device)
        start = time.perf_counter()
        for p in model.parameters():
            p.data.zero_()
        result["allocate_s"] = time.perf_counter() - start
        start = time.perf_counter()
        report = ghn.init_(model, zoo.example_inputs)
        _sync(device)
        result["median_s"] = time.perf_counter() - start
        result["complete"] = report.complete
    else:
        with torch.inference_mode():
            result["median_s"] = _median_seconds(lambda: ghn(data), repeats, device)
        result["complete"] = True
    result["peak_rss_mb"] = _rss_mb()
    if profile_top and mode == "predict":  # after the RSS reading: the profiler's own memory is not the GHN's
        result["profile"] = _profile(ghn, data, profile_top)
    if floor and mode == "predict":  # main() refuses --floor on other devices
        result["rank"] = ghn.config.rank + 1
        result["floor"] = _floor(zoo.model, result["rank"], repeats)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/predict.md")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--thp", action="store_true", help="let torch's CPU allocator use transparent huge pages")
    parser.add_argument("--device", default="cpu", help="where the GHN runs (cpu, cuda)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also profile one call per predicted model and report its N ops of most self CPU time")
    parser.add_argument("--floor", action="store_true",
                        help="also time writing the parameters, a rank-(r+1) product and the base's draws, no GHN")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help=f"defaults for a fast check: {QUICK}")
    args = parse_args_with_quick(parser, QUICK)
    if args.floor and args.device != "cpu":
        parser.error(f"--floor times CPU tensors; run it without --device {args.device}")
    if args.child:
        import json
        import sys

        spec, overrides, mode, _ = MODELS[args.child]
        result = _measure(spec, overrides, mode, args.repeats, args.device, args.profile, args.floor)
        sys.stdout.write(json.dumps(result) + "\n")
        return
    rows = ["| model | params | mode | GHN params | graph (s) | predict median (s) | GHN-3-T ref (s) | RSS before (MB) | "
            "peak RSS (MB) | x model bytes | target met |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    env = {"THP_MEM_ALLOC_ENABLE": "1"} if args.thp else {}
    profiles = ["| model | op | self CPU (ms) | share of the call |", "|---|---|---|---|"]
    floors = ["| model | predict median (s) | write every parameter (s) | rank-(r+1) products (s) | base draws (s) | "
              "GHN-3-T ref (s) |", "|---|---|---|---|---|---|"]
    for name in args.models:
        r = run_child(__file__, name, ["--repeats", str(args.repeats), "--device", args.device,
                                       "--profile", str(args.profile)] + (["--floor"] if args.floor else []), env)
        profiles += [f"| {name} | `{op}` | {ms:.1f} | {share:.0%} |" for op, ms, share in r.get("profile", [])]
        ref = MODELS[name][3]
        if "floor" in r:
            f = r["floor"]
            floors.append(f"| {name} | {r['median_s']:.3f} | {f['write_s']:.3f} | {f['product_s']:.3f} (r + 1 = "
                          f"{r['rank']}) | {f['draw_s']:.3f} | {ref if ref else '-'} |")
        max_s, max_ratio = TARGETS.get(name, (ref, None))
        ratio = r["peak_rss_mb"] / r["model_mb"]
        ok = (max_s is None or r["median_s"] <= max_s) and (max_ratio is None or ratio <= max_ratio)
        ok = ok and r["ghn_params"] <= (3_000_000 if ref else r["model_params"] / 100)
        target = ", ".join(t for t in (f"≤{max_s} s" if max_s else "", f"≤{max_ratio}x" if max_ratio else "") if t)
        rows.append(f"| {name} | {r['model_params'] / 1e6:.1f}M | {MODELS[name][2]} | {r['ghn_params'] / 1e6:.2f}M | "
                    f"{r['graph_s']:.3f} | {r['median_s']:.3f} | {ref if ref else '-'} | {r['rss_before_mb']:.0f} | "
                    f"{r['peak_rss_mb']:.0f} | "
                    f"{ratio:.2f} | {'yes' if ok else 'NO'} ({target}) |")
        print(rows[-1], flush=True)  # noqa: T201 (progress of a command-line benchmark)
    command = f"OMP_NUM_THREADS=1 python benchmarks/bench_predict.py --repeats {args.repeats} --device {args.device}" + (
        " --thp" if args.thp else "") + (" --quick" if args.quick else "") + (
        f" --profile {args.profile}" if args.profile else "") + (" --floor" if args.floor else "")
    notes = ("RSS before = peak RSS after imports, model construction on meta and tracing, before predicting. "
             "Targets: image models no slower than GHN-3-T (6.9M params) with a GHN of <= 3M parameters; GPT-2 small "
             "<= 0.5 s with peak RSS <= 1.5x its bytes; GPT-2-large with a GHN of <= 1/100 of its parameters, peak RSS "
             "<= 1.5x its bytes.")
    if len(profiles) > 2:
        notes += ("\n\nWhere the time goes: one more call per model under `torch.profiler` (CPU; the profiler adds "
                  "its own overhead), the ops of most self CPU time:\n\n" + "\n".join(profiles))
    if len(floors) > 2:
        notes += ("\n\nThe floor of a low-rank decoder here, no GHN (`--floor`, same fresh tensors, median of the "
                  "repeats): writing every parameter once, every matrix and kernel as a rank-(r+1) product, and the "
                  "seeded base's draws:\n\n" + "\n".join(floors))
    write_report(args.out, "GHN prediction benchmark", command, "\n".join(rows), notes)


if __name__ == "__main__":
    main()
