"""GPT-2-small- and GPT-2-large-shaped language models: time and peak RSS of ``ghn.init_``, and held-out test loss of
the predicted weights next to default init and the corpus's unigram loss. Each model is measured in a fresh process.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_lm_scale.py --ghn runs/lm/ghn_best.safetensors \\
        --data-options context=64 vocab_size=2048 [--models gpt2-small hf-gpt2-small gpt2-large hf-gpt2-large] \\
        [--test-windows 16] [--out benchmarks/results/lm_scale.md]
    # before the "text" dataset exists: byte-level windows (vocabulary 256) of any text file
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_lm_scale.py --ghn FILE --byte-file README.md --context 64

Targets are built for the task's vocabulary ``V`` and context ``T``: ``gpt-*`` are our ``gpt`` family (pre-norm,
LayerNorm, learned positions, tied embeddings, MLP ratio 4) with GPT-2's depth, width and heads; ``hf-*`` are
``GPT2LMHeadModel(GPT2Config(vocab_size=V, n_positions=T, n_embd, n_layer, n_head))``. In each child process the model
is built on the CPU with its default init (seed 0), its test loss measured, then ``ghn.init_`` overwrites it (timed,
tracing included) and the test loss is measured again. Test loss: mean next-token cross-entropy (nats) over the first
``--test-windows`` windows of the test split. Unigram loss: the cross-entropy of the same test tokens under the
training split's token frequencies with add-one smoothing, the loss of a model that ignores context. Peak RSS is
``ru_maxrss`` at the end of the child (default-init construction and both forward passes included); "x model" divides
it by the model's float32 bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import run_child, write_report

#: name -> (source, depth, width, heads): GPT-2 small and large shapes, as our ``gpt`` family and as Hugging Face's.
MODELS: dict[str, tuple[str, int, int, int]] = {
    "gpt2-small": ("gpt", 12, 768, 12),
    "hf-gpt2-small": ("hf", 12, 768, 12),
    "gpt2-large": ("gpt", 36, 1280, 20),
    "hf-gpt2-large": ("hf", 36, 1280, 20),
}
#: The default selection: the GPT-2-large rows take minutes and ~10 GB; name them with --models to include them.
DEFAULT_MODELS = ["gpt2-small", "hf-gpt2-small"]
#: Windows per forward pass when measuring test loss (bounds activation memory).
EVAL_BATCH = 4


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["context=64", "vocab_size=2048", "tokenizer=bpe"]`` -> ``{"context": 64, ...}`` (ints where they parse)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--data-options: {pair!r} is not key=value (e.g. context=64 vocab_size=2048)")
        options[key] = int(value) if value.lstrip("-").isdigit() else value
    return options


def _text_task(options: dict[str, Any], windows: int) -> dict[str, Any]:
    """Test windows and training-token counts of the ``text`` dataset (``get_dataset_spec("text", **options)``)."""
    import torch

    from hypergen.data import get_dataset_spec, list_datasets

    if "text" not in list_datasets():
        raise SystemExit("the 'text' dataset is not registered in this checkout (hypergen/data/text.py lands with the "
                         "language-model data work); meanwhile pass --byte-file PATH for byte-level windows of a "
                         f"text file. Datasets here: {list_datasets()}")
    spec = get_dataset_spec("text", **options)
    if getattr(spec, "task", None) != "language_model":
        raise SystemExit(f"dataset 'text' has task {getattr(spec, 'task', None)!r}, expected 'language_model'")
    spec.prepare()
    test = spec.load("test")
    if len(test) < windows:
        raise SystemExit(f"the text test split has {len(test)} windows, fewer than --test-windows {windows}")
    pairs = [test[i] for i in range(windows)]
    vocab = int(spec.num_classes)
    counts = torch.zeros(vocab, dtype=torch.long)
    if callable(getattr(spec, "tokens", None)):  # the whole training token stream, when the spec exposes it
        counts += torch.bincount(torch.tensor(spec.tokens("train"), dtype=torch.long), minlength=vocab)
    else:
        for x, _ in spec.load("train"):
            counts += torch.bincount(x, minlength=vocab)
    return {"x": torch.stack([x for x, _ in pairs]), "y": torch.stack([y for _, y in pairs]), "counts": counts,
            "vocab": vocab, "context": int(spec.input_shape[0]), "data": f"text {options}"}


def _byte_task(path: Path, context: int, windows: int) -> dict[str, Any]:
    """Byte-level windows (vocabulary 256) of a text file: the last 10% of its bytes are the test split."""
    import torch

    ids = torch.tensor(list(path.read_bytes()), dtype=torch.long)
    cut = int(0.9 * len(ids))
    train, test = ids[:cut], ids[cut:]
    if len(test) < windows * context + 1:
        raise SystemExit(f"{path}: its last 10% has {len(test)} bytes, fewer than --test-windows x context + 1 = "
                         f"{windows * context + 1}; use a longer file or fewer/shorter windows")
    chunks = torch.stack([test[i * context:i * context + context + 1] for i in range(windows)])
    return {"x": chunks[:, :-1], "y": chunks[:, 1:], "counts": torch.bincount(train, minlength=256), "vocab": 256,
            "context": context, "data": f"bytes of {path} (last 10% held out)"}


def unigram_loss(counts: Any, targets: Any) -> float:
    """Cross-entropy (nats) of ``targets`` under token frequencies ``counts`` ``[V]`` with add-one smoothing."""
    probs = (counts.double() + 1) / (counts.sum().double() + counts.numel())
    return float(-probs.log()[targets.reshape(-1)].mean())


def _build(name: str, vocab: int, context: int, device: str) -> tuple[Any, Any]:
    """The model ``name`` for ``vocab`` tokens and ``context`` positions on ``device``, and how to trace it."""
    import torch

    source, depth, width, heads = MODELS[name]
    if source == "gpt":
        from hypergen.archs import build

        spec = {"family": "gpt", "input_shape": [context], "num_classes": vocab, "depth": depth, "width": width,
                "heads": heads, "mlp_ratio": 4.0, "norm": "ln", "pos_embedding": "learned", "tie_embeddings": True,
                "dense": False}
        return build(spec, device), lambda ids: ids
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=vocab, n_positions=context, n_embd=width, n_layer=depth, n_head=heads,
                        bos_token_id=vocab - 1, eos_token_id=vocab - 1)
    with torch.device(device):
        model = GPT2LMHeadModel(config)
    return model, lambda ids: {"input_ids": ids}


def _measure(name: str, ghn_path: str, task_path: str, orthogonalize: bool = False,
             keep_scale: bool = True) -> dict[str, Any]:
    import torch

    from hypergen import load_ghn
    from hypergen.evaluate.finetune import loss_and_accuracy

    torch.set_num_threads(1)
    task = torch.load(task_path)
    batches = [(task["x"][i:i + EVAL_BATCH], task["y"][i:i + EVAL_BATCH]) for i in range(0, len(task["x"]), EVAL_BATCH)]
    ghn = load_ghn(ghn_path).eval()
    torch.manual_seed(0)
    start = time.perf_counter()
    model, inputs = _build(name, task["vocab"], task["context"], "cpu")
    result: dict[str, Any] = {"build_s": time.perf_counter() - start, "ghn_params": ghn.num_parameters,
                              "params": sum(p.numel() for p in model.parameters())}
    result["model_mb"] = result["params"] * 4 / 2**20
    result["rss_built_mb"] = _rss_mb()
    result["loss_default"], result["acc_default"] = loss_and_accuracy(model, batches)
    start = time.perf_counter()
    report = ghn.init_(model, inputs(task["x"][:2]), orthogonalize=orthogonalize, keep_scale=keep_scale)
    result["init_s"] = time.perf_counter() - start
    result["not_predicted"] = len(report.not_predicted)
    result["loss_ghn"], result["acc_ghn"] = loss_and_accuracy(model, batches)
    result["peak_rss_mb"] = _rss_mb()
    return result


def _ppl(loss: float) -> str:
    """Perplexity ``exp(loss)``, in scientific notation once it is large."""
    if loss >= 700:
        return "inf"
    return f"{math.exp(loss):.0f}" if loss < math.log(1e5) else f"{math.exp(loss):.1e}"


def _row(name: str, r: dict[str, Any], unigram: float) -> str:
    return (f"| {name} | {r['params'] / 1e6:.1f}M | {r['ghn_params'] / 1e6:.2f}M | {r['build_s']:.1f} | "
            f"{r['init_s']:.2f} | {r['rss_built_mb']:.0f} | {r['peak_rss_mb']:.0f} | "
            f"{r['peak_rss_mb'] / r['model_mb']:.2f} | "
            f"{r['loss_ghn']:.3f} ({_ppl(r['loss_ghn'])}) | {r['loss_default']:.3f} ({_ppl(r['loss_default'])}) | "
            f"{unigram:.3f} | {100 * r['acc_ghn']:.1f} / {100 * r['acc_default']:.1f} | {r['not_predicted']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ghn", help="a GHN checkpoint (.safetensors) or a pretrained GHN's name")
    parser.add_argument("--data-options", nargs="*", default=[], metavar="KEY=VALUE",
                        help="options of get_dataset_spec('text', ...), e.g. context=64 vocab_size=2048")
    parser.add_argument("--byte-file", type=Path, help="instead of the text dataset: byte-level windows of this file")
    parser.add_argument("--context", type=int, default=64, help="window length with --byte-file")
    parser.add_argument("--test-windows", type=int, default=16, help="held-out windows the test loss is measured on")
    parser.add_argument("--models", nargs="*", default=DEFAULT_MODELS, choices=list(MODELS))
    parser.add_argument("--orthogonalize", action="store_true",
                        help="init_(orthogonalize=True): every predicted weight replaced by its polar factor")
    parser.add_argument("--no-keep-scale", action="store_true",
                        help="init_(keep_scale=False): predicted weights keep the GHN's scale even where it is wider "
                             "than the model's default init")
    parser.add_argument("--out", default="benchmarks/results/lm_scale.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--task-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.stdout.write(json.dumps(_measure(args.child, args.ghn, args.task_file, args.orthogonalize,
                                              not args.no_keep_scale)) + "\n")
        return
    if not args.ghn:
        raise SystemExit("--ghn is required: a GHN checkpoint (e.g. runs/<name>/ghn_best.safetensors)")
    import torch

    task = (_byte_task(args.byte_file, args.context, args.test_windows) if args.byte_file
            else _text_task(_parse_options(args.data_options), args.test_windows))
    unigram = unigram_loss(task["counts"], task["y"])
    rows = ["| model | params | GHN params | build + default init (s) | `init_` (s) | RSS after build (MB) | "
            "peak RSS (MB) | x model bytes | "
            "test loss: GHN (ppl) | test loss: default init (ppl) | unigram loss | token acc % GHN / default | "
            "not predicted |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        task_file = str(Path(tmp) / "task.pt")
        torch.save(task, task_file)
        for name in args.models:
            r = run_child(__file__, name, ["--ghn", args.ghn, "--task-file", task_file,
                                           *(["--orthogonalize"] if args.orthogonalize else []),
                                           *(["--no-keep-scale"] if args.no_keep_scale else [])])
            rows.append(_row(name, r, unigram))
            print(rows[-1], flush=True)  # noqa: T201 (progress of a command-line benchmark)
    data = (f"--byte-file {args.byte_file} --context {args.context}" if args.byte_file
            else f"--data-options {' '.join(args.data_options)}")
    command = (f"OMP_NUM_THREADS=1 python benchmarks/bench_lm_scale.py --ghn {args.ghn} {data} "
               f"--test-windows {args.test_windows} --models {' '.join(args.models)}"
               f"{' --orthogonalize' if args.orthogonalize else ''}{' --no-keep-scale' if args.no_keep_scale else ''}")
    notes = (f"Data: {task['data']}; vocabulary {task['vocab']}, context {task['context']}; test loss on "
             f"{args.test_windows} x {task['context']} held-out tokens (nats per token; ppl = exp). Unigram loss: "
             "training-split token frequencies with add-one smoothing. `gpt2-*`: our `gpt` family (tied "
             "embeddings, GPT-2's N(0, 0.02) init); `hf-gpt2-*`: "
             "`GPT2LMHeadModel` with n_positions = context. `init_` time includes tracing. RSS after build: after "
             "imports, loading the GHN and building the default-init model; peak RSS adds the default-init forward "
             "passes and `init_`.")
    write_report(args.out, "GHN init of GPT-2-shaped language models", command, "\n".join(rows), notes)


if __name__ == "__main__":
    main()
