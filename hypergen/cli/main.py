"""``hypergen`` command line.

- ``hypergen graph MODEL`` prints or exports a model's computation graph;
- ``hypergen create-ghn --out ghn.safetensors`` writes a new (untrained) GHN checkpoint;
- ``hypergen init --ghn NAME_OR_FILE --model MODEL --out weights.safetensors`` predicts a model's parameters.
- ``hypergen pretrained`` lists the pretrained GHNs; ``hypergen predict`` measures one on nets it never saw.
- ``hypergen models SOURCE`` lists the models a zoo source builds (``hf``: every model type).
"""

from __future__ import annotations

import argparse
import ast
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

__all__ = ["main", "build_parser"]

log = logging.getLogger("hypergen")


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # plain strings need no quotes: activation_function=gelu


def _kwargs(pairs: Sequence[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"hypergen: --set expects KEY=VALUE, got {pair!r}")
        out[key] = _parse_value(value)
    return out


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in text.replace("x", ",").split(",") if d)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--input-shape must look like 2,3,224,224, got {text!r}") from None


def _cmd_graph(args: argparse.Namespace) -> int:
    from hypergen.graph import trace_module
    from hypergen.graph.export import EXPORT_FORMATS
    from hypergen.zoo import load_model

    zoo = load_model(args.model, **_kwargs(args.set))
    inputs = args.input_shape if args.input_shape else zoo.example_inputs
    graph = trace_module(zoo.model, inputs, device=args.device, mode=args.mode, strict=not args.no_strict,
                         name=args.model)
    text = EXPORT_FORMATS[args.format](graph)
    if args.out:
        Path(args.out).write_text(text + "\n")
        log.info("wrote %s graph of %s to %s", args.format, args.model, args.out)
        sys.stdout.write(EXPORT_FORMATS["summary"](graph) + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


def _cmd_create_ghn(args: argparse.Namespace) -> int:
    import torch

    from hypergen.ghn import GHNConfig, GraphHyperNetwork, save_ghn

    torch.manual_seed(args.seed)
    ghn = GraphHyperNetwork(GHNConfig.from_dict(_kwargs(args.set)))
    save_ghn(ghn, args.out)
    sys.stdout.write(f"wrote {ghn.config.gnn}/{ghn.config.decoder} GHN with {ghn.num_parameters:,} parameters "
                     f"to {args.out}\n")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    import json

    import torch
    from safetensors.torch import save_file

    from hypergen.apply.batchnorm import batchnorm_default_state
    from hypergen.ghn import load_ghn
    from hypergen.graph import trace_module
    from hypergen.zoo import load_model

    ghn = load_ghn(args.ghn, map_location=args.ghn_device).eval()
    zoo = load_model(args.model, **_kwargs(args.set))
    inputs = args.input_shape if args.input_shape else zoo.example_inputs
    graph = trace_module(zoo.model, inputs, device=args.device, mode=args.mode, strict=False, registry=ghn.registry,
                         name=args.model)
    with torch.inference_mode():
        predicted = {name: t.to("cpu").contiguous() for name, t in ghn(graph).items()}
        if args.orthogonalize:
            from hypergen.apply import orthogonalize_

            orthogonalize_(predicted.values())
    # parameters alone would leave a BatchNorm net's running statistics to whatever the loading model has (stale
    # ones, estimated for other weights, in a net that has run): the file carries a fresh layer's instead
    batchnorm = batchnorm_default_state(zoo.model)
    layers = sum(name.endswith("running_mean") for name in batchnorm)
    batchnorm_note = (f"running statistics of {layers} BatchNorm layers reset to a fresh layer's (mean 0, var 1, "
                      "count 0); re-estimate them on a few batches (hypergen.apply.recalibrate_batchnorm) before "
                      "eval-mode use") if layers else "no BatchNorm layers"
    metadata = {"model": args.model, "ghn": str(args.ghn), "not_predicted": json.dumps(graph.coverage.missing),
                "orthogonalized": str(bool(args.orthogonalize)).lower(), "batchnorm": batchnorm_note}
    save_file({**predicted, **batchnorm}, args.out, metadata=metadata)
    numel = sum(t.numel() for t in predicted.values())
    sys.stdout.write(f"{args.model}: predicted {len(predicted)} tensors ({numel:,} scalars) -> {args.out}\n")
    sys.stdout.write(f"  BatchNorm: {batchnorm_note}\n")
    for name, reason in graph.coverage.missing.items():
        sys.stdout.write(f"  not predicted: {name} ({reason})\n")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from hypergen.zoo import list_models

    names = [n for n in list_models(args.source) if args.filter is None or args.filter.lower() in n.lower()]
    sys.stdout.write("".join(f"{n}\n" for n in names))
    return 0


def _cli_option(name: str, value: str) -> str:
    """``--device cpu``: how options are spelled in hints shown by the command line."""
    return f"--{name} {value}"


def _add_trace_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto",
                        help="tracing device: auto (default: meta, no weights allocated; the CPU with stand-in weights "
                             "only if the forward cannot run on meta), meta, cpu or cuda")
    parser.add_argument("--mode", choices=["train", "eval", "keep"], default="train",
                        help="training mode the forward is traced in (default train: training-only branches too)")


