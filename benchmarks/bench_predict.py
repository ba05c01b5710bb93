"""GHN prediction time and peak RSS per model, each model in a fresh process (so RSS includes imports).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_predict.py [--repeats 5] [--quick]
        [--out benchmarks/results/predict.md]

``predict``: median of ``--repeats`` calls of ``ghn(data)`` (all weights as a ``{name: tensor}`` dict, inference mode;
the graph is traced once beforehand and its time reported separately; the first call is not counted).
``init``: the model is allocated on CPU (``to_empty``, then zero-filled so its pages exist, as after a normal
construction; that first touch is reported separately) and ``ghn.init_(model)`` traces it and writes every weight
into it (timed once, tracing included). Peak RSS is ``ru_maxrss`` at the end; "x model" divides
it by the model's own float32 bytes. The GHN is the default :class:`GHNConfig` (randomly initialised: speed and memory do
not depend on training).
"""

from __future__ import annotations

import argparse
import statistics
import time

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


def _measure(spec: str, overrides: dict, mode: str, repeats: int, device: str) -> dict:
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
        times = []
        with torch.inference_mode():
            for _ in range(repeats + 1):
                start = time.perf_counter()
                predicted = ghn(data)
                _sync(device)
                times.append(time.perf_counter() - start)
                del predicted
        result["median_s"] = statistics.median(times[1:])
        result["complete"] = True
    result["peak_rss_mb"] = _rss_mb()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/predict.md")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--thp", action="store_true", help="let torch's CPU allocator use transparent huge pages")
    parser.add_argument("--device", default="cpu", help="where the GHN runs (cpu, cuda)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help=f"defaults for a fast check: {QUICK}")
    args = parse_args_with_quick(parser, QUICK)
    if args.child:
        import json
        import sys

        spec, overrides, mode, _ = MODELS[args.child]
        sys.stdout.write(json.dumps(_measure(spec, overrides, mode, args.repeats, args.device)) + "\n")
        return
    rows = ["| model | params | mode | GHN params | graph (s) | predict median (s) | GHN-3-T ref (s) | RSS before (MB) | "
            "peak RSS (MB) | x model bytes | target met |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    env = {"THP_MEM_ALLOC_ENABLE": "1"} if args.thp else {}
    for name in args.models:
        r = run_child(__file__, name, ["--repeats", str(args.repeats), "--device", args.device], env)
        ref = MODELS[name][3]
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
        " --thp" if args.thp else "") + (" --quick" if args.quick else "")
    notes = ("RSS before = peak RSS after imports, model construction on meta and tracing, before predicting. "
             "Targets: image models no slower than GHN-3-T (6.9M params) with a GHN of <= 3M parameters; GPT-2 small "
             "<= 0.5 s with peak RSS <= 1.5x its bytes; GPT-2-large with a GHN of <= 1/100 of its parameters, peak RSS "
             "<= 1.5x its bytes.")
    write_report(args.out, "GHN prediction benchmark", command, "\n".join(rows), notes)


if __name__ == "__main__":
    main()
