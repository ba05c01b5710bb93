"""A real 2-process DDP fit on CPU (gloo, ``trainer=ddp``): ranks train different architectures and end with the same
GHN weights; only rank 0 exports."""

import json

import torch

import hypergen

STEPS = 6


def test_ddp_ranks_train_disjoint_archs_and_end_with_equal_weights(train_cli, tiny, fashion_mnist_installed,
                                                                   tmp_path):
    run_dir = tmp_path / "run"
    proc = train_cli.run([*tiny, f"hydra.run.dir={run_dir}", "trainer=ddp", "trainer.accelerator=cpu",
                          "trainer.devices=2", f"trainer.max_steps={STEPS}", f"trainer.val_check_interval={STEPS}",
                          "archs.pool_size=8", "callbacks=[default,arch_log]",
                          "+callbacks.probe._target_=train_probes.StateProbe", "+callbacks.probe.when=end",
                          f"+callbacks.probe.path={tmp_path / 'probe'}"], timeout=400)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert (run_dir / "train_ddp_process_1.log").exists()  # rank 1 ran as a subprocess of the same command

    logs = [[json.loads(x) for x in (run_dir / "arch_keys" / f"rank{r}.jsonl").read_text().splitlines()]
            for r in (0, 1)]
    for rank, records in enumerate(logs):
        assert [r["step"] for r in records] == list(range(STEPS))
        assert all(r["world_size"] == 2 and r["rank"] == rank for r in records)
        # ArchPool: rank r at step s draws indices ((2s + r) * 2 + i) % 8, i < 2
        assert all(r["indices"] == [((2 * r["step"] + rank) * 2 + i) % 8 for i in range(2)] for r in records)
    for step in range(STEPS):
        keys0, keys1 = set(logs[0][step]["keys"]), set(logs[1][step]["keys"])
        assert len(keys0) == len(keys1) == 2 and not keys0 & keys1  # different nets on the two ranks
    assert len({k for records in logs for r in records for k in r["keys"]}) == 8  # the whole pool was used

    end = [torch.load(tmp_path / f"probe-end-rank{r}-step{STEPS}.pt", weights_only=False) for r in (0, 1)]
    assert set(end[0]["ghn"]) == set(end[1]["ghn"])
    assert all(torch.equal(end[0]["ghn"][k], end[1]["ghn"][k]) for k in end[0]["ghn"])  # DDP kept them in sync
    initial = hypergen.GraphHyperNetwork(hypergen.load_ghn(run_dir / "ghn_best.safetensors").config)
    assert any(not torch.equal(initial.state_dict()[k], v) for k, v in end[0]["ghn"].items())

    exported = hypergen.load_ghn(run_dir / "ghn_best.safetensors").state_dict()  # best = last validation, step 6
    assert all(torch.equal(exported[k], end[0]["ghn"][k]) for k in exported)
    assert json.loads((run_dir / "metrics.json").read_text())["metrics"]["step"] == STEPS