#: The GHN ``hypergen predict`` uses unless told otherwise.
DEFAULT_GHN = "fmnist-deepnets-lowrank"


def _cmd_pretrained(args: argparse.Namespace) -> int:
    import json

    from hypergen.ghn.pretrained import default_pretrained

    registry = default_pretrained()
    if args.show:
        entry = registry.get(args.show)
        sys.stdout.write(json.dumps({"name": entry.name, "source": entry.source, **entry.card}, indent=2) + "\n")
        return 0
    entries = registry.entries()
    if not entries:
        sys.stdout.write("no pretrained GHNs (add a folder of <name>.safetensors with $HYPERGEN_PRETRAINED_PATH)\n")
    for entry in entries:
        accuracy = entry.card.get("accuracy", {}).get("test")
        measured = f" [held-out test top-1 {100 * accuracy:.1f}%]" if accuracy is not None else ""
        sys.stdout.write(f"{entry.name}: {entry.description}{measured}\n")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from hypergen.evaluate.predict import predict_accuracy
    from hypergen.ghn import load_ghn
    from hypergen.ghn.pretrained import default_pretrained

    registry = default_pretrained()
    if args.ghn not in registry:
        raise ValueError(f"--ghn {args.ghn!r}: hypergen predict needs a registered GHN with a model card (it says "
                         "which data and architectures to measure on); `hypergen pretrained` lists them")
    card = registry.get(args.ghn).card
    ghn = load_ghn(args.ghn)
    results = predict_accuracy(ghn, card, split=args.split, nets=args.nets, models=args.model, images=args.images)
    data = card["data"]
    sys.stdout.write(f"{args.ghn}: test top-1 on {args.images} {data['name']} test images, no training "
                     "(BatchNorm statistics of both inits re-estimated on 2 training batches)\n")
    width = max(len(r.name) for r in results)
    sys.stdout.write(f"{'net':<{width}}  {'params':>9}  {'predicted':>9}  {'default init':>12}\n")
    for r in results:
        sys.stdout.write(f"{r.name:<{width}}  {r.params:>9,}  {100 * r.predicted:>8.1f}%  {100 * r.default:>11.1f}%\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hypergen`` command."""
    parser = argparse.ArgumentParser(prog="hypergen", description="Graph hypernetworks: trace, predict, initialise.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    graph = sub.add_parser("graph", help="trace a model and print or export its computation graph")
    graph.add_argument("model", help="zoo spec: torchvision:resnet50, timm:convnext_tiny, hf:gpt2:causal_lm")
    graph.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                       help="builder/config overrides, e.g. num_classes=10 or n_layer=2")
    graph.add_argument("--input-shape", type=_shape, help="input shape instead of the model's default, e.g. 2,3,64,64")
    graph.add_argument("--format", choices=["summary", "json", "dot"], default="summary")
    graph.add_argument("--out", help="write the export to this file (the summary still goes to stdout)")
    _add_trace_options(graph)
    graph.add_argument("--no-strict", action="store_true", help="warn instead of failing on unattached parameters")
    graph.set_defaults(func=_cmd_graph)

    create = sub.add_parser("create-ghn", help="write a new, untrained GHN checkpoint")
    create.add_argument("--out", required=True, help="checkpoint path (.safetensors)")
    create.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="GHNConfig fields, e.g. hidden=64 gnn=gated decoder=tiling rank=16")
    create.add_argument("--seed", type=int, default=0, help="seed of the GHN's random initialisation")
    create.set_defaults(func=_cmd_create_ghn)

    init = sub.add_parser("init", help="predict all parameters of a model and save them as safetensors")
    init.add_argument("--ghn", "--ckpt", dest="ghn", required=True,
                      help="a pretrained GHN's name (hypergen pretrained), a checkpoint (.safetensors) or a URL")
    init.add_argument("--model", required=True, help="zoo spec: torchvision:resnet50, timm:..., hf:gpt2:causal_lm")
    init.add_argument("--out", required=True,
                      help="where to write {parameter name: tensor} and BatchNorm running statistics at a fresh "
                      "layer's values (.safetensors)")
    init.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="builder/config overrides")
    init.add_argument("--input-shape", type=_shape, help="input shape for tracing, e.g. 2,3,32,32")
    init.add_argument("--ghn-device", default="cpu", help="device the GHN runs on (cpu, cuda)")
    _add_trace_options(init)
    init.add_argument("--orthogonalize", action="store_true",
                      help="save each predicted weight's polar factor (for fine-tuning; docs/evaluation.md)")
    init.set_defaults(func=_cmd_init)

    pretrained = sub.add_parser("pretrained", help="list the pretrained GHNs (shipped and $HYPERGEN_PRETRAINED_PATH)")
    pretrained.add_argument("--show", metavar="NAME", help="print one GHN's model card")
    pretrained.set_defaults(func=_cmd_pretrained)

    predict = sub.add_parser("predict", help="predict weights of nets the GHN never saw; test accuracy, no training, "
                                             "next to default init")
    predict.add_argument("--ghn", default=DEFAULT_GHN, help=f"pretrained GHN name, checkpoint or URL "
                                                            f"(default {DEFAULT_GHN})")
    predict.add_argument("--split", default="test", help="architecture split of the held-out nets (test, wide, deep)")
    predict.add_argument("--nets", type=int, default=4, help="how many held-out nets")
    predict.add_argument("--model", action="append", default=[], metavar="SPEC",
                         help="also a zoo model adapted to the GHN's task, e.g. timm:resnet18 (repeatable)")
    predict.add_argument("--images", type=int, default=2000, help="test images")
    predict.set_defaults(func=_cmd_predict)

    models = sub.add_parser("models", help="list the models a zoo source builds (hf: every model type)")
    models.add_argument("source", help="zoo source: torchvision, timm or hf")
    models.add_argument("--filter", help="only names containing this text (case-insensitive)")
    models.set_defaults(func=_cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hypergen`` command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not args.verbose:  # per-net progress lines of long commands (BatchNorm re-estimation...) only with -v
        for name in ("hypergen.apply", "hypergen.evaluate"):
            logging.getLogger(name).setLevel(logging.WARNING)
    from hypergen.graph import TraceError

    try:
        return args.func(args)
    except TraceError as err:
        log.error("%s", err.describe(_cli_option))
        return 2
    except (ValueError, ImportError, RuntimeError, KeyError, FileNotFoundError) as err:
        log.error("%s", err)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
