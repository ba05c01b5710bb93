"""Shared benchmark plumbing: run one measurement per fresh process and collect its JSON result."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["parse_args_with_quick", "run_child", "write_report"]


def run_child(script: str, name: str, extra_args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run ``script --child name *extra_args`` in a new interpreter and parse the JSON on its last stdout line.

    A fresh process per measurement makes peak RSS include imports and nothing from earlier measurements.
    """
    proc = subprocess.run([sys.executable, script, "--child", name, *extra_args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child {name!r} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_report(path: str | Path, title: str, command: str, table: str, notes: str = "") -> None:
    """Write a Markdown report with the command that produced it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = f"# {title}\n\nCommand: `{command}`\n\n{table}\n"
    path.write_text(body + (f"\n{notes}\n" if notes else ""))


def parse_args_with_quick(parser: argparse.ArgumentParser, quick: dict[str, Any]) -> argparse.Namespace:
    """Parse the command line; with ``--quick``, ``quick`` replaces the defaults of the options it names.

    Options given on the command line still win (``--quick --repeats 5`` runs 5 repeats), so ``--quick`` only makes
    the defaults cheaper. ``parser`` must define a ``--quick`` flag.
    """
    args = parser.parse_args()
    if not args.quick:
        return args
    # argparse leaves attributes already present on the namespace alone: they act as defaults
    return parser.parse_args(namespace=argparse.Namespace(**quick))
