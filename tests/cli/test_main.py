import json
import subprocess
import sys

from hypergen.cli.main import main


def test_graph_summary(capsys):
    assert main(["graph", "torchvision:resnet18", "--set", "num_classes=10"]) == 0
    out = capsys.readouterr().out
    assert "model: torchvision:resnet18" in out
    assert "parameters: 11,181,642 in 62 tensors" in out  # resnet18 with a 10-class head
    assert "62/62 parameter tensors attached (100.00% of scalars)" in out
    assert "conv2d             20" in out


def test_graph_json_export(tmp_path, capsys):
    out_file = tmp_path / "g.json"
    assert main(["graph", "hf:gpt2:causal_lm", "--set", "n_layer=1", "n_embd=32", "n_head=2",
                 "--format", "json", "--out", str(out_file)]) == 0
    data = json.loads(out_file.read_text())
    assert data["params"]["transformer.wte.weight"]["aliases"] == ["lm_head.weight"]
    assert data["coverage"]["fraction"] == 1.0
    assert "coverage:" in capsys.readouterr().out


def test_custom_input_shape_and_errors(capsys):
    assert main(["graph", "torchvision:resnet18", "--input-shape", "2,3,32,32", "--format", "dot"]) == 0
    assert "n0 -> n1;" in capsys.readouterr().out
    assert main(["graph", "torchvision:resnet18", "--input-shape", "2,5,32,32"]) == 2  # wrong channels
    assert main(["graph", "nosuchsource:x"]) == 2


def test_console_script_is_installed():
    proc = subprocess.run([sys.executable, "-m", "hypergen.cli.main", "graph", "torchvision:squeezenet1_1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "52/52 parameter tensors attached" in proc.stdout
