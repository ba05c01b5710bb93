"""The plumbing of hypergen's Hydra console entry points (``hypergen-train``, ``hypergen-eval``): checks of the
composed config before Hydra creates a run directory, and errors a user can act on as one line, with no traceback
and a non-zero exit status.

A config value of the wrong type (``trainer.max_steps=ten``) is caught by :func:`check_argument_types`, which
compares every ``_target_`` entry with the type hints of the class it builds. Errors raised while a run starts that
are the user's to fix (:class:`ConfigError`, a missing or existing file, a bad GHN checkpoint, a diverged training) are
logged as one line; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import collections.abc
import inspect
import logging
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypergen.ghn.checkpoint import CheckpointError

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = [
    "ConfigError", "USER_ERRORS", "check_argument_types", "check_data_config", "run_hydra_app",
    "store_registry_configs",
]

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config value or command-line argument the user must change; the message names it and says how."""


#: Exceptions that end a command with their message only (no traceback): the message says what to change
#: (FloatingPointError: training diverged; the message names the step and the nets).
USER_ERRORS: tuple[type[BaseException], ...] = (ConfigError, CheckpointError, FileNotFoundError, FileExistsError,
                                                FloatingPointError)


def _describe(annotation: Any) -> str:
    """``int | None`` -> ``"an integer or null"``: a type hint in the words of a config file."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_describe(a) for a in args))
    if origin is typing.Literal:
        return f"one of {list(args)}"
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null",
             list: "a list [...]", tuple: "a list [...]", dict: "a mapping {...}"}
    container = origin if origin is not None else annotation
    for kind, word in ((collections.abc.Sequence, "a list [...]"), (collections.abc.Mapping, "a mapping {...}")):
        if container is kind:
            return word
    return words.get(container, getattr(container, "__name__", str(container)))


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether a plain config ``value`` fits ``annotation``; types a config cannot express are not checked."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(a, value) for a in args)
    if origin is typing.Literal:
        return value in args
    if isinstance(value, dict) and "_target_" in value:
        return True  # built by instantiate
    checks: dict[Any, Callable[[Any], bool]] = {
        type(None): lambda v: v is None,
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
        list: lambda v: isinstance(v, (list, tuple)), tuple: lambda v: isinstance(v, (list, tuple)),
        collections.abc.Sequence: lambda v: isinstance(v, (list, tuple, str)),
        dict: lambda v: isinstance(v, dict), collections.abc.Mapping: lambda v: isinstance(v, dict),
    }
    check = checks.get(origin if origin is not None else annotation)
    return check(value) if check is not None else True


def _init_hints(target: str) -> tuple[str, dict[str, Any]]:
    """``target`` and the type hints of its ``__init__`` (empty where they cannot be read)."""
    from hydra.utils import get_object

    try:
        obj = get_object(target)
        function = obj.__init__ if inspect.isclass(obj) else obj
        hints = typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - an unimportable target or unreadable hints: instantiate reports or checks it
        return target, {}
    return target, hints


def check_argument_types(cfg: Any, prefix: str = "") -> None:
    """Check every ``_target_`` entry of ``cfg`` (a composed config, plain or OmegaConf) against the type hints of the
    class or function it builds, before anything is built.

    Values that are interpolations (``${...}``) or that a config cannot express are not checked.

    Raises:
        ConfigError: names the full key, the value, the expected type and the class it is an argument of.
    """
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(cfg, resolve=False) if OmegaConf.is_config(cfg) else cfg
    if isinstance(plain, list):
        for i, item in enumerate(plain):
            check_argument_types(item, f"{prefix}[{i}]")
        return
    if not isinstance(plain, dict):
        return
    target = plain.get("_target_")
    name, hints = _init_hints(target) if isinstance(target, str) else ("", {})
    for key, value in plain.items():
        if not isinstance(key, str) or key.startswith("_"):
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, str) and "${" in value:
            continue
        if key in hints and not _accepts(hints[key], value):
            raise ConfigError(f"{path}={value!r} is not {_describe(hints[key])} (the {key} argument of {name}); "
                              f"set {path}=<{_describe(hints[key])}> on the command line or in the config")
        check_argument_types(value, path)


def check_data_config(data: Any) -> None:
    """Check the ``data`` group of a composed config by building its dataset spec (cheap: no file is read).

    Args:
        data: the ``data`` entry (plain or OmegaConf): ``name``, ``root``, ``download``, ``dataset_options``.

    Raises:
        ConfigError: an unknown ``data.name`` (lists the registered datasets), an option the dataset does not have,
            or a missing or bad value such as ``data.root`` of ``data=imagefolder``; the message names the key.
    """
    from omegaconf import OmegaConf

    from hypergen.data import get_dataset_spec, list_datasets

    plain = OmegaConf.to_container(data, resolve=False) if OmegaConf.is_config(data) else dict(data)
    name = plain.get("name")
    if name not in list_datasets():
        raise ConfigError(f"data.name={name!r} is not a registered dataset; choose data=<one of {list_datasets()}>")
    options = plain.get("dataset_options") or {}
    try:
        get_dataset_spec(name, root=plain.get("root"), download=bool(plain.get("download", False)), **options)
    except TypeError as err:  # an option the spec does not have
        raise ConfigError(f"data.dataset_options: {err}") from None
    except ValueError as err:  # a missing or bad value, named by the spec
        raise ConfigError(f"data={name}: {err}") from None


#: Config group -> (the key of its yaml naming the registry entry, keys reset to the component's own defaults).
_REGISTRY_GROUPS: dict[str, tuple[str, dict[str, Any]]] = {
    "archs": ("family", {"options": {}}),
    "data": ("name", {"dataset_options": None}),
    "decoder": ("decoder", {}),
}


def store_registry_configs(config_dir: str | Path) -> dict[str, list[str]]:
    """Make every registered family, dataset and decoder that has no ``conf/<group>/<name>.yaml`` selectable
    (``data=<name>``...) by storing a config node for it in Hydra's ``ConfigStore``.

    A node is the group's default option (the one ``train.yaml`` selects, e.g. ``data/fashion_mnist.yaml``) with the
    entry's name and, where the group has them, the component's own options reset to its defaults (``options: {}``,
    ``dataset_options: null``); a decoder's node is ``{decoder: <name>}`` (the other fields: ``GHNConfig``'s
    defaults). Built-ins keep their yaml (``tests/train/test_train_configs.py`` checks that they have one); this is
    for components registered from other packages (entry points, see ``docs/extending.md``). Call it when an app
    starts, not at import.

    Args:
        config_dir: the folder holding ``train.yaml`` and the group folders.

    Returns:
        group -> the names stored for it.
    """
    import yaml
    from hydra.core.config_store import ConfigStore

    from hypergen.archs import list_families
    from hypergen.data import list_datasets
    from hypergen.ghn.decoders import list_decoders

    registered = {"archs": list_families(), "data": list_datasets(), "decoder": list_decoders()}
    folder = Path(config_dir)
    train_defaults = yaml.safe_load((folder / "train.yaml").read_text()).get("defaults", [])
    selected = {key: value for item in train_defaults if isinstance(item, dict) for key, value in item.items()}
    stored: dict[str, list[str]] = {}
    for group, (key, reset) in _REGISTRY_GROUPS.items():
        missing = [name for name in registered[group] if not (folder / group / f"{name}.yaml").is_file()]
        default_file = folder / group / f"{selected.get(group)}.yaml"
        if not missing or not default_file.is_file():
            continue
        template = {} if group == "decoder" else yaml.safe_load(default_file.read_text())
        template.pop("defaults", None)
        for name in missing:
            ConfigStore.instance().store(group=group, name=name, node={**template, **reset, key: name})
        stored[group] = missing
    return stored


def _compose(config_dir: str, config_name: str, overrides: Sequence[str]) -> DictConfig | None:
    """The config Hydra will run with these overrides, or None where Hydra itself should report the problem."""
    from hydra import compose, initialize_config_dir

    try:
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            return compose(config_name, overrides=list(overrides))
    except Exception:  # noqa: BLE001 - bad overrides: Hydra's own message (with the valid options) follows
        return None


def _single_run() -> bool:
    """Whether Hydra runs one job (in a multirun the sweeper decides what a failed trial means)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN


