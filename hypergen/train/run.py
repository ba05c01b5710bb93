"""``hypergen-train`` / ``python -m hypergen.train``: the Hydra entry point that trains a GHN (docs/training.md).

The configs live in the repository's top-level ``conf/`` (``conf/train.yaml`` and its groups). Every object is built
from a ``_target_`` by :mod:`hypergen.train.builders`; this module only orders the steps: seed, build, resume, fit,
report. Lightning and wandb are imported when a run starts, so a bad command line fails fast.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["CONFIG_NAME", "CONF_DIR_ENV", "config_dir", "main", "run_hydra_app", "train", "use_hydra_logging"]

log = logging.getLogger(__name__)

#: The primary config, ``conf/train.yaml``.
CONFIG_NAME = "train"
#: Environment variable that points at another config folder (a copy of ``conf/`` with your own groups).
CONF_DIR_ENV = "HYPERGEN_CONF_DIR"


def config_dir() -> Path:
    """The folder holding ``train.yaml``: ``$HYPERGEN_CONF_DIR`` if set, else ``conf/`` next to the package.

    Raises:
        FileNotFoundError: ``train.yaml`` is not there (says how to point at a config folder).
    """
    override = os.environ.get(CONF_DIR_ENV)
    folder = Path(override) if override else Path(__file__).resolve().parents[2] / "conf"
    if not (folder / f"{CONFIG_NAME}.yaml").is_file():
        where = f"{CONF_DIR_ENV}={override}" if override else f"{folder} (the conf/ folder of the hypergen checkout)"
        raise FileNotFoundError(
            f"hypergen-train: no {CONFIG_NAME}.yaml in {where}. Install hypergen from a checkout "
            f"(pip install -e .), or set {CONF_DIR_ENV} to the conf/ folder of a hypergen checkout."
        )
    return folder.resolve()


def train(cfg: DictConfig) -> dict[str, float]:
    """Train a GHN as ``cfg`` (a composed ``conf/train.yaml``) says, resuming from the run's last checkpoint.

    Args:
        cfg: the composed config; ``cfg.paths.output_dir`` is the run directory.

    Returns:
        The final metrics: ``val/acc``, ``val/acc_random_init``, ``val/loss``, ``val/loss_random_init`` (and
        ``val/ppl`` for language models)... of the exported GHN (the best by ``monitor.metric``), and the trainer's
        last logged values for the rest.

    Raises:
        ValueError: the architecture family cannot take the dataset's inputs (names both), or a config entry is
            malformed.
        FileExistsError: the run directory holds a checkpoint but ``resume=false``.
    """
    from hypergen.train import builders
    from hypergen.train.loggers import build_loggers, finish_loggers
    from hypergen.train.resume import resume_checkpoint

    run_dir = Path(cfg.paths.output_dir)
    builders.seed_everything(int(cfg.seed))
    datamodule = builders.build_datamodule(cfg.data)
    hint = builders.monitor_hint(datamodule.spec.task, cfg.get("monitor", {}).get("metric"))
    if hint:
        log.warning(hint)
    archs = builders.build_arch_pool(cfg.archs, datamodule, virtual_edge_cutoff=int(cfg.ghn.max_distance))
    module = builders.build_module(cfg.module, archs)
    loggers = build_loggers(cfg.get("logger"), run_dir)
    callbacks = builders.build_callbacks(cfg.get("callbacks"), has_logger=bool(loggers))
    trainer = builders.build_trainer(cfg.trainer, callbacks, loggers)
    ckpt_path = resume_checkpoint(callbacks, resume=bool(cfg.resume), ckpt_path=cfg.get("ckpt_path"))
    failed = True
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        failed = False
    finally:
        finish_loggers(loggers, failed=failed)
    return builders.final_metrics(trainer)


def use_hydra_logging() -> None:
    """Route Lightning's log records to Hydra's handlers (console and ``<run dir>/train.log``) only: ``import
    lightning`` adds a console handler of its own, which would print every line twice."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)
        logger.propagate = True


def _task(cfg: DictConfig) -> Any:
    from hypergen.train import builders  # noqa: F401 - imports lightning (behind the torchvision shim) and its handlers

    use_hydra_logging()
    metrics = train(cfg)
    name = cfg.get("optimized_metric")
    return metrics.get(name) if name else None  # what a sweeper (Optuna) optimises


def run_hydra_app(config_name: str, task: Callable[[DictConfig], Any],
                  precheck: Callable[[DictConfig], None] | None = None) -> None:
    """Run ``task`` as a Hydra app on ``<conf dir>/<config_name>.yaml`` with the process's command line (the body of
    every hypergen console entry point, see :func:`hypergen.train.app.run_hydra_app`); a missing config folder exits
    with the message of :func:`config_dir`."""
    from hypergen.train import app

    try:
        folder = config_dir()
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from None
    prog = {CONFIG_NAME: "hypergen-train"}.get(config_name, f"hypergen-{config_name}")
    app.run_hydra_app(prog, str(folder), config_name, task, precheck)


def _precheck(cfg: DictConfig) -> None:
    from hypergen.train.app import check_argument_types, check_data_config

    check_argument_types(cfg)
    check_data_config(cfg.data)


def main() -> None:
    """Console entry point: ``hypergen-train [group=option ...] [key=value ...]`` (Hydra command line)."""
    run_hydra_app(CONFIG_NAME, _task, _precheck)
