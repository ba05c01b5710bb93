"""``hypergen-eval`` / ``python -m hypergen.evaluate``: the Hydra entry point that evaluates a trained GHN.

For every target net it reports the test accuracy of predicted weights with no training (on language-model data:
the test loss, i.e. mean next-token cross-entropy, and perplexity), and fine-tunes the net from the GHN's weights
and from PyTorch's default init under equal conditions (same optimiser, seeds and data order), writing a Markdown +
CSV table and a plot of the learning curves (``docs/evaluation.md``). The config is ``conf/eval.yaml``; this module
only orders the steps.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from hypergen.data.datamodule import TaskDataModule
    from hypergen.evaluate.compare import CompareConfig
    from hypergen.evaluate.targets import EvalTarget

__all__ = ["EVAL_CONFIG_NAME", "check_run_dir", "evaluate", "load_targets", "main"]

log = logging.getLogger(__name__)

#: The primary config, ``conf/eval.yaml``.
EVAL_CONFIG_NAME = "eval"


def _run_heldout(run_dir: str | Path) -> tuple[str, list[dict[str, Any]]]:
    """The held-out specs a training run validated on (``heldout_archs.json`` next to its exported GHN)."""
    from hypergen.train.callbacks import HELDOUT_FILE

    path = Path(run_dir) / HELDOUT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run_dir must be a finished hypergen-train run (it writes "
                                f"{HELDOUT_FILE} next to ghn_best.safetensors), or set targets.heldout=false")
    content = json.loads(path.read_text())
    return content["split"], content["specs"]


def _check_specs_fit(specs: Sequence[Mapping[str, Any]], datamodule: TaskDataModule, source: str) -> None:
    """Specs must have been drawn for the data's task (same input shape and classes).

    Raises:
        ConfigError: a spec's input shape or classes differ from the data's (names both, and ``data=``).
    """
    from hypergen.train.app import ConfigError

    task = (list(datamodule.input_shape), datamodule.num_classes)
    for spec in specs:
        if (list(spec["input_shape"]), spec["num_classes"]) != task:
            raise ConfigError(f"the nets of {source} take inputs {spec['input_shape']} with {spec['num_classes']} "
                             f"classes, but data.name={datamodule.hparams.get('name')!r} gives {task[0]} with "
                             f"{task[1]} classes; pass the run's dataset (data=...)")


def load_targets(cfg: Mapping[str, Any], run_dir: str | None, datamodule: TaskDataModule) -> list[EvalTarget]:
    """The target nets of the ``targets`` config: a run's held-out nets, sampled nets of a split, zoo models.

    Raises:
        ConfigError: (a ``ValueError``) no targets, or targets that do not fit the data (names them).
        FileNotFoundError: ``targets.heldout`` without a finished run in ``run_dir``.
    """
    from hypergen.archs import ArchSampler
    from hypergen.evaluate.targets import heldout_targets, zoo_targets
    from hypergen.tasks import dataset_task
    from hypergen.train.app import ConfigError

    targets: list[EvalTarget] = []
    if cfg.get("heldout"):
        if not run_dir:
            raise ConfigError("targets.heldout=true needs run_dir=<a hypergen-train run>; or set targets.heldout=false "
                             "and give targets.sample or targets.zoo")
        split, specs = _run_heldout(run_dir)
        _check_specs_fit(specs, datamodule, f"{run_dir} ({split})")
        targets += heldout_targets(specs, "heldout")
    sample = cfg.get("sample")
    if sample:
        sampler = ArchSampler(sample["family"], sample.get("split", "test"), datamodule.input_shape,
                              datamodule.num_classes, int(sample.get("seed", 0)),
                              param_bounds=sample.get("param_bounds"), options=sample.get("options") or {})
        targets += heldout_targets(sampler.take(int(sample.get("count", 4))),
                                   f"{sampler.family.name}/{sampler.split.name}")
    targets += zoo_targets(list(cfg.get("zoo") or []), datamodule.num_classes, datamodule.input_shape,
                           task=dataset_task(datamodule.spec))
    if not targets:
        raise ConfigError("no targets to evaluate: set targets.heldout=true with run_dir, targets.sample or "
                          "targets.zoo")
    return targets


def evaluate(cfg: DictConfig) -> list[dict[str, Any]]:
    """Evaluate ``cfg.ghn_path`` on ``cfg.targets`` as ``cfg`` (a composed ``conf/eval.yaml``) says; writes the report
    into ``cfg.out_dir``.

    Returns:
        The summary rows (:func:`hypergen.evaluate.summarize`), the last one the mean over targets.
    """
    from hydra.utils import instantiate

    from hypergen.evaluate.compare import CompareConfig, compare_inits, warm_start_name
    from hypergen.evaluate.finetune import FinetuneConfig, seeded_batches
    from hypergen.evaluate.report import init_fields, summarize, write_report
    from hypergen.tasks import LANGUAGE_MODEL, dataset_task
    from hypergen.ghn import load_ghn
    from hypergen.train.builders import build_datamodule, seed_everything

    seed_everything(int(cfg.seed))
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    targets = load_targets(cfg.targets, cfg.get("run_dir"), datamodule)
    ghn = load_ghn(cfg.ghn_path, map_location=cfg.device).eval()
    ft = cfg.finetune
    task = dataset_task(datamodule.spec)
    lm = task == LANGUAGE_MODEL
    batch_size = int(datamodule.batch_size)
    steps = int(ft.steps) if ft.get("steps") is not None else int(ft.epochs) * (len(datamodule.train_dataset)
                                                                                   // batch_size)
    config = CompareConfig(FinetuneConfig(steps, int(ft.eval_every), bool(ft.cosine)), cfg.batchnorm,
                           int(cfg.calibration_batches), int(cfg.seed), bool(cfg.orthogonalize),
                           bool(cfg.orthogonalize_default), tuple(cfg.warm_start), task, bool(cfg.keep_scale))
    optimizer_cfg = ft.lm_optimizer if lm else ft.optimizer  # language models: AdamW (conf/eval.yaml)
    make_optimizer = instantiate(optimizer_cfg)
    eval_batches = list(datamodule.test_dataloader())
    # token ids trace a language model (a random float batch of input_shape would not index its embedding)
    example = next(seeded_batches(datamodule.train_dataset, batch_size, int(cfg.seed)))[0][:2] if lm else None
    log.info("evaluating %s on %d nets (%s): %d fine-tuning steps of %d samples, test set of %d samples",
             cfg.ghn_path, len(targets), task, steps, batch_size, len(datamodule.test_dataset))
    results = [
        compare_inits(target, ghn, lambda: seeded_batches(datamodule.train_dataset, batch_size, int(cfg.seed)),
                      eval_batches, config, make_optimizer, datamodule.input_shape, cfg.device,
                      warm_batches=lambda: seeded_batches(datamodule.train_dataset, batch_size, int(cfg.seed) + 1),
                      example_inputs=example)
        for target in targets
    ]
    settings = _settings(cfg, config, optimizer_cfg, batch_size, len(datamodule.test_dataset))
    paths = write_report(results, cfg.out_dir, str(cfg.title), _command_line(), settings)
    rows = summarize(results)
    if lm:
        _log_lm_summary(rows, len(results), steps, config.warm_start, paths["markdown"])
        return rows
    mean = rows[-1]
    reach = mean["ghn_steps_to_default_final"]
    log.info("mean over %d nets: no training %.1f%% (GHN) vs %.1f%% (default); after %d steps %.1f%% vs %.1f%%; "
             "GHN init reaches default init's final accuracy %s. Report: %s", len(results),
             100 * mean["acc0_ghn"], 100 * mean["acc0_default"], steps, 100 * mean["final_ghn"],
             100 * mean["final_default"], "never" if reach is None else f"at step {reach} of {steps}",
             paths["markdown"])
    for warm in config.warm_start:
        start, final, reach = (mean[field] for field in init_fields(warm_start_name(warm)))
        log.info("warm start %d (default init trained %d steps first): %.1f%% -> %.1f%%, reaches default init's "
                 "final accuracy %s", warm, warm, 100 * start, 100 * final,
                 "never" if reach is None else f"at step {reach} of {steps}")
    return rows


def _settings(cfg: DictConfig, config: CompareConfig, optimizer_cfg: DictConfig, batch_size: int,
              test_size: int) -> str:
    """The report's paragraph on how the inits were compared."""
    from hypergen.tasks import LANGUAGE_MODEL

    ft, steps = cfg.finetune, config.finetune.steps
    optimizer = {k: v for k, v in optimizer_cfg.items() if not k.startswith("_")}
    ghn_init = ("polar factors of the predicted weights (orthogonalize=true)" if config.orthogonalize
                else "the predicted weights")
    default_init = ("polar factors of the default init (orthogonalize_default=true)"
                    if config.orthogonalize_default else "PyTorch's")
    unit = "windows" if config.task == LANGUAGE_MODEL else "samples"
    batchnorm = "" if config.task == LANGUAGE_MODEL else f"BatchNorm statistics: {cfg.batchnorm}; "  # LMs have none
    settings = (f"GHN `{cfg.ghn_path}`; data `{cfg.data.name}` (batch {batch_size}, test set of "
                f"{test_size} {unit}); {steps} fine-tuning steps with "
                f"`{optimizer_cfg._target_}` {optimizer}{', cosine decay' if ft.cosine else ''}, the same seed "
                f"({cfg.seed}) and data order for both inits; {batchnorm}GHN init: {ghn_init}; default init: "
                f"{default_init}.")
    if config.warm_start:
        settings += (f" Warm starts (reference inits): the default-init net trained {list(config.warm_start)} steps "
                     f"first with a constant learning rate on the data order of seed {int(cfg.seed) + 1}.")
    return settings


