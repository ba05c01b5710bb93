"""Build the pieces of a training run from their Hydra configs (each one a ``_target_`` for ``instantiate``).

The architecture pool is the one object whose arguments are not all in its config: its ``input_shape`` and
``num_classes`` come from the data module, so any dataset composes with any family of the same task
(:data:`hypergen.tasks.TASKS`: classifiers with classification datasets, ``gpt`` with token datasets) whose input
rank fits.
"""

from __future__ import annotations

from hypergen.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # lightning imports torchmetrics, which imports torchvision (docs/install.md)

import logging  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import lightning.pytorch as pl  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from lightning.pytorch.callbacks import Callback, LearningRateMonitor  # noqa: E402
from lightning.pytorch.loggers import Logger  # noqa: E402

from hypergen.archs import get_family, list_families  # noqa: E402
from hypergen.data.datamodule import TaskDataModule  # noqa: E402
from hypergen.data.registry import get_dataset_class, list_datasets  # noqa: E402
from hypergen.graph.data import DEFAULT_VIRTUAL_EDGE_CUTOFF  # noqa: E402
from hypergen.train.app import ConfigError  # noqa: E402
from hypergen.train.archs import ArchPool  # noqa: E402
from hypergen.train.callbacks import ExportGHN, LastCheckpoint  # noqa: E402
from hypergen.train.module import GHNTrainingModule  # noqa: E402
from hypergen.tasks import CLASSIFICATION, LANGUAGE_MODEL, TASKS  # noqa: E402

__all__ = [
    "build_arch_pool", "build_callbacks", "build_datamodule", "build_module", "build_trainer", "check_task_fits",
    "datasets_for_task", "final_metrics", "monitor_hint", "seed_everything",
]

log = logging.getLogger(__name__)

