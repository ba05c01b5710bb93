"""``python -m hypergen.train``: a short real fit (loss goes down, final checkpoint, export, summary line) and clear
command-line errors."""

import csv
import json
import math
import re

import pytest
import torch

import hypergen
import hypergen.train.run
from hypergen.archs import ArchSampler, build
from hypergen.evaluate import same_shape_similarity

STEPS = 40


@pytest.fixture(scope="module")
def fitted(train_cli, tiny, fashion_mnist_installed, tmp_path_factory):
    """One 40-step fit: validation at steps 20 and 40, periodic checkpoints every 15 steps (so only the end-of-training
    save writes step 40)."""
    run_dir = tmp_path_factory.mktemp("fit")
    proc = train_cli.run([*tiny, f"hydra.run.dir={run_dir}", f"trainer.max_steps={STEPS}",
                          "trainer.val_check_interval=20", "callbacks.last_checkpoint.every_n_train_steps=15",
                          "module.lr=1.0e-3"])
    assert proc.returncode == 0, proc.stdout[-4000:]
    return run_dir, proc.stdout


def _train_losses(run_dir):
    with open(run_dir / "csv" / "version_0" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["train/loss"]]
    return [int(r["step"]) for r in rows], [float(r["train/loss"]) for r in rows]


def test_training_loss_goes_down(fitted):
    run_dir, _ = fitted
    steps, losses = _train_losses(run_dir)
    assert steps == list(range(STEPS))  # one row per step
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    # seeded run: the mean loss of the first 5 steps is ~2.34, of the last 5 ~1.6 (chance level is ln 10 = 2.30)
    assert first - last > 0.3, (first, last)
    assert last < math.log(10) - 0.2


def test_last_checkpoint_is_written_at_the_end_of_training(fitted):
    run_dir, _ = fitted
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == STEPS  # 40 is no multiple of 15: the end-of-training save wrote it
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    assert best["global_step"] in (20, 40)


def test_exported_ghn_is_the_best_checkpoint_and_predicts(fitted):
    run_dir, _ = fitted
    ghn = hypergen.load_ghn(run_dir / "ghn_best.safetensors")
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    trained = {k[len("ghn."):]: v for k, v in best["state_dict"].items() if k.startswith("ghn.")}
    exported = ghn.state_dict()
    assert set(exported) == set(trained)
    assert all(torch.equal(exported[k], trained[k]) for k in trained)
    assert ghn.config.hidden == 32 and ghn.config.gnn_layers == 1

    spec = ArchSampler("mlp", "test", (1, 28, 28), 10, seed=7, param_bounds=(1000, 50000)).sample(0)
    model = build(spec, "cpu")
    with torch.no_grad():
        params = ghn(model, (2, 1, 28, 28))
    assert {n: tuple(p.shape) for n, p in params.items()} == {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert all(torch.isfinite(p).all() for p in params.values())
    ghn.init_(model, (2, 1, 28, 28), keep_scale=False)  # exactly the predictions (no cap at the model's own scale)
    assert all(torch.equal(p, params[n]) for n, p in model.named_parameters())
    assert torch.isfinite(model.eval()(torch.randn(4, 1, 28, 28))).all()


def test_final_summary_reports_predicted_and_random_init_accuracy(fitted):
    run_dir, out = fitted
    summary = json.loads((run_dir / "metrics.json").read_text())
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    metrics = summary["metrics"]
    assert metrics["step"] == best["global_step"]
    assert 0.0 <= metrics["val/acc"] <= 1.0 and 0.0 <= metrics["val/acc_random_init"] <= 1.0
    line = re.search(r"held-out mlp test archs \(2 nets\): predicted weights ([\d.]+)% top-1 \(no training\) "
                     r"vs random init ([\d.]+)%", out)
    assert line, out[-3000:]
    assert float(line.group(1)) == pytest.approx(100 * metrics["val/acc"], abs=0.051)
    assert float(line.group(2)) == pytest.approx(100 * metrics["val/acc_random_init"], abs=0.051)
    assert line.group(0) in (run_dir / "train.log").read_text()  # logged (to Hydra's run log), not printed


def test_layer_similarity_is_that_of_the_exported_ghns_predictions(fitted):
    run_dir, _ = fitted
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    ghn = hypergen.load_ghn(run_dir / "ghn_best.safetensors").eval()
    specs = json.loads((run_dir / "heldout_archs.json").read_text())["specs"]
    values = []
    for spec in specs:
        with torch.no_grad():
            sim = same_shape_similarity(ghn(build(spec, "meta"), (2, 1, 28, 28)).items())
        if sim is not None:
            values.append(sim)
    expected = sum(values) / len(values) if values else math.nan
    assert metrics["val/layer_similarity"] == pytest.approx(expected, abs=1e-4, nan_ok=True)


def test_default_init_baseline_is_measured_once_and_kept_in_checkpoints(fitted):
    run_dir, _ = fitted
    with open(run_dir / "csv" / "version_0" / "metrics.csv") as f:
        baselines = [float(r["val/acc_random_init"]) for r in csv.DictReader(f) if r["val/acc_random_init"]]
    assert len(baselines) == 2 and baselines[0] == baselines[1]  # validations at steps 20 and 40
    with open(run_dir / "csv" / "version_0" / "metrics.csv") as f:
        losses = [float(r["val/loss_random_init"]) for r in csv.DictReader(f) if r["val/loss_random_init"]]
    assert len(losses) == 2 and losses[0] == losses[1]
    counts = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu",
                        weights_only=False)["hypergen_baseline_counts"]
    # 2 nets x (summed cross-entropy, correct, total) on 128 images
    assert counts.shape == (2, 3) and counts[:, 2].tolist() == [128.0, 128.0]
    assert (counts[:, 1] / 128).mean().item() == pytest.approx(baselines[0], abs=1e-6)
    assert (counts[:, 0] / 128).mean().item() == pytest.approx(losses[0], rel=1e-6)
    # default-init MLPs on 10 classes: a little above chance level ln 10 = 2.30
    assert math.log(10) - 0.2 < losses[0] < math.log(10) + 1.0


