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
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    from hypergen.ghn import load_ghn
    from hypergen.zoo import load_model

    ckpt, out = tmp_path / "ghn.safetensors", tmp_path / "w.safetensors"
    assert main(["create-ghn", "--out", str(ckpt), "--set", "hidden=32", "heads=4", "rank=8"]) == 0
    assert load_ghn(ckpt).config.rank == 8
    assert main(["init", "--ckpt", str(ckpt), "--model", "torchvision:resnet18", "--set", "num_classes=10",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "predicted 62 tensors (11,181,642 scalars)" in printed
    assert "BatchNorm: running statistics of 20 BatchNorm layers reset to a fresh layer's" in printed
    weights = load_file(str(out))
    model = load_model("torchvision:resnet18", device="cpu", num_classes=10).model
    with torch.no_grad():  # a net that has run: its statistics belong to its old weights
        model.train()(torch.randn(4, 3, 64, 64) * 5 + 3)
    assert model.bn1.running_var.mean() > 1.05 and int(model.bn1.num_batches_tracked) == 1
    model.load_state_dict(weights, strict=True)  # the file is the whole state: parameters and BatchNorm statistics
    assert {n for n, _ in model.named_parameters()} | {n for n, _ in model.named_buffers()} == set(weights)
    assert (model.bn1.running_mean == 0).all() and (model.bn1.running_var == 1).all()
    assert int(model.bn1.num_batches_tracked) == 0
    with safe_open(str(out), "pt") as f:
        assert f.metadata()["batchnorm"].startswith("running statistics of 20 BatchNorm layers reset")


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
        if w.dtype != torch.float32 or name.endswith(("running_mean", "running_var")):
            continue  # BatchNorm statistics (squeezenet has none; kept general)
        expected = orthogonalize(w) if w.dim() >= 2 else w
        torch.testing.assert_close(orth_w[name], expected, rtol=1e-4, atol=1e-6)
    with safe_open(str(orth), "pt") as f:
        assert f.metadata()["orthogonalized"] == "true"


def test_init_errors(tmp_path, caplog):
    assert main(["init", "--ckpt", str(tmp_path / "none.safetensors"), "--model", "torchvision:resnet18",
                 "--out", str(tmp_path / "w.safetensors")]) == 2
    # --set typos and values of the wrong type: exit 2 with one line naming the key (no traceback, no file)
    for pair, message in [("hiden=3", "unknown GHNConfig key 'hiden'; did you mean 'hidden'?"),
                          ("hidden=abc", "GHNConfig.hidden must be of type int, got 'abc'")]:
        caplog.clear()
        assert main(["create-ghn", "--out", str(tmp_path / "g.safetensors"), "--set", pair]) == 2
        assert [r.getMessage().splitlines()[0] for r in caplog.records][0].startswith(message)
        assert all(r.exc_info is None for r in caplog.records)
    assert not (tmp_path / "g.safetensors").exists()


def _user_ghn_folder(tmp_path, monkeypatch):
    """A folder with one untrained GHN and its card, registered through $HYPERGEN_PRETRAINED_PATH."""
    import torch

    from hypergen.ghn import GHNConfig, GraphHyperNetwork, save_ghn

    folder = tmp_path / "ghns"
    torch.manual_seed(0)
    save_ghn(GraphHyperNetwork(GHNConfig(hidden=32, heads=4, base=True)), folder / "mine.safetensors")
    card = {"description": "an untrained GHN", "accuracy": {"test": 0.1},
            "data": {"name": "fashion_mnist", "input_shape": [1, 28, 28], "num_classes": 10},
            "archs": {"family": "deepnets", "seed": 0, "param_bounds": [5000, 40000],
                      "options": {"stem_stride": [2], "num_cells": [4, 8]}}}
    (folder / "mine.json").write_text(json.dumps(card))
    monkeypatch.setenv("HYPERGEN_PRETRAINED_PATH", str(folder))
    monkeypatch.setattr("hypergen.ghn.pretrained._DEFAULT", [])
    return folder


def test_pretrained_list_show_and_init_by_name(tmp_path, monkeypatch, capsys):
    _user_ghn_folder(tmp_path, monkeypatch)
    assert main(["pretrained"]) == 0
    assert "mine: an untrained GHN [held-out test top-1 10.0%]" in capsys.readouterr().out
    assert main(["pretrained", "--show", "mine"]) == 0
    assert json.loads(capsys.readouterr().out)["data"]["name"] == "fashion_mnist"
    out = tmp_path / "w.safetensors"
    assert main(["init", "--ghn", "mine", "--model", "torchvision:resnet18", "--set", "num_classes=10",
                 "--out", str(out)]) == 0
    assert out.is_file()
    assert main(["pretrained", "--show", "nobody"]) == 2


def test_predict_measures_heldout_and_zoo_nets_against_default_init(tmp_path, monkeypatch, capsys):
    _user_ghn_folder(tmp_path, monkeypatch)
    assert main(["predict", "--ghn", "mine", "--nets", "1", "--model", "timm:resnet18", "--images", "200"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("mine: test top-1 on 200 fashion_mnist test images, no training")
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"deepnets/test/0", "timm:resnet18"}
    for row in rows.values():
        predicted, default = float(row[2].rstrip("%")), float(row[3].rstrip("%"))
        assert 0.0 <= predicted <= 100.0 and 0.0 <= default <= 100.0
    assert rows["timm:resnet18"][1] == "11,175,370"  # adapted to 1 channel and 10 classes
    assert main(["predict", "--ghn", str(tmp_path / "ghns" / "mine.safetensors")]) == 2  # no card: says so


_MIXTRAL = ["--set", "num_hidden_layers=1", "hidden_size=32", "intermediate_size=64", "num_attention_heads=2",
            "num_key_value_heads=1", "vocab_size=100", "num_local_experts=2"]


def test_graph_of_hf_families_that_used_to_fail(capsys):
    assert main(["graph", "hf:whisper", "--set", "encoder_layers=1", "decoder_layers=1", "d_model=32",
                 "encoder_attention_heads=2", "decoder_attention_heads=2", "encoder_ffn_dim=64", "decoder_ffn_dim=64",
                 "vocab_size=100", "pad_token_id=0", "bos_token_id=0", "eos_token_id=0", "decoder_start_token_id=0",
                 "num_mel_bins=8", "max_source_positions=16", "max_target_positions=16"]) == 0
    assert "(100.00% of scalars)" in capsys.readouterr().out
    assert main(["graph", "hf:mixtral", *_MIXTRAL]) == 0  # meta, then the CPU (grouped_mm's meta kernel)
    assert "(100.00% of scalars)" in capsys.readouterr().out


def test_trace_error_hints_spell_command_line_options(caplog):
    assert main(["graph", "hf:mixtral", *_MIXTRAL, "--device", "meta"]) == 2
    message = caplog.records[-1].getMessage()
    assert "trace with --device cpu" in message and "--device auto" in message and "device='" not in message


def test_misspelt_hf_model_type_is_one_line_with_the_closest_names(caplog):
    assert main(["graph", "hf:gtp2"]) == 2
    message = caplog.records[-1].getMessage()
    assert len(message) < 300 and "\n" not in message  # was ~12,000 characters: every model type
    assert message.startswith("hf:gtp2: unknown model type 'gtp2' (closest: 'gpt2'")
    assert "`hypergen models hf`" in message


def test_models_lists_what_a_source_builds(capsys):
    assert main(["models", "hf", "--filter", "GPT_NEO"]) == 0
    assert capsys.readouterr().out.split() == ["gpt_neo", "gpt_neox", "gpt_neox_japanese"]
