"""Examples run (fast settings) so they cannot rot."""

import json
import math
import re
import runpy
from pathlib import Path

import pytest
import yaml

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
    resnet = next(line for line in out.splitlines() if line.startswith("ResNet:"))
    assert resnet.startswith("ResNet: 62 parameter tensors (11,181,642 scalars) predicted")
    assert ", 0 kept their values" in resnet
    assert "GPT2LMHeadModel:" in out and "checkpoint round trip identical: True" in out


def run_example(script: str, argv: list[str], monkeypatch, capsys) -> str:
    """Run ``examples/<script>`` as ``__main__`` with ``argv``; returns what it printed."""
    monkeypatch.setattr("sys.argv", [script, *argv])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    return capsys.readouterr().out


def percentages(line: str) -> list[float]:
    return [float(p) for p in re.findall(r"(-?[\d.]+)%", line)]


@pytest.mark.slow  # ~14 s; the default run keeps `hypergen predict` on timm:resnet18 (tests/cli) and predictions
# for every torchvision model (tests/ghn/test_zoo_predictions.py)
def test_finetune_torchvision_example(capsys, monkeypatch, torchvision_models, fashion_mnist_installed):
    out = run_example("finetune_torchvision.py", ["--fast", "--orthogonalize"], monkeypatch, capsys)
    assert "the GHN is untrained" in out and "GHN init: polar factors of the predicted weights" in out
    # the adapted stem (64x1x3x3 instead of 64x3x7x7): 9,408 - 576 fewer than resnet18 with 10 classes (11,181,642)
    assert "torchvision:resnet18 adapted to [1, 28, 28]: 11,172,810 parameters; not predicted by the GHN: none" in out
    assert "test accuracy on 128 Fashion-MNIST images, 4 SGD steps of 16:" in out
    curves = {m.group(1): m.group(2) for m in re.finditer(r"^\s+(ghn|default) +init: (.*)$", out, re.M)}
    assert set(curves) == {"ghn", "default"}
    for points in curves.values():
        assert re.fullmatch(r"step 0 [\d.]+%, step 4 [\d.]+%", points)
        assert all(0 <= p <= 100 for p in percentages(points))
    # 128 test images: every accuracy is a whole number of images
    assert all(abs(p * 1.28 - round(p * 1.28)) < 0.07 for p in percentages(curves["ghn"] + curves["default"]))


def test_train_mnist1d_example(capsys, monkeypatch, tmp_path):
    pytest.importorskip("mnist1d")
    out = run_example("train_mnist1d.py", ["--fast", "--out", str(tmp_path / "run")], monkeypatch, capsys)
    run = tmp_path / "run"
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["global_step"] == 10 and (run / "ghn_best.safetensors").is_file()
    assert f"GHN trained for 10 steps, saved to {run / 'ghn_best.safetensors'}" in out
    (heldout,) = [line for line in out.splitlines() if line.startswith("held-out cnn1d test archs (2 nets)")]
    acc, random_init = percentages(heldout)
    assert (acc, random_init) == pytest.approx((100 * summary["metrics"]["val/acc"],
                                                100 * summary["metrics"]["val/acc_random_init"]), abs=0.05)
    assert re.search(r"new cnn1d net: CNN1d: \d+ parameter tensors \([\d,]+ scalars\) predicted( \(\d+ rescaled down "
                     r"to their previous std\))?, 0 kept their values; BatchNorm statistics: recalibrated on 4 "
                     r"batches", out)
    (new_net,) = [line for line in out.splitlines() if "with predicted weights vs" in line]
    assert "on 128 signals" in new_net and all(0 <= p <= 100 for p in percentages(new_net))


def test_init_gpt2_example(capsys, monkeypatch):
    pytest.importorskip("transformers")
    out = run_example("init_gpt2.py", ["--fast"], monkeypatch, capsys)
    assert re.search(r"GPT2LMHeadModel: 29 parameter tensors \(172,288 scalars\) predicted \(\d+ rescaled down to their "
                     r"previous std\), 0 kept their values", out)
    stats = {m.group(1): [float(v) for v in m.group(2).split()]
             for m in re.finditer(r"^(transformer\.\S+)\s+(.*)$", out, re.M)}
    assert len(stats) == 16  # 4 top-level tensors + 12 per block (grouped over the 2 blocks)
    hf_mean, hf_std, ghn_mean, ghn_std = stats["transformer.h.*.mlp.c_fc.weight"]
    # HF draws every weight with std 0.02; init_ writes the GHN's (of the order of 1/sqrt(fan_in) = 0.125 here) no
    # wider than that (keep_scale)
    assert hf_std == pytest.approx(0.02, abs=1e-3) and ghn_std == pytest.approx(hf_std, rel=0.05)
    assert stats["transformer.h.*.ln_1.weight"][0] == stats["transformer.h.*.ln_1.weight"][2] == 1.0
    hf_loss, ghn_loss = map(float, re.search(r"HF init ([\d.]+), GHN init ([\d.]+)", out).groups())
    assert hf_loss == pytest.approx(math.log(1000), abs=0.1)  # HF's small init: near-uniform predictions
    assert math.isfinite(ghn_loss) and ghn_loss > math.log(1000) - 0.1


@pytest.mark.slow  # 15 s; the default run keeps the Optuna sweep itself (tests/train/test_sweep.py)
def test_sweep_example(capsys, monkeypatch, tmp_path, fashion_mnist_installed):
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):  # keep W&B's files out of $HOME
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    sweep = tmp_path / "sweep"
    out = run_example("sweep.py", ["--fast", "--out", str(sweep)], monkeypatch, capsys)
    assert "hparams_search=optuna hydra.sweeper.n_trials=2" in out and "2 trials finished" in out
    trials = re.findall(r"^trial (\d): module.lr=(\S+) val/acc=([\d.]+)% -> (\S+) ", out, re.M)
    assert [t[0] for t in trials] == ["0", "1"] and len({t[1] for t in trials}) == 2  # two learning rates tried
    for num, _, acc, folder in trials:
        assert folder == str(sweep / num) and (sweep / num / "ghn_best.safetensors").is_file()
        assert len(list((sweep / num / "wandb").glob("offline-run-*"))) == 1
        assert float(acc) == pytest.approx(100 * json.loads((sweep / num / "metrics.json").read_text())
                                           ["metrics"]["val/acc"], abs=0.05)
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert list(best["best_params"]) == ["module.lr"]  # everything else in optuna.yaml's space was fixed
    assert 100 * best["best_value"] == pytest.approx(max(float(t[2]) for t in trials), abs=0.05)
