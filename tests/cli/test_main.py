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


def test_create_ghn_and_init(tmp_path, capsys):
    from safetensors.torch import load_file

    from hypergen.ghn import load_ghn
    from hypergen.zoo import load_model

    ckpt, out = tmp_path / "ghn.safetensors", tmp_path / "w.safetensors"
    assert main(["create-ghn", "--out", str(ckpt), "--set", "hidden=32", "heads=4", "rank=8"]) == 0
    assert load_ghn(ckpt).config.rank == 8
    assert main(["init", "--ckpt", str(ckpt), "--model", "torchvision:resnet18", "--set", "num_classes=10",
                 "--out", str(out)]) == 0
    assert "predicted 62 tensors (11,181,642 scalars)" in capsys.readouterr().out
    weights = load_file(str(out))
    model = load_model("torchvision:resnet18", device="cpu", num_classes=10).model
    model.load_state_dict(weights, strict=False)  # BatchNorm buffers are not predicted
    assert {n for n, _ in model.named_parameters()} == set(weights)


def test_init_orthogonalize_saves_polar_factors(tmp_path):
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    from hypergen.apply import orthogonalize

    ckpt, raw, orth = (tmp_path / name for name in ("ghn.safetensors", "raw.safetensors", "orth.safetensors"))
    assert main(["create-ghn", "--out", str(ckpt), "--set", "hidden=32", "heads=4"]) == 0
    common = ["init", "--ckpt", str(ckpt), "--model", "torchvision:squeezenet1_1", "--set", "num_classes=10"]
    assert main([*common, "--out", str(raw)]) == 0
    assert main([*common, "--out", str(orth), "--orthogonalize"]) == 0
    raw_w, orth_w = load_file(str(raw)), load_file(str(orth))
    assert set(raw_w) == set(orth_w)
    for name, w in raw_w.items():
        expected = orthogonalize(w) if w.dim() >= 2 else w
        torch.testing.assert_close(orth_w[name], expected, rtol=1e-4, atol=1e-6)
    with safe_open(str(orth), "pt") as f:
        assert f.metadata()["orthogonalized"] == "true"


def test_init_errors(tmp_path):
    assert main(["init", "--ckpt", str(tmp_path / "none.safetensors"), "--model", "torchvision:resnet18",
                 "--out", str(tmp_path / "w.safetensors")]) == 2
    assert main(["create-ghn", "--out", str(tmp_path / "g.safetensors"), "--set", "hiden=3"]) == 2