@pytest.mark.parametrize("override, message", [
    ("trainer.max_stepz=5", r"Could not override 'trainer\.max_stepz'.*Key 'max_stepz' is not in struct"),
    # a missing config group: the same Hydra message path as the key above, another CLI start (~8 s)
    pytest.param("trainer=cpuu", r"Could not find 'trainer/cpuu'", marks=pytest.mark.slow),
])
def test_bad_override_fails_with_hydras_message(train_cli, tmp_path, override, message):
    proc = train_cli.run([override, f"hydra.run.dir={tmp_path}"], timeout=120)
    assert proc.returncode != 0
    assert re.search(message, proc.stdout, re.S), proc.stdout[-2000:]
    assert "Traceback" not in proc.stdout  # Hydra's one-paragraph error, not a stack trace


def test_progress_lines_are_logged_without_a_terminal(fitted):
    """The fit runs in a subprocess whose output is a pipe (as under nohup, SLURM or CI): progress goes to the log."""
    run_dir, out = fitted
    log = (run_dir / "train.log").read_text()
    lines = re.findall(r"step (\d+)/40 \(\d+%\) \| train/loss [\d.]+ \| [\d.]+ s/step \| ETA \S+"
                       r" \| val/acc [\d.]+% \(step (\d+)\)", log)
    assert [step for step, _ in lines] == ["20", "40", "40"]  # after each validation, and at the end
    assert re.search(r"step 40/40 \(100%\) .* \| finished after \d+", log) and "step 40/40" in out


def _error_lines(out):
    return [line for line in out.splitlines() if line.strip()]


def test_a_value_of_the_wrong_type_is_one_line_naming_the_key(train_cli, tmp_path):
    run_dir = tmp_path / "run"
    proc = train_cli.run(["trainer.max_steps=ten", f"hydra.run.dir={run_dir}"], timeout=120)
    assert proc.returncode != 0
    assert _error_lines(proc.stdout) == [
        "hypergen-train: trainer.max_steps='ten' is not an integer (the max_steps argument of "
        "lightning.pytorch.Trainer); set trainer.max_steps=<an integer> on the command line or in the config"]
    assert not run_dir.exists()  # checked before Hydra creates the run directory


def test_a_user_error_while_starting_is_one_logged_line(train_cli, tiny, fashion_mnist_installed, tmp_path):
    proc = train_cli.run([*tiny, "archs=cnn1d", f"hydra.run.dir={tmp_path}"], timeout=180)
    assert proc.returncode == 2
    errors = [line for line in proc.stdout.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1 and "archs.family='cnn1d' takes inputs shaped [channels, length], but " \
        "data.name='fashion_mnist' gives samples of shape [1, 28, 28]" in errors[0]
    assert "Traceback" not in proc.stdout and errors[0].split("] - ")[1] in (tmp_path / "train.log").read_text()


def test_help_says_what_a_user_needs_before_the_config(train_cli, tmp_path):
    proc = train_cli.run(["--help"], timeout=120)
    assert proc.returncode == 0
    out = proc.stdout
    assert out.startswith("hypergen-train: train a graph hypernetwork")
    dump = out.index("== Config (the defaults")
    experiments = sorted(p.stem for p in (hypergen.train.run.config_dir() / "experiment").glob("*.yaml"))
    assert out.index(f"experiment: {', '.join(experiments)}") < dump
    for first in ("hypergen-train experiment=fmnist_cpu_lowrank ", "Run directory: runs/<name>", "Resume: run the same command "
                  "again", "Sweeps: hypergen-train -m", "hypergen-eval run_dir=runs/<name>"):
        assert 0 <= out.index(first) < dump, first


def test_diverged_training_stops_with_one_line_and_exports_nothing(train_cli, tiny, fashion_mnist_installed, tmp_path):
    proc = train_cli.run([*tiny, f"hydra.run.dir={tmp_path}", "module.lr=1.0e+30", "trainer.max_steps=5",
                          "callbacks.last_checkpoint.every_n_train_steps=1"], timeout=180)
    assert proc.returncode == 2, proc.stdout[-3000:]
    errors = [line for line in proc.stdout.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1 and re.search(r"training step [1-4]: the loss (is not finite|is finite but its gradient "
                                          r"is not)", errors[0]), proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout and not (tmp_path / "ghn_best.safetensors").exists()
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())
