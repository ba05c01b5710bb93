"""Examples run (fast settings) so they cannot rot."""

import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_trace_model_example(capsys):
    runpy.run_path(str(EXAMPLES / "trace_model.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert out.count("coverage: ") == 3 and "(100.00% of scalars)" in out
    assert "virtual_edge_index" in out


def test_init_model_example(capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["init_model.py"])
    runpy.run_path(str(EXAMPLES / "init_model.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "ResNet: 62 parameter tensors (11,181,642 scalars) predicted, 0 kept their values" in out
    assert "GPT2LMHeadModel:" in out and "checkpoint round trip identical: True" in out
