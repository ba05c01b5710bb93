"""``python -m hypergen.evaluate``: evaluates a (tiny) trained run's GHN on its held-out nets and writes the report;
clear errors for a missing run and for nets that do not fit the data."""

import csv
import json

import pytest

STEPS = 20


@pytest.fixture(scope="module")
def trained_run(train_cli, tiny, fashion_mnist_installed, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    proc = train_cli.run([*tiny, f"hydra.run.dir={run_dir}", "trainer.max_steps=10", "trainer.val_check_interval=10"])
    assert proc.returncode == 0, proc.stdout[-4000:]
    return run_dir


@pytest.fixture(scope="module")
def evaluated(eval_cli, trained_run):
    proc = eval_cli.run([f"run_dir={trained_run}", f"finetune.steps={STEPS}", "finetune.eval_every=10",
                         "finetune.optimizer.lr=0.05", "data.train_subset=512", "data.eval_subset=256",
                         "data.batch_size=32", "title=tiny", "warm_start=[5]"])
    assert proc.returncode == 0, proc.stdout[-4000:]
    return trained_run / "eval", proc.stdout


def test_training_run_records_its_heldout_nets(trained_run):
    heldout = json.loads((trained_run / "heldout_archs.json").read_text())
    assert heldout["split"] == "mlp test archs (2 nets)" and len(heldout["specs"]) == 2
    assert all(spec["family"] == "mlp" and spec["input_shape"] == [1, 28, 28] for spec in heldout["specs"])


def test_report_has_every_heldout_net_and_the_mean(evaluated):
    out, stdout = evaluated
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["target"] for r in rows] == ["heldout/0", "heldout/1", "mean"]
    for r in rows:
        assert int(r["steps"]) == STEPS
        for key in ("acc0_ghn", "acc0_default", "final_ghn", "final_default"):
            assert 0.0 <= float(r[key]) <= 1.0
    # 20 SGD steps on Fashion-MNIST take a default-init MLP well above chance (10%)
    assert float(rows[-1]["final_default"]) > 0.3 > float(rows[-1]["acc0_default"])
    with open(out / "curves.csv") as f:
        curves = list(csv.DictReader(f))
    assert len(curves) == 2 * 3 * 3  # nets x inits (GHN, default, warm start) x steps (0, 10, 20)
    assert {c["init"] for c in curves} == {"ghn", "default", "warm5"}
    # 5 steps of training put the warm start above the default init before fine-tuning
    assert float(rows[-1]["acc0_warm5"]) > float(rows[-1]["acc0_default"])
    md = (out / "eval.md").read_text()
    assert md.startswith("# tiny") and "| **mean** |" in md and "torch.optim.SGD" in md
    assert "| default init trained 5 steps first |" in md and "trained [5] steps first" in md
    assert "BatchNorm statistics: recalibrate" in md  # stated for classifiers (their nets have BatchNorm)
    assert (out / "curves.png").stat().st_size > 10_000
    assert "mean over 2 nets: no training" in stdout


def test_missing_run_is_a_clear_error(eval_cli, tmp_path):
    proc = eval_cli.run([f"run_dir={tmp_path}", "finetune.steps=1"])
    assert proc.returncode != 0
    assert len(proc.stdout.strip().splitlines()) == 1 and proc.stdout.startswith(
        f"hypergen-eval: run_dir='{tmp_path}' is not a finished hypergen-train run (no heldout_archs.json): give the "
        "run directory of a finished hypergen-train run (it holds ghn_best.safetensors and heldout_archs.json), or "
        "set targets.heldout=false")
    assert not (tmp_path / "eval").exists()


def test_mistyped_run_dir_is_named_and_not_created(eval_cli, trained_run):
    typo = trained_run.parent / (trained_run.name + "x")
    proc = eval_cli.run([f"run_dir={typo}", "finetune.steps=1"])
    assert proc.returncode != 0 and not typo.exists()
    assert proc.stdout.strip().startswith(f"hypergen-eval: run_dir='{typo}' does not exist: give the run directory")
    assert f"finished runs in {trained_run.parent}: [" in proc.stdout and f"'{trained_run}'" in proc.stdout
    assert len(proc.stdout.strip().splitlines()) == 1


def test_nets_of_another_task_are_rejected(eval_cli, trained_run):
    proc = eval_cli.run([f"run_dir={trained_run}", "data=mnist_1d", "finetune.steps=1"])
    assert proc.returncode == 2 and "Traceback" not in proc.stdout
    assert "take inputs [1, 28, 28] with 10 classes, but data.name='mnist1d' gives [1, 40]" in proc.stdout


@pytest.mark.slow  # two CLI starts (~20 s); the default run keeps the mistyped and missing run_dir errors (above)
def test_run_dir_is_required_and_ghn_path_is_not_the_ghn_group(eval_cli, tmp_path):
    proc = eval_cli.run(["finetune.steps=1"])
    assert proc.returncode != 0
    assert proc.stdout.strip().splitlines() == [
        "hypergen-eval: run_dir is required: the directory of a finished hypergen-train run, e.g. `hypergen-eval "
        "run_dir=runs/fmnist_cpu` (to evaluate another GHN file: ghn_path=<file> targets.heldout=false "
        "run_dir=<where the report goes>)"]
    proc = eval_cli.run([f"run_dir={tmp_path}", f"ghn_path={tmp_path / 'nope.safetensors'}", "targets.heldout=false",
                         "targets.zoo=[]", "finetune.steps=1"])
    assert proc.returncode == 2 and "no targets to evaluate" in proc.stdout and "Traceback" not in proc.stdout
