"""``benchmarks/run_all.py``: one command that runs the benchmarks and writes a Markdown summary."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their helpers as top-level modules, as when run directly

import _harness  # noqa: E402
import run_all  # noqa: E402


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / "run_all.py"), *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=timeout, check=False)


def _table(markdown: str, first_header: str) -> list[dict[str, str]]:
    """Rows of the Markdown table whose first column is ``first_header``, as ``{column: cell}``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)))
    return rows


def test_every_registered_benchmark_script_exists() -> None:
    for name, bench in run_all.BENCHMARKS.items():
        assert (BENCHMARKS / bench.script).is_file(), name


def test_only_rejects_unknown_names_and_lists_the_known_ones(tmp_path: Path) -> None:
    proc = _run("--only", "trace,nope", "--out", str(tmp_path / "summary.md"), timeout=60)
    assert proc.returncode != 0
    assert "nope" in proc.stderr and all(name in proc.stderr for name in run_all.BENCHMARKS)
    assert not (tmp_path / "summary.md").exists()


def test_summary_has_machine_table_and_one_section_per_benchmark() -> None:
    report = "# Tracing benchmark\n\nCommand: `x`\n\n| model | s |\n|---|---|\n| a | 0.5 |\n"
    outcomes = [run_all.Outcome("trace", "python benchmarks/bench_trace.py --quick", 12.0, report=report),
                run_all.Outcome("archs", "python benchmarks/bench_archs.py", 3.0, error="exit status 1:\nboom")]
    text = run_all.render_summary({"torch": "2.0", "OMP_NUM_THREADS": "1"}, outcomes, "run_all.py", "a note")
    assert text.startswith("# Benchmark summary\n")
    assert "| torch | 2.0 |" in text and "| OMP_NUM_THREADS | 1 |" in text and "a note" in text
    assert "## trace: Tracing benchmark" in text and "# Tracing benchmark" not in text.replace("## trace: ", "")
    assert _table(text, "model") == [{"model": "a", "s": "0.5"}]
    assert "## archs:" in text and "**FAILED** (exit status 1:)" in text and "boom" in text


def test_quick_replaces_defaults_but_not_explicit_options(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", nargs="*", default=["a", "b", "c"])
    parser.add_argument("--quick", action="store_true")
    quick = {"repeats": 2, "models": ["a"]}
    monkeypatch.setattr(sys, "argv", ["x"])
    assert vars(_harness.parse_args_with_quick(parser, quick)) == {"repeats": 7, "models": ["a", "b", "c"],
                                                                   "quick": False}
    monkeypatch.setattr(sys, "argv", ["x", "--quick", "--repeats", "5"])
    assert vars(_harness.parse_args_with_quick(parser, quick)) == {"repeats": 5, "models": ["a"], "quick": True}


@pytest.mark.slow
def test_quick_train_step_summary_has_finite_positive_numbers(tmp_path: Path) -> None:
    out = tmp_path / "summary.md"
    proc = _run("--quick", "--only", "train_step", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "| OMP_NUM_THREADS | 1 |" in text and "## train_step: GHN training-step benchmark" in text
    rows = _table(text, "case")
    assert [r["case"] for r in rows] == ["deepnets_fmnist_s2", "mlp_fmnist"]
    for row in rows:
        step = float(row["s/step (median)"])
        assert math.isfinite(step) and step > 0
        nets, batch = (int(v) for v in row["nets x batch"].split(" x "))
        assert float(row["nets/s"]) == pytest.approx(nets / step, rel=0.05, abs=0.06)
        assert float(row["images/s"]) == pytest.approx(batch / step, rel=0.05, abs=0.6)
        shares = [float(row[c].rstrip("%")) for c in ("fetch", "GHN fwd", "nets fwd", "nets bwd", "GHN bwd",
                                                       "clip+AdamW", "other")]
        assert all(s >= 0 for s in shares) and sum(shares) == pytest.approx(100, abs=4)  # cells are rounded
        assert shares[1] > 0 and shares[2] > 0  # the GHN and the target nets both ran
        assert 0 < float(row["RSS before steps (MB)"]) <= float(row["peak RSS (MB)"])