def _guarded(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """``task``, with :data:`USER_ERRORS` of a single run logged as one line (console and the run's log) and exit
    status 2."""

    def run(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        except USER_ERRORS as err:
            if not _single_run():
                raise
            log.error("%s", err)
            raise SystemExit(2) from None

    run.__name__ = getattr(task, "__name__", "task")
    return run


def run_hydra_app(prog: str, config_dir: str, config_name: str, task: Callable[[DictConfig], Any],
                  precheck: Callable[[DictConfig], None] | None = None) -> None:
    """Run ``task`` as a Hydra app on ``<config_dir>/<config_name>.yaml`` with the process's command line.

    Without Hydra flags (``--help``, ``--cfg``, ``-m``...) the config is composed first and given to ``precheck``;
    a :class:`ConfigError` there ends the command with ``<prog>: <message>`` before Hydra creates the run directory.

    Args:
        prog: the command's name, for messages (``"hypergen-train"``).
        config_dir: folder of the primary config.
        config_name: the primary config (``"train"``).
        task: what to run with the composed config.
        precheck: checks of the composed config (raise :class:`ConfigError`).
    """
    import hydra

    store_registry_configs(config_dir)
    args = sys.argv[1:]
    if precheck is not None and not any(arg.startswith("-") for arg in args):
        cfg = _compose(config_dir, config_name, args)
        if cfg is not None:
            try:
                precheck(cfg)
            except ConfigError as err:
                raise SystemExit(f"{prog}: {err}") from None
    hydra.main(config_path=config_dir, config_name=config_name, version_base="1.3")(_guarded(task))()
