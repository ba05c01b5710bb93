"""A Hydra multirun with the Optuna sweeper (``hparams_search=optuna``, sqlite storage): both trials complete, each
with its own run directory and W&B offline run, and the study records their val/acc."""

import json

import optuna
import yaml


def test_optuna_multirun_trials_each_log_an_offline_wandb_run(train_cli, tiny, fashion_mnist_installed, tmp_path):
    sweep_dir, storage = tmp_path / "sweep", f"sqlite:///{tmp_path / 'optuna.db'}"
    args = [a for a in tiny if not a.startswith("logger=")]  # the default logger: W&B, offline
    proc = train_cli.run(["-m", *args, "hparams_search=optuna", "hydra.sweeper.n_trials=2",
                          f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=tiny",
                          f"hydra.sweep.dir={sweep_dir}", "trainer.max_steps=4", "trainer.val_check_interval=4"])
    assert proc.returncode == 0, proc.stdout[-4000:]

    accuracies, run_ids = [], set()
    for trial in ("0", "1"):
        offline = list((sweep_dir / trial / "wandb").glob("offline-run-*"))
        assert len(offline) == 1, offline  # one W&B run per trial, none shared
        run_ids.add(offline[0].name.rsplit("-", 1)[-1])
        assert list(offline[0].glob("run-*.wandb"))
        accuracies.append(json.loads((sweep_dir / trial / "metrics.json").read_text())["metrics"]["val/acc"])
    assert len(run_ids) == 2

    study = optuna.load_study(study_name="tiny", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.value for t in done) == sorted(accuracies)
    assert len({t.params["module.lr"] for t in done}) == 2  # TPE proposed two learning rates
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["best_value"] == max(accuracies)
