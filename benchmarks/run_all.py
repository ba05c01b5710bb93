"""Run every speed/memory benchmark and write one Markdown summary, so runs can be compared.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/run_all.py [--quick] [--only trace,train_step]
        [--out benchmarks/results/summary.md] [--note "..."]

Each benchmark script (:data:`BENCHMARKS`) runs as its own subprocess with ``--out`` pointing into a temporary
directory (the committed ``benchmarks/results/<name>.md`` files are left alone) and, with ``--quick``, its own
``--quick`` defaults (a few minutes in all on one CPU core). The summary starts with the date, git commit and machine
(CPU count, load average, torch version, ``OMP_NUM_THREADS``), then each benchmark's report with its wall time. A
benchmark that fails is reported with its error and the others still run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass(frozen=True)
class Benchmark:
    """A benchmark script in ``benchmarks/`` that takes ``--out PATH`` and ``--quick`` and writes a Markdown report.

    Attributes:
        script: file name in ``benchmarks/``.
        measures: one line on what it measures (for the summary).
    """

    script: str
    measures: str


#: name -> benchmark, in the order they run. ``arch_diversity.py`` is not here: it reports statistics of sampled
#: architectures (which change only with the sampler), not speed or memory.
BENCHMARKS: dict[str, Benchmark] = {
    "trace": Benchmark("bench_trace.py", "trace + to_data time and peak RSS per zoo model"),
    "predict": Benchmark("bench_predict.py", "GHN prediction time and peak RSS per zoo model"),
    "archs": Benchmark("bench_archs.py", "architectures sampled + built + traced per second, per family"),
    "train_step": Benchmark("bench_train_step.py", "GHN training-step throughput and peak RSS per configuration"),
}


@dataclass
class Outcome:
    """What one benchmark run produced.

    Attributes:
        name: key in :data:`BENCHMARKS`.
        command: the command line, as run from the repository root.
        seconds: wall time.
        report: its Markdown report ("" when it failed).
        error: the tail of its stderr when it failed ("" otherwise).
    """

    name: str
    command: str
    seconds: float
    report: str = ""
    error: str = ""


def _git(*args: str) -> str:
    """Output of a read-only git command in the repository ("" where git or the repository is missing)."""
    try:
        proc = subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else :func:`platform.processor`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(env: dict[str, str]) -> dict[str, str]:
    """Date, commit and machine facts that the benchmarks' numbers depend on.

    Args:
        env: the environment the benchmarks run with (for ``OMP_NUM_THREADS``).

    Returns:
        ``{label: value}`` in display order.
    """
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if commit != "unknown" and _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git commit": commit,
        "CPU": f"{_cpu_model()}, {os.cpu_count()} logical CPUs ({usable} usable by this process)",
        "load average (1/5/15 min) at start": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "unset"),
    }


def run_benchmark(name: str, out: Path, quick: bool, env: dict[str, str], timeout: float) -> Outcome:
    """Run benchmark ``name`` writing its report to ``out``; never raises for a failing benchmark.

    Args:
        name: key in :data:`BENCHMARKS`.
        out: where the script writes its Markdown report.
        quick: pass ``--quick``.
        env: the subprocess's environment.
        timeout: seconds before the benchmark is stopped and reported as failed.
    """
    script = HERE / BENCHMARKS[name].script
    args = [str(script), "--out", str(out)] + (["--quick"] if quick else [])
    command = f"python {script.relative_to(ROOT)}" + (" --quick" if quick else "")
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return Outcome(name, command, time.perf_counter() - start, error=f"stopped after {timeout:.0f} s (--timeout)")
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or not out.exists():
        return Outcome(name, command, seconds, error=f"exit status {proc.returncode}:\n{proc.stderr[-3000:]}")
    return Outcome(name, command, seconds, report=out.read_text())


def _section(outcome: Outcome) -> str:
    """The summary's section for one benchmark: a heading with its name and title, then its report's body."""
    lines = outcome.report.strip().splitlines()
    title = lines.pop(0)[2:] if lines and lines[0].startswith("# ") else BENCHMARKS[outcome.name].measures
    head = f"## {outcome.name}: {title}\n\nRun as `{outcome.command}`, wall time {outcome.seconds:.0f} s.\n"
    if outcome.error:
        return f"{head}\n**FAILED** ({outcome.error.splitlines()[0]})\n\n```\n{outcome.error}\n```\n"
    return head + "\n".join(lines) + "\n"


def render_summary(info: dict[str, str], outcomes: list[Outcome], command: str, note: str = "") -> str:
    """The summary Markdown: a machine table, then one section per benchmark."""
    rows = ["| | |", "|---|---|", *(f"| {key} | {value} |" for key, value in info.items())]
    parts = ["# Benchmark summary", f"Command: `{command}`", "\n".join(rows)]
    if note:
        parts.append(note)
    parts += [_section(o) for o in outcomes]
    return "\n\n".join(p.strip() for p in parts) + "\n"


def _parse_only(text: str | None) -> list[str]:
    """Benchmark names of ``--only`` (all of them when not given)."""
    if not text:
        return list(BENCHMARKS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise SystemExit(f"--only: unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)} "
                         "(comma-separated, e.g. --only trace,train_step)")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark's cheaper --quick defaults")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", default=str(HERE / "results" / "summary.md"), help="the summary's path")
    parser.add_argument("--note", default="", help="a sentence added under the machine table (e.g. its load)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per benchmark")
    args = parser.parse_args()
    names = _parse_only(args.only)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    info = machine_info(env)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="hypergen-bench-") as parts:
        for name in names:
            outcome = run_benchmark(name, Path(parts) / f"{name}.md", args.quick, env, args.timeout)
            outcomes.append(outcome)
            status = "failed" if outcome.error else "done"
            sys.stderr.write(f"{name}: {status} in {outcome.seconds:.0f} s\n")
    info["load average (1/5/15 min) at end"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    command = "OMP_NUM_THREADS={} python benchmarks/run_all.py{}{}".format(
        env["OMP_NUM_THREADS"], " --quick" if args.quick else "", f" --only {','.join(names)}" if args.only else "")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_summary(info, outcomes, command, args.note))
    sys.stderr.write(f"summary written to {out}\n")
    if any(o.error for o in outcomes):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
