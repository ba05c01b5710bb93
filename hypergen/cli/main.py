"""``hypergen`` command line: ``hypergen graph MODEL`` prints or exports a model's computation graph."""

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
    graph = trace_module(zoo.model, inputs, device=args.device, strict=not args.no_strict, name=args.model)
    text = EXPORT_FORMATS[args.format](graph)
    if args.out:
        Path(args.out).write_text(text + "\n")
        log.info("wrote %s graph of %s to %s", args.format, args.model, args.out)
        sys.stdout.write(EXPORT_FORMATS["summary"](graph) + "\n")
    else:
        sys.stdout.write(text + "\n")
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
    graph.add_argument("--device", default="meta", help="tracing device (default meta: no weights allocated)")
    graph.add_argument("--no-strict", action="store_true", help="warn instead of failing on unattached parameters")
    graph.set_defaults(func=_cmd_graph)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hypergen`` command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.func(args)
    except (ValueError, ImportError, RuntimeError) as err:
        log.error("%s", err)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
