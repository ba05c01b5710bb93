"""The console apps' plumbing: config values of the wrong type are named before anything is built."""

import pytest
from hydra import compose, initialize_config_dir

from hypergen.train.app import ConfigError, check_argument_types
from hypergen.train.run import config_dir


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