#: Arguments of the architecture pool that the entry point takes from the data module.
TASK_KEYS = ("input_shape", "num_classes")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch in this process and in data-loader workers."""
    pl.seed_everything(seed, workers=True)


def build_datamodule(cfg: Mapping[str, Any]) -> TaskDataModule:
    """The data module of ``cfg`` (the ``data`` group)."""
    return instantiate(cfg)


def datasets_for_task(task: str) -> list[str]:
    """Registered datasets (``data.name``) of ``task``, sorted."""
    return [name for name in list_datasets() if get_dataset_class(name).task == task]


def monitor_hint(task: str, metric: str | None) -> str | None:
    """A warning when the best GHN of a language-model run would be chosen by token accuracy (``val/acc``), which
    barely moves while the next-token loss falls; ``None`` when the monitored metric suits the task.

    Args:
        task: the data's task (:data:`hypergen.tasks.TASKS`).
        metric: ``monitor.metric`` of the run's config.
    """
    if task == LANGUAGE_MODEL and metric == "val/acc":
        return ("this language-model run chooses its best GHN by next-token accuracy (monitor.metric=val/acc); "
                "monitor=loss chooses it by the loss (data=text selects it unless the command line says otherwise)")
    return None


def check_task_fits(family: str, dataset: str, input_shape: Sequence[int], task: str = CLASSIFICATION) -> None:
    """Check that architectures of ``family`` are trained for the dataset's ``task`` and take samples of
    ``input_shape``.

    Args:
        family: ``archs.family``.
        dataset: ``data.name`` (for the message).
        input_shape: one sample's shape, e.g. ``[1, 28, 28]`` or ``[T]`` for token windows.
        task: the dataset's task (:data:`hypergen.tasks.TASKS`).

    Raises:
        KeyError: unknown family (lists the registered ones).
        ConfigError: (a ``ValueError``, one line) the family's task differs from the dataset's, or its input rank
            differs from the data's; names both config keys and the families (and datasets) that fit.
    """
    accepted = get_family(family)
    if accepted.task != task:
        families = [name for name in list_families() if get_family(name).task == task]
        datasets = datasets_for_task(accepted.task)
        raise ConfigError(
            f"archs.family={family!r} is a {accepted.task} family ({TASKS.get(accepted.task, '?')}), but "
            f"data.name={dataset!r} is a {task} dataset ({TASKS.get(task, '?')}). Choose a {task} family "
            f"(archs.family: one of {families}) or a {accepted.task} dataset (data=...: "
            f"{f'one of {datasets}' if datasets else 'none is registered'})."
        )
    rank = len(input_shape)
    if rank not in accepted.input_ranks:
        fitting = [name for name in list_families()
                   if rank in get_family(name).input_ranks and get_family(name).task == task]
        raise ConfigError(
            f"archs.family={family!r} takes inputs shaped {accepted.input_description}, but data.name={dataset!r} "
            f"gives samples of shape {list(input_shape)}. Choose a family that fits this data "
            f"(archs.family: one of {fitting}) or another dataset (data=...)."
        )


def build_arch_pool(cfg: Mapping[str, Any], datamodule: TaskDataModule,
                    virtual_edge_cutoff: int = DEFAULT_VIRTUAL_EDGE_CUTOFF) -> ArchPool:
    """The architecture pool of ``cfg`` (the ``archs`` group) for the task of ``datamodule``, its graphs encoded with
    the GHN's ``virtual_edge_cutoff`` (``ghn.max_distance``).

    Raises:
        ValueError: ``cfg`` sets ``input_shape``/``num_classes`` (they come from the data), or the family does not fit
            the data (see :func:`check_task_fits`).
    """
    given = [key for key in (*TASK_KEYS, "virtual_edge_cutoff") if key in cfg]
    if given:
        raise ConfigError(f"archs.{given[0]} is taken from the data module (data=...) or the GHN (ghn.max_distance); "
                         "remove it from the archs config")
    check_task_fits(cfg["family"], datamodule.hparams.get("name", "?"), datamodule.input_shape,
                    datamodule.spec.task)
    return instantiate(cfg, input_shape=list(datamodule.input_shape), num_classes=datamodule.num_classes,
                       virtual_edge_cutoff=virtual_edge_cutoff)


def build_module(cfg: Mapping[str, Any], archs: ArchPool) -> GHNTrainingModule:
    """The Lightning module of ``cfg`` (the ``module`` entry) training on ``archs``."""
    return instantiate(cfg, archs=archs)


def build_callbacks(cfg: Mapping[str, Any] | None, has_logger: bool) -> list[Callback]:
    """The callbacks of ``cfg`` (the ``callbacks`` group: ``{name: config}``; ``name: null`` disables one).

    A learning-rate monitor is left out, with a log line, when the run has no logger (Lightning refuses it then). The
    :class:`~hypergen.train.callbacks.LastCheckpoint` comes last, after the checkpoint callbacks whose state it saves.

    Raises:
        ValueError: an entry has no ``_target_``.
    """
    callbacks = []
    for name, entry in (cfg or {}).items():
        if entry is None:
            continue
        if "_target_" not in entry:
            raise ConfigError(f"callbacks.{name} has no _target_; give the callback class, or set "
                              f"callbacks.{name}=null")
        callback = instantiate(entry)
        if isinstance(callback, LearningRateMonitor) and not has_logger:
            log.info("callbacks.%s: no logger (logger=none), so the learning rate is not logged", name)
            continue
        callbacks.append(callback)
    # the resumable last checkpoint records the other checkpoint callbacks' state, so it runs after them (Lightning
    # keeps the relative order of checkpoint callbacks)
    return sorted(callbacks, key=lambda c: isinstance(c, LastCheckpoint))


def build_trainer(cfg: Mapping[str, Any], callbacks: list[Callback], loggers: list[Logger]) -> pl.Trainer:
    """The Lightning trainer of ``cfg`` (the ``trainer`` group) with these callbacks and loggers."""
    return instantiate(cfg, callbacks=callbacks, logger=loggers or False)


def final_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The run's final metrics: the trainer's last logged values, overridden by those of the exported GHN."""
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items() if value.numel() == 1}
    for callback in trainer.callbacks:
        if isinstance(callback, ExportGHN):
            metrics.update(callback.final_metrics)
    return metrics
