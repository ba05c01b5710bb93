"""summarize / write_report: exact numbers from known curves, and the files a comparison writes."""

import csv
import math

import pytest

from hypergen.evaluate import Curve, TargetResult, summarize, write_report
from hypergen.evaluate.report import REPORT_FILES, markdown_table, mean_curve, reference_table

NAN = math.nan


def _result(name, ghn, default, params=1000, similarity=None):
    steps = [0, 10, 20, 30]
    return TargetResult(name, params, curves={"ghn": Curve(steps, ghn, [NAN, 1.0, 0.8, 0.6]),
                                              "default": Curve(steps, default, [NAN, 2.0, 1.5, 1.0])},
                        similarity=similarity or {})


RESULTS = [
    _result("a", [0.70, 0.80, 0.85, 0.86], [0.10, 0.60, 0.75, 0.80],  # reaches 0.80 at step 10
            similarity={"ghn": 0.9, "default": 0.02}),
    _result("b", [0.50, 0.55, 0.60, 0.62], [0.10, 0.50, 0.60, 0.70], params=3000,  # never reaches 0.70
            similarity={"ghn": 0.5, "default": None}),
]


def test_summary_rows_per_target_and_mean():
    rows = summarize(RESULTS)
    assert [r["target"] for r in rows] == ["a", "b", "mean"]
    a, b, mean = rows
    assert (a["ghn_steps_to_default_final"], a["step_fraction"]) == (10, pytest.approx(1 / 3))
    assert (b["ghn_steps_to_default_final"], b["step_fraction"]) == (None, None)
    assert mean["params"] == 2000 and mean["steps"] == 30
    assert mean["acc0_ghn"] == pytest.approx(0.60) and mean["final_default"] == pytest.approx(0.75)
    # mean curves: GHN [0.60, 0.675, 0.725, 0.74], default final 0.75 -> never reached
    assert mean["ghn_steps_to_default_final"] is None
    assert mean_curve([r.curves["ghn"] for r in RESULTS]).acc == pytest.approx([0.60, 0.675, 0.725, 0.74])
    # similarity: the mean over targets that have one
    assert (a["similarity_ghn"], b["similarity_default"]) == (0.9, None)
    assert mean["similarity_ghn"] == pytest.approx(0.7) and mean["similarity_default"] == pytest.approx(0.02)


def test_mean_curve_needs_equal_steps():
    with pytest.raises(ValueError, match="different steps"):
        mean_curve([Curve([0, 10], [0.1, 0.2], [NAN, 1]), Curve([0, 20], [0.1, 0.2], [NAN, 1])])
    with pytest.raises(ValueError, match="no results"):
        summarize([])


def test_markdown_table_shows_percentages():
    table = markdown_table(summarize(RESULTS))
    assert "| a | 1,000 | 70.0 | 10.0 | 86.0 | 80.0 | 10 / 30 | 0.33 | 0.90 / 0.02 |" in table
    assert "| b | 3,000 | 50.0 | 10.0 | 62.0 | 70.0 | never / 30 | - | 0.50 / - |" in table
    assert "| **mean** | 2,000 |" in table


def test_write_report_writes_table_csvs_and_plot(tmp_path):
    paths = write_report(RESULTS, tmp_path / "out", "probe", "hypergen-eval run_dir=x", "settings line")
    assert {k: p.name for k, p in paths.items()} == REPORT_FILES
    md = paths["markdown"].read_text()
    assert md.startswith("# probe") and "`hypergen-eval run_dir=x`" in md and "settings line" in md
    with open(paths["summary"]) as f:
        assert [r["target"] for r in csv.DictReader(f)] == ["a", "b", "mean"]
    with open(paths["curves"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 4 and rows[0] == {"target": "a", "init": "ghn", "step": "0", "acc": "0.7",
                                                 "train_loss": ""}
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths["plot"].stat().st_size > 10_000


def _with_warm_start(result, acc):
    curves = {**result.curves, "warm10": Curve([0, 10, 20, 30], acc, [NAN, 1.0, 1.0, 1.0])}
    return TargetResult(result.name, result.params, curves=curves, similarity=result.similarity)


WARM = [_with_warm_start(RESULTS[0], [0.50, 0.70, 0.80, 0.85]),  # reaches a's default final 0.80 at step 20
        _with_warm_start(RESULTS[1], [0.40, 0.72, 0.75, 0.78])]  # reaches b's 0.70 at step 10


def test_warm_starts_get_their_own_columns_and_table(tmp_path):
    rows = summarize(WARM)
    a, b, mean = rows
    assert (a["acc0_warm10"], a["final_warm10"], a["warm10_steps_to_default_final"]) == (0.50, 0.85, 20)
    assert b["warm10_steps_to_default_final"] == 10
    # mean warm curve [0.45, 0.71, 0.775, 0.815] reaches the mean default final 0.75 at step 20
    assert mean["acc0_warm10"] == pytest.approx(0.45) and mean["warm10_steps_to_default_final"] == 20
    table = reference_table(rows, ["warm10"])
    assert "| GHN init | 60.0 | 74.0 | never / 30 | 1 / 2 |" in table  # a's GHN run reaches it at 10 <= 15
    assert "| default init trained 10 steps first | 45.0 | 81.5 | 20 / 30 | 1 / 2 |" in table
    paths = write_report(WARM, tmp_path, "warm", "cmd")
    with open(paths["summary"]) as f:
        header = next(csv.reader(f))
    assert header[-3:] == ["acc0_warm10", "final_warm10", "warm10_steps_to_default_final"]
    with open(paths["curves"]) as f:
        assert sum(1 for r in csv.DictReader(f) if r["init"] == "warm10") == 2 * 4
    assert "| default init trained 10 steps first |" in paths["markdown"].read_text()


def test_targets_with_different_warm_starts_are_rejected():
    with pytest.raises(ValueError, match="different warm starts"):
        summarize([WARM[0], RESULTS[1]])