def _log_lm_summary(rows: Sequence[dict[str, Any]], nets: int, steps: int, warm_start: Sequence[int],
                    report: Path) -> None:
    """The language-model counterpart of the accuracy summary line: loss, perplexity and the warm-start yardstick."""
    from hypergen.evaluate.compare import warm_start_name
    from hypergen.evaluate.report import lm_init_fields

    mean = rows[-1]
    worth, reach = mean["default_steps_to_ghn_init"], mean["ghn_steps_to_default_final"]
    log.info("mean over %d nets: no training loss %.3f (ppl %.4g, GHN) vs %.3f (ppl %.4g, default); after %d steps "
             "%.3f vs %.3f; GHN init reaches default init's final loss %s; default init needs %s steps to reach the "
             "GHN init's loss. Report: %s", nets, mean["loss0_ghn"], mean["ppl0_ghn"], mean["loss0_default"],
             mean["ppl0_default"], steps, mean["final_loss_ghn"], mean["final_loss_default"],
             "never" if reach is None else f"at step {reach} of {steps}",
             f"more than {steps}" if worth is None else str(worth), report)
    for warm in warm_start:
        start, final, _ = (mean[field] for field in lm_init_fields(warm_start_name(warm)))
        log.info("warm start %d (default init trained %d steps first): loss %.3f -> %.3f", warm, warm, start, final)


