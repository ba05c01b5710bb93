"""Resuming: a run killed with SIGKILL and started again with the same command continues from its last checkpoint
(global step, optimizer, LR schedule, GHN weights, architecture stream); and the checkpoint choice itself."""

import csv
import json
import os
import signal
import time

import pytest
import torch

import hypergen
from hypergen.train import ArchPool
from hypergen.train.callbacks import LastCheckpoint, arch_key_digest
from hypergen.train.resume import resume_checkpoint

STEPS, EVERY = 40, 4


def _wait_for(path, proc, timeout=240.0):
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, "the run ended before writing a checkpoint"
        assert time.monotonic() < end, f"no {path} after {timeout} s"
        time.sleep(0.05)


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _assert_same_tensors(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert set(a) == set(b)
        for key in a:
            _assert_same_tensors(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same_tensors(x, y)
    else:
        assert a == b


@pytest.mark.slow  # 21 s; the default run keeps resuming after a SIGKILL, bit for bit (the test below)
def test_killed_run_resumes_where_its_checkpoint_left_off(train_cli, tiny, fashion_mnist_installed, tmp_path):
    run_dir = tmp_path / "run"
    args = [*tiny, f"hydra.run.dir={run_dir}", f"trainer.max_steps={STEPS}", "trainer.limit_val_batches=0",
            "archs.pool_size=null",  # a new pair of nets every step: the sampler position is visible in the log
            f"callbacks.last_checkpoint.every_n_train_steps={EVERY}", "callbacks=[default,arch_log]",
            "+callbacks.probe._target_=train_probes.StateProbe", f"+callbacks.probe.path={tmp_path / 'probe'}"]
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = train_cli.start(args, tmp_path / "first.log")
    try:
        _wait_for(last, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    saved = torch.load(last, map_location="cpu", weights_only=False)
    step = saved["global_step"]
    assert 0 < step < STEPS and step % EVERY == 0
    arch_log = run_dir / "arch_keys" / "rank0.jsonl"
    first_run = _records(arch_log)
    assert [r["step"] for r in first_run] == list(range(len(first_run))) and len(first_run) >= step

    proc = train_cli.run(args)  # the same command again
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert f"resuming from {last}" in proc.stdout

    # the restored state, as seen by the resumed process at on_train_start, is the checkpoint's
    probe = torch.load(tmp_path / f"probe-start-rank0-step{step}.pt", weights_only=False)
    assert probe["global_step"] == step
    _assert_same_tensors(probe["optimizer"], saved["optimizer_states"][0])
    assert probe["optimizer"]["state"][0]["exp_avg"].abs().sum() > 0  # a trained Adam state, not a fresh one
    _assert_same_tensors(probe["scheduler"], saved["lr_schedulers"][0])
    assert probe["scheduler"]["last_epoch"] == step
    trained = {k[len("ghn."):]: v for k, v in saved["state_dict"].items() if k.startswith("ghn.")}
    _assert_same_tensors(probe["ghn"], trained)

    # the architecture stream continues at the checkpoint's step: indices 2s, 2s+1 at step s, as before the kill
    second_run = _records(arch_log)[len(first_run):]
    assert [r["step"] for r in second_run] == list(range(step, STEPS))
    assert all(r["indices"] == [2 * r["step"], 2 * r["step"] + 1] for r in second_run)
    after_checkpoint = {r["step"]: r["keys"] for r in first_run if r["step"] >= step}  # trained again: same nets
    assert all(r["keys"] == after_checkpoint[r["step"]] for r in second_run if r["step"] in after_checkpoint)
    pool = ArchPool("mlp", (1, 28, 28), 10, seed=0, pool_size=None, param_bounds=(1000, 50000), heldout_count=0)
    expected = [arch_key_digest(a.key) for a in pool.batch(step, 0, 1, 2)]
    assert second_run[0]["keys"] == expected

    # no validation ran, so the export is the last checkpoint's GHN, and the summary says it was not validated
    final = torch.load(last, map_location="cpu", weights_only=False)
    assert final["global_step"] == STEPS
    exported = hypergen.load_ghn(run_dir / "ghn_best.safetensors").state_dict()
    _assert_same_tensors(exported, {k[len("ghn."):]: v for k, v in final["state_dict"].items() if k.startswith("ghn.")})
    assert json.loads((run_dir / "metrics.json").read_text())["exported"] == "last"
    assert "exported the last GHN weights" in proc.stdout and "were not validated" in proc.stdout


def test_resume_checkpoint_choice(tmp_path):
    callbacks = [LastCheckpoint(dirpath=tmp_path / "checkpoints")]
    assert resume_checkpoint(callbacks) is None  # nothing to resume: start from scratch
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    last.write_bytes(b"x")
    assert resume_checkpoint(callbacks) == str(last)
    with pytest.raises(FileExistsError, match="resume=true to continue it, or another name="):
        resume_checkpoint(callbacks, resume=False)
    other = tmp_path / "other.ckpt"
    other.write_bytes(b"x")
    assert resume_checkpoint(callbacks, resume=False, ckpt_path=str(other)) == str(other)
    with pytest.raises(FileNotFoundError, match="ckpt_path='nope.ckpt' does not exist"):
        resume_checkpoint(callbacks, ckpt_path="nope.ckpt")


def _csv_rows(run_dir):
    files = sorted((run_dir / "csv").glob("*/metrics.csv"))
    assert [f.relative_to(run_dir).as_posix() for f in files] == ["csv/version_0/metrics.csv"]  # one file per run
    with open(files[0]) as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("every, val_every, crash", [
    (12, 15, 20),  # a checkpoint in mid-epoch
    pytest.param(10, 10, 15, marks=pytest.mark.slow),  # a checkpoint and a validation at the same step (25 s)
])
def test_resumed_run_trains_on_the_batches_an_uninterrupted_run_trains_on(train_cli, tiny, fashion_mnist_installed,
                                                                          tmp_path, every, val_every, crash):
    """Killed at step 20 with a checkpoint from step 12 (16 batches an epoch, so mid-epoch, and the resumed part
    crosses into the next epoch), or at step 15 with a checkpoint from step 10, where a validation was due too; then
    run again: the steps after the checkpoint see the same images, augmentations and nets as an uninterrupted run,
    and the results are bit-identical (same operations in the same order on one CPU thread)."""
    steps = 30

    def args(run_dir, probe, crash_at=None):
        extra = [f"+callbacks.probe.crash_at_step={crash_at}"] if crash_at is not None else []
        return [*tiny, f"hydra.run.dir={run_dir}", f"trainer.max_steps={steps}",
                f"trainer.val_check_interval={val_every}", "data.train_subset=512", "+data.crop_padding=2",
                "+data.horizontal_flip=true",
                f"callbacks.last_checkpoint.every_n_train_steps={every}", "+logger.csv.flush_logs_every_n_steps=5",
                "+callbacks.probe._target_=train_probes.BatchProbe", f"+callbacks.probe.path={probe}", *extra]

    straight = train_cli.run(args(tmp_path / "straight", tmp_path / "straight.jsonl"))
    assert straight.returncode == 0, straight.stdout[-4000:]
    killed = train_cli.run(args(tmp_path / "resumed", tmp_path / "resumed.jsonl", crash_at=crash))
    assert killed.returncode == 137, killed.stdout[-4000:]
    last = tmp_path / "resumed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == every
    rows_before = _csv_rows(tmp_path / "resumed")
    assert max(int(r["step"]) for r in rows_before if r["train/loss"]) >= every  # logged past the checkpoint
    resumed = train_cli.run(args(tmp_path / "resumed", tmp_path / "resumed.jsonl"))
    assert resumed.returncode == 0, resumed.stdout[-4000:]
    assert f"resuming from {last}" in resumed.stdout

    reference = _records(tmp_path / "straight.jsonl")
    records = _records(tmp_path / "resumed.jsonl")
    assert [r["step"] for r in reference] == list(range(steps))
    assert [r["step"] for r in records] == list(range(crash)) + list(range(every, steps))
    after = records[crash:]
    assert after == reference[every:]  # images, labels, batch positions and nets of every resumed step
    assert len({r["inputs"] for r in reference}) == steps  # every step saw other images (the hashes mean something)
    assert records[:crash] == reference[:crash]

    straight_ckpt = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", map_location="cpu",
                               weights_only=False)
    resumed_ckpt = torch.load(last, map_location="cpu", weights_only=False)
    assert resumed_ckpt["global_step"] == straight_ckpt["global_step"] == steps
    _assert_same_tensors(resumed_ckpt["state_dict"], straight_ckpt["state_dict"])
    _assert_same_tensors(resumed_ckpt["optimizer_states"], straight_ckpt["optimizer_states"])
    metrics = [json.loads((tmp_path / run / "metrics.json").read_text())["metrics"] for run in ("straight", "resumed")]
    assert metrics[0] == metrics[1] and "val/acc" in metrics[0]

    # one CSV: each training step once, the killed process's rows after its checkpoint replaced by the resumed ones
    rows = {run: [r for r in _csv_rows(tmp_path / run) if r["train/loss"]] for run in ("straight", "resumed")}
    assert [int(r["step"]) for r in rows["resumed"]] == list(range(steps))
    assert [r["train/loss"] for r in rows["resumed"]] == [r["train/loss"] for r in rows["straight"]]
    validations = {run: [(r["step"], r["val/acc"]) for r in _csv_rows(tmp_path / run) if r["val/acc"]]
                   for run in ("straight", "resumed")}
    assert validations["resumed"] == validations["straight"] and len(validations["straight"]) == steps // val_every
