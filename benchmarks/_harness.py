"""Shared benchmark plumbing: run one measurement per fresh process and collect its JSON result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["run_child", "write_report"]


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