def _command_line() -> str:
    import sys

    return " ".join(["hypergen-eval", *sys.argv[1:]])


def _task(cfg: DictConfig) -> None:
    from hypergen.train.run import use_hydra_logging

    from hypergen.train import builders  # noqa: F401 - imports lightning (behind the torchvision shim)

    use_hydra_logging()
    evaluate(cfg)


def _finished_runs(folder: Path, limit: int = 8) -> list[str]:
    """Up to ``limit`` sub-folders of ``folder`` that are finished training runs (for an error message)."""
    from hypergen.train.callbacks import HELDOUT_FILE

    if not folder.is_dir():
        return []
    return sorted(str(d) for d in folder.iterdir() if (d / HELDOUT_FILE).is_file())[:limit]


def check_run_dir(cfg: DictConfig) -> None:
    """``run_dir`` is given, and is a finished ``hypergen-train`` run when the run's held-out nets are evaluated
    (checked before Hydra creates ``<run_dir>/eval``, so a mistyped path creates nothing).

    Also checks the types of every ``_target_`` entry and the ``data`` group
    (:func:`hypergen.train.app.check_data_config`).

    Raises:
        ConfigError: names ``run_dir`` and says what to pass (with the finished runs next to a mistyped one), or the
            config key of a bad value.
    """
    from omegaconf import OmegaConf

    from hypergen.train.app import ConfigError, check_argument_types, check_data_config
    from hypergen.train.callbacks import HELDOUT_FILE

    if OmegaConf.is_missing(cfg, "run_dir"):
        raise ConfigError("run_dir is required: the directory of a finished hypergen-train run, e.g. "
                          "`hypergen-eval run_dir=runs/fmnist_cpu` (to evaluate another GHN file: ghn_path=<file> "
                          "targets.heldout=false run_dir=<where the report goes>)")
    run_dir = Path(str(cfg.run_dir))
    if cfg.targets.get("heldout") and not (run_dir / HELDOUT_FILE).is_file():
        runs = _finished_runs(run_dir.parent)
        hint = f"; finished runs in {run_dir.parent}: {runs}" if runs else ""
        what = "does not exist" if not run_dir.exists() else f"is not a finished hypergen-train run (no {HELDOUT_FILE})"
        raise ConfigError(f"run_dir={str(run_dir)!r} {what}: give the run directory of a finished hypergen-train "
                          f"run (it holds ghn_best.safetensors and {HELDOUT_FILE}), or set targets.heldout=false"
                          f"{hint}")
    check_argument_types(cfg)
    check_data_config(cfg.data)


def main() -> None:
    """Console entry point: ``hypergen-eval run_dir=runs/<name> [key=value ...]`` (Hydra command line)."""
    from hypergen.train.run import run_hydra_app

    run_hydra_app(EVAL_CONFIG_NAME, _task, check_run_dir)
