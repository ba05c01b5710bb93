"""The console apps' plumbing: config values of the wrong type, and data options the dataset refuses, are named
before anything is built."""

import sys

import pytest
from hydra import compose, initialize_config_dir

from hypergen.train.app import ConfigError, check_argument_types, check_data_config
from hypergen.train.run import config_dir, main


def _compose(*overrides):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("train", overrides=list(overrides))


@pytest.mark.parametrize("overrides", [[], ["experiment=fmnist_cpu"], ["experiment=fmnist_cpu_lowrank"],
                                       ["trainer=ddp"], ["trainer=fsdp"], ["trainer=gpu", "logger=csv"],
                                       ["data=mnist_1d", "archs=cnn1d"], ["callbacks=[default,arch_log]"],
                                       ["hparams_search=optuna"]])
def test_shipped_configs_pass(overrides):
    check_argument_types(_compose(*overrides))


@pytest.mark.parametrize("override, message", [
    ("trainer.max_steps=ten", "trainer.max_steps='ten' is not an integer (the max_steps argument of "
                              "lightning.pytorch.Trainer); set trainer.max_steps=<an integer>"),
    ("module.lr=fast", "module.lr='fast' is not a number (the lr argument of "
                       "hypergen.train.module.GHNTrainingModule)"),
    ("archs.pool_size=many", "archs.pool_size='many' is not an integer or null"),
    ("data.batch_size=1.5", "data.batch_size=1.5 is not an integer"),
    ("trainer.enable_progress_bar=maybe", "trainer.enable_progress_bar='maybe' is not true or false or null"),
    ("callbacks.last_checkpoint.every_n_train_steps=often",
     "callbacks.last_checkpoint.every_n_train_steps='often' is not an integer"),
    ("archs.options=3", "archs.options=3 is not a mapping {...} or null"),
])
def test_wrong_types_are_named(override, message):
    with pytest.raises(ConfigError) as err:
        check_argument_types(_compose(override))
    assert message in str(err.value)


def test_values_a_config_cannot_type_are_not_checked():
    check_argument_types({"_target_": "hypergen.train.archs.ArchPool", "family": "${archs.family}",
                          "seed": "${seed}", "unknown_key": object()})
    check_argument_types({"_target_": "no.such.module.Thing", "x": 1})  # instantiate reports an unimportable target


@pytest.mark.parametrize("data", sorted(path.stem for path in (config_dir() / "data").glob("*.yaml")))
def test_shipped_data_configs_pass_the_data_check(tmp_path, data):
    extra = [f"data.root={tmp_path}"] if data == "imagefolder" else []
    check_data_config(_compose(f"data={data}", *extra).data)


@pytest.mark.parametrize("overrides, message", [
    (["data=imagefolder"], "data=imagefolder: dataset 'imagefolder' needs a root"),
    (["data.name=svhn"], "data.name='svhn' is not a registered dataset; choose data=<one of ['cifar10', "),
    (["data=mnist1d", "data.dataset_options={image_size: 3}"],
     "data.dataset_options: dataset 'mnist1d' has no option(s) ['image_size']; accepted options: ['root', "),
    (["data.download=true"], "data=fashion_mnist: fashion_mnist does not download"),
])
def test_bad_data_configs_are_named(overrides, message):
    with pytest.raises(ConfigError) as err:
        check_data_config(_compose(*overrides).data)
    assert message in str(err.value)


def test_imagefolder_without_root_is_one_line_naming_data_root(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["hypergen-train", "data=imagefolder", "archs=resnet"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    message = str(exit_info.value.code)
    assert message.startswith("hypergen-train: data=imagefolder: ") and "data.root=<folder>" in message
    assert "\n" not in message


def test_a_registered_dataset_without_a_yaml_is_selectable(monkeypatch, tmp_path):
    from dataclasses import dataclass
    from typing import ClassVar

    from hydra.core.config_store import ConfigStore

    from hypergen.data import DatasetSpec, register_dataset
    from hypergen.data import registry as data_registry
    from hypergen.train.app import store_registry_configs

    monkeypatch.setattr(data_registry, "_DATASETS", data_registry._DATASETS.copy())

    @register_dataset("no_yaml_task")
    @dataclass(frozen=True, kw_only=True)
    class NoYamlSpec(DatasetSpec):
        input_shape: ClassVar[tuple[int, ...]] = (1, 28, 28)
        num_classes: ClassVar[int] = 10
        mean: ClassVar[tuple[float, ...]] = (0.5,)
        std: ClassVar[tuple[float, ...]] = (0.5,)
        load = None  # type: ignore[assignment]

    store = ConfigStore.instance()
    monkeypatch.setattr(store, "repo", {**store.repo, "data": dict(store.repo.get("data", {}))})
    assert store_registry_configs(config_dir()) == {"data": ["no_yaml_task"]}  # built-ins all have their yaml
    cfg = _compose("data=no_yaml_task")
    default = _compose()
    assert cfg.data.name == "no_yaml_task" and cfg.data.dataset_options is None
    assert cfg.data.batch_size == default.data.batch_size and cfg.data._target_ == default.data._target_
    check_data_config(cfg.data)
