"""The Hydra configs in ``conf/``: every group option composes, resolves and builds its object; the data decides the
architectures' task; defaults are a laptop CPU run logging to W&B offline."""

from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.strategies import DDPStrategy
from omegaconf import OmegaConf

from hypergen.archs import build, count_params, get_family, list_families
from hypergen.data import get_dataset_spec, list_datasets
from hypergen.ghn import GHNConfig
from hypergen.ghn.decoders import ParamDecoder, build_decoder, list_decoders
from hypergen.ghn.gnn import list_gnns
from hypergen.train import builders
from hypergen.train.app import check_argument_types
from hypergen.tasks import CLASSIFICATION
from hypergen.train.archs import ArchPool
from hypergen.train.callbacks import ExportGHN, LastCheckpoint, ProgressLog
from hypergen.train.run import CONF_DIR_ENV, config_dir


@pytest.fixture(autouse=True)
def _forget_hydra_config():
    yield
    HydraConfig.instance().cfg = None  # leave no global Hydra state to later tests (Lightning checks it)


def _compose(tmp_path: Path, *overrides: str):
    """The composed config with ``hydra:`` interpolations resolvable and the run directory at ``tmp_path``."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={tmp_path}", *overrides], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def _group_files(group: str) -> dict[str, dict]:
    """``conf/<group>/*.yaml``: file name -> its YAML."""
    return {path.stem: yaml.safe_load(path.read_text()) for path in sorted((config_dir() / group).glob("*.yaml"))}


def _variant_base(entry: dict) -> str | None:
    """The option a variant file extends (``defaults: [<base>, _self_]``), or None for a file of its own (entries of
    other groups, such as data/text's choice of monitor, are ``{group: option}`` mappings)."""
    bases = [item for item in entry.get("defaults", []) if isinstance(item, str) and item != "_self_"]
    assert len(bases) <= 1, f"a variant extends exactly one option of its group, got {bases}"
    return bases[0] if bases else None


@pytest.mark.parametrize("group, key, registered", [("archs", "family", list_families), ("data", "name", list_datasets),
                                                     ("decoder", "decoder", list_decoders)])
def test_config_groups_mirror_the_registries(group, key, registered):
    files = _group_files(group)
    variants = {name: base for name, entry in files.items() if (base := _variant_base(entry)) is not None}
    for name, base in variants.items():  # e.g. archs/deepnets_small extends deepnets, data/mnist_1d aliases mnist1d
        assert base in files and base not in variants, f"conf/{group}/{name}.yaml extends {base!r}, not an option"
    for name in set(files) - set(variants):
        assert files[name][key] == name, f"conf/{group}/{name}.yaml: {key} must be the file's name"
    assert set(files) - set(variants) == set(registered()), f"conf/{group}/ must have one yaml per registry entry"


#: A data option whose samples each classifier input rank takes.
_DATA_FOR_RANK = {3: ["data=fashion_mnist"], 2: ["data=mnist1d"],
                  1: ["data=mnist1d", "data.dataset_options={flatten: true}"]}
#: The (input shape, vocabulary) of a token dataset, for language-model families while none is registered.
_TOKEN_TASK = ([64], 256)


def _pool_of(cfg, family) -> tuple[ArchPool, list[int]]:
    """The pool of ``cfg.archs`` for its composed data, or for :data:`_TOKEN_TASK` when the family's task has no
    registered dataset (language models before the text dataset)."""
    if family.task == CLASSIFICATION or builders.datasets_for_task(family.task):
        datamodule = builders.build_datamodule(cfg.data)
        pool = builders.build_arch_pool(cfg.archs, datamodule, virtual_edge_cutoff=cfg.ghn.max_distance)
        return pool, list(datamodule.input_shape)
    input_shape, vocab = _TOKEN_TASK
    return instantiate(cfg.archs, input_shape=input_shape, num_classes=vocab,
                       virtual_edge_cutoff=cfg.ghn.max_distance), input_shape


@pytest.mark.parametrize("archs", sorted(_group_files("archs")))
def test_every_arch_config_builds_its_family(tmp_path, archs):
    family = get_family(_compose(tmp_path, f"archs={archs}").archs.family)
    data = _DATA_FOR_RANK[family.input_ranks[-1]] if family.task == CLASSIFICATION else [
        f"data={name}" for name in builders.datasets_for_task(family.task)[:1]]
    cfg = _compose(tmp_path, f"archs={archs}", *data)
    pool, input_shape = _pool_of(cfg, family)
    assert len(pool.heldout_specs) == cfg.archs.heldout_count
    for spec in [pool.train_sampler.sample(i) for i in range(2)]:
        assert spec["family"] == family.name and spec["input_shape"] == input_shape
        model = build(spec, "meta")
        out = model(family.example_input(spec, 2, torch.device("meta")))
        assert tuple(out.shape) == family.output_shape(spec, 2)


#: The task each data option gives: input shape, classes (imagefolder: 3 class folders made in the test).
_DATA_TASKS = {"cifar10": ([3, 32, 32], 10), "cifar100": ([3, 32, 32], 100), "fashion_mnist": ([1, 28, 28], 10),
               "imagefolder": ([3, 64, 64], 3), "mnist1d": ([1, 40], 10), "mnist_1d": ([1, 40], 10),
               "text": ([64], 2048)}


@pytest.mark.parametrize("data", sorted(_group_files("data")))
def test_every_data_config_gives_its_dataset_spec_without_downloading(tmp_path, data):
    assert data in _DATA_TASKS, f"add the task of conf/data/{data}.yaml to _DATA_TASKS"
    for split in ("train", "val"):
        for label in "abc":
            (tmp_path / split / label).mkdir(parents=True)
    cfg = _compose(tmp_path, f"data={data}", *([f"data.root={tmp_path}"] if data == "imagefolder" else []))
    assert cfg.data.download is False
    spec = get_dataset_spec(cfg.data.name, root=cfg.data.root, download=cfg.data.download,
                            **(cfg.data.dataset_options or {}))
    assert (list(spec.input_shape), spec.num_classes) == _DATA_TASKS[data]
    datamodule = builders.build_datamodule(cfg.data)
    assert (list(datamodule.input_shape), datamodule.num_classes) == _DATA_TASKS[data]


def test_defaults_are_one_cpu_logging_to_wandb_offline_in_the_run_dir(tmp_path):
    cfg = _compose(tmp_path)
    assert cfg.name == "fashion_mnist_deepnets" and cfg.hydra.run.dir == "runs/fashion_mnist_deepnets"
    assert cfg.hydra.sweep.dir == "runs/fashion_mnist_deepnets/multirun"
    assert (cfg.trainer.accelerator, cfg.trainer.devices) == ("cpu", 1)
    wandb = cfg.logger.wandb
    assert wandb.offline is True and wandb.save_dir == str(tmp_path) and wandb.group == cfg.name
    assert cfg.callbacks.last_checkpoint.dirpath == str(tmp_path / "checkpoints")
    assert cfg.callbacks.export_ghn.path == str(tmp_path / "ghn_best.safetensors")


def test_experiment_fmnist_cpu(tmp_path):
    cfg = _compose(tmp_path, "experiment=fmnist_cpu")
    assert cfg.name == "fmnist_cpu" and cfg.hydra.run.dir == "runs/fmnist_cpu"
    assert (cfg.archs.family, cfg.data.name, cfg.trainer.accelerator) == ("deepnets", "fashion_mnist", "cpu")
    assert cfg.decoder.decoder == "tiling"
    assert (cfg.ghn.gnn, cfg.ghn.hidden, cfg.ghn.positional, cfg.trainer.max_steps) == ("gated", 128, False, 1300)
    datamodule = builders.build_datamodule(cfg.data)
    pool = builders.build_arch_pool(cfg.archs, datamodule, virtual_edge_cutoff=cfg.ghn.max_distance)
    # sized for one core: every net (training and held-out) has a stride-2 stem, 4-8 cells and 5K-40K parameters
    specs = [a.spec for a in pool.batch(0, 0, 1, 4)] + pool.heldout_specs
    assert len(pool.heldout_specs) == 8
    assert all(s["stem_stride"] == 2 and 4 <= s["num_cells"] <= 8 and 5000 <= count_params(s) <= 40000
               for s in specs)


def test_experiment_fmnist_cpu_lowrank_is_the_same_task_with_the_default_low_rank_decoder_on_the_gated_gnn(tmp_path):
    cfg = _compose(tmp_path, "experiment=fmnist_cpu_lowrank")
    base = _compose(tmp_path, "experiment=fmnist_cpu")
    assert cfg.name == "fmnist_cpu_lowrank"
    assert (cfg.decoder.decoder, cfg.decoder.rank, cfg.decoder.base) == ("core", 32, True)
    assert (cfg.ghn.gnn, cfg.ghn.gnn_layers, cfg.ghn.hidden, cfg.ghn.positional) == ("gated", 1, 128, True)
    config = GHNConfig.from_dict({**OmegaConf.to_container(cfg.ghn), **OmegaConf.to_container(cfg.decoder)})
    # the library default's decoder and node encoder; GHN-2's gated GNN (one round) instead of the graph transformer
    assert config == GHNConfig(gnn="gated", gnn_layers=1)
    for key in ("archs", "data", "trainer"):
        assert OmegaConf.to_container(cfg[key]) == OmegaConf.to_container(base[key]), key
    # the schedule is its own (issue 15's seventeenth round): 300 warmup steps to lr 2e-3; the rest of the module alike
    module, base_module = OmegaConf.to_container(cfg.module), OmegaConf.to_container(base.module)
    assert (module.pop("warmup_steps"), module.pop("lr")) == (300, pytest.approx(2e-3))
    assert (base_module.pop("warmup_steps"), base_module.pop("lr")) == (50, pytest.approx(1e-3))
    assert module == base_module


@pytest.mark.parametrize("ghn", sorted(_group_files("ghn")))
@pytest.mark.parametrize("decoder", sorted(_group_files("decoder")))
def test_ghn_and_decoder_groups_are_ghn_config_fields_that_build(tmp_path, ghn, decoder):
    cfg = _compose(tmp_path, f"ghn={ghn}", f"decoder={decoder}")
    config = GHNConfig.from_dict({**OmegaConf.to_container(cfg.ghn), **OmegaConf.to_container(cfg.decoder)})
    assert (config.gnn, config.decoder) == ({"default": "transformer", "ghn2": "gated"}[ghn], decoder)
    assert isinstance(build_decoder(config), ParamDecoder)


def test_every_registered_gnn_has_a_ghn_preset():
    # conf/ghn/ holds presets of all GHNConfig fields rather than one file per GNN; each GNN needs at least one
    assert {entry["gnn"] for entry in _group_files("ghn").values()} == set(list_gnns())


def test_no_orphaned_config_groups():
    # every group folder of conf/ is selected by train.yaml or eval.yaml (conf/graph/ was not; the shortest-path
    # cutoff of the graphs is ghn.max_distance, see docs/training.md)
    defaults = [yaml.safe_load((config_dir() / f"{name}.yaml").read_text())["defaults"] for name in ("train", "eval")]
    selected = {next(iter(item)) for items in defaults for item in items if isinstance(item, dict)}
    assert {path.name for path in config_dir().iterdir() if path.is_dir()} == selected


@pytest.mark.parametrize("data, archs, input_shape", [
    ("fashion_mnist", "deepnets", [1, 28, 28]), ("fashion_mnist", "mlp", [1, 28, 28]),
    ("mnist_1d", "cnn1d", [1, 40]), ("mnist_1d", "mlp", [1, 40]), ("cifar10", "deepnets", [3, 32, 32]),
])
def test_arch_pool_takes_its_task_from_the_data(tmp_path, data, archs, input_shape):
    cfg = _compose(tmp_path, f"data={data}", f"archs={archs}")
    datamodule = builders.build_datamodule(cfg.data)
    pool = builders.build_arch_pool(cfg.archs, datamodule)
    assert pool.train_sampler.input_shape == input_shape == list(datamodule.input_shape)
    assert pool.train_sampler.num_classes == 10 and pool.heldout_sampler.family.name == archs


def test_text_data_gives_gpt_its_context_and_vocabulary(tmp_path):
    cfg = _compose(tmp_path, "data=text", "archs=gpt")
    datamodule = builders.build_datamodule(cfg.data)  # nothing is read or tokenised before setup()
    pool = builders.build_arch_pool(cfg.archs, datamodule)
    assert pool.train_sampler.input_shape == [64] and pool.train_sampler.num_classes == 2048
    assert datamodule.spec.task == "language_model"


@pytest.mark.parametrize("data, archs, shape", [("fashion_mnist", "cnn1d", r"\[1, 28, 28\]"),
                                                ("mnist_1d", "deepnets", r"\[1, 40\]")])
def test_family_that_cannot_take_the_data_is_an_error_naming_both(tmp_path, data, archs, shape):
    cfg = _compose(tmp_path, f"data={data}", f"archs={archs}")
    name = cfg.data.name
    with pytest.raises(ValueError, match=rf"archs\.family='{archs}' takes inputs shaped .* but data\.name='{name}' "
                                         rf"gives samples of shape {shape}\. Choose a family that fits"):
        builders.build_arch_pool(cfg.archs, builders.build_datamodule(cfg.data))


def test_language_model_family_on_classification_data_fails_before_training(tmp_path):
    # flattened MNIST-1D has gpt's input rank ([40]) but float signals and labels, not token ids and next tokens
    cfg = _compose(tmp_path, "archs=gpt", "data=mnist1d", "data.dataset_options={flatten: true}")
    with pytest.raises(ValueError, match=r"^archs\.family='gpt' is a language_model family .* but data\.name='mnist1d' "
                                         r"is a classification dataset .*Choose a classification family "
                                         r"\(archs\.family: one of \['cnn1d', 'deepnets', 'mlp', 'mobilenet', "
                                         r"'resnet', 'vit'\]\) or a language_model dataset \(data=\.\.\.: "):
        builders.build_arch_pool(cfg.archs, builders.build_datamodule(cfg.data))


def test_pool_and_ghn_must_agree_on_the_shortest_path_cutoff(tmp_path):
    cfg = _compose(tmp_path, "archs=mlp", "ghn.max_distance=20")
    pool = builders.build_arch_pool(cfg.archs, builders.build_datamodule(cfg.data), virtual_edge_cutoff=20)
    assert builders.build_module(cfg.module, pool).ghn.config.max_distance == 20
    with pytest.raises(InstantiationException, match="shortest paths up to 50 but the GHN's max_distance is 20"):
        builders.build_module(cfg.module, builders.build_arch_pool(cfg.archs, builders.build_datamodule(cfg.data)))


def test_arch_config_may_not_set_the_task(tmp_path):
    cfg = _compose(tmp_path, "+archs.num_classes=3")
    with pytest.raises(ValueError, match="archs.num_classes is taken from the data module"):
        builders.build_arch_pool(cfg.archs, builders.build_datamodule(cfg.data))


def test_default_callbacks(tmp_path):
    cfg = _compose(tmp_path, "callbacks.last_checkpoint.every_n_train_steps=7")
    callbacks = builders.build_callbacks(cfg.callbacks, has_logger=True)
    # the last checkpoint after the other checkpoint callbacks: it saves their state after a validation
    assert [type(c) for c in callbacks] == [ModelCheckpoint, ExportGHN, LearningRateMonitor, ProgressLog,
                                            LastCheckpoint]
    best, last = callbacks[0], callbacks[-1]
    assert last.save_last and last.save_top_k == 0 and last._every_n_train_steps == 7
    assert last.last_path == tmp_path / "checkpoints" / "last.ckpt"
    assert (best.monitor, best.mode, best.save_top_k) == ("val/acc", "max", 1)
    no_logger = builders.build_callbacks(cfg.callbacks, has_logger=False)  # Lightning refuses an LR monitor then
    assert not any(isinstance(c, LearningRateMonitor) for c in no_logger) and len(no_logger) == 4
    progress = callbacks[-2]
    assert (progress.every_n_steps, progress.every_seconds, progress.when) == (50, 300, "auto")
    with pytest.raises(ValueError, match="callbacks.bad has no _target_"):
        builders.build_callbacks({"bad": {"x": 1}}, has_logger=True)


def test_monitor_picks_the_best_ghn_and_the_progress_metric(tmp_path):
    cfg = _compose(tmp_path, "monitor.metric=val/loss", "monitor.mode=min")
    best, export, _, progress, _ = builders.build_callbacks(cfg.callbacks, has_logger=True)
    assert (best.monitor, best.mode) == ("val/loss", "min")
    assert export.monitor == progress.metric == "val/loss"


@pytest.mark.parametrize(("overrides", "expected"), [
    ((), ("val/acc", "max")),
    (("data=text", "archs=gpt"), ("val/loss", "min")),  # the data's task picks the monitor, no experiment needed
    (("data=text", "archs=gpt", "monitor=accuracy"), ("val/acc", "max")),  # the command line still decides
    (("data=text", "archs=gpt", "monitor.metric=val/ppl"), ("val/ppl", "min")),
    (("data=cifar100",), ("val/acc", "max")),
])
def test_monitor_follows_the_data_task(tmp_path, overrides, expected):
    cfg = _compose(tmp_path, *overrides)
    assert (cfg.monitor.metric, cfg.monitor.mode) == expected
    assert cfg.optimized_metric == expected[0]  # what a sweeper is given
    best, export, _, progress, _ = builders.build_callbacks(cfg.callbacks, has_logger=True)
    assert (best.monitor, best.mode, export.monitor, progress.metric) == (*expected, expected[0], expected[0])
    # the run's warning fires only where a language-model run was told to keep top-1
    task = "language_model" if "data=text" in overrides else "classification"
    warns = builders.monitor_hint(task, cfg.monitor.metric) is not None
    assert warns == ("monitor=accuracy" in overrides)


@pytest.mark.parametrize(("data", "expected"), [("data=fashion_mnist", ("val/acc", "maximize")),
                                                 ("data=text", ("val/loss", "minimize"))])
def test_optuna_search_optimises_the_monitor_in_its_direction(tmp_path, data, expected):
    cfg = _compose(tmp_path, "hparams_search=optuna", data, "archs=gpt" if data == "data=text" else "archs=deepnets")
    assert (cfg.optimized_metric, cfg.hydra.sweeper.direction) == expected


def test_experiment_text_gpt_cpu(tmp_path):
    cfg = _compose(tmp_path, "experiment=text_gpt_cpu")
    check_argument_types(cfg)
    assert (cfg.data.dataset_options.context, cfg.data.batch_size, cfg.module.meta_batch) == (64, 16, 4)
    assert (cfg.trainer.max_steps, cfg.trainer.val_check_interval) == (3000, 750)  # sized in the experiment's comment
    assert cfg.name == "text_gpt_cpu" and (cfg.archs.family, cfg.data.name) == ("gpt", "text")
    assert (cfg.monitor.metric, cfg.monitor.mode, cfg.optimized_metric) == ("val/loss", "min", "val/loss")
    best, export, _, progress, _ = builders.build_callbacks(cfg.callbacks, has_logger=True)
    assert (best.monitor, best.mode, export.monitor, progress.metric) == ("val/loss", "min", "val/loss", "val/loss")
    vocab = cfg.data.dataset_options.vocab_size
    assert cfg.decoder.vocab_codes == vocab  # one learned row code per token id
    pool = instantiate(cfg.archs, input_shape=[cfg.data.dataset_options.context], num_classes=vocab,
                       virtual_edge_cutoff=cfg.ghn.max_distance)
    specs = [a.spec for a in pool.batch(0, 0, 1, cfg.module.meta_batch)] + pool.heldout_specs
    lo, hi = cfg.archs.param_bounds
    assert all(lo <= count_params(s) <= hi for s in specs)


def test_experiment_vit_fmnist_cpu(tmp_path):
    cfg = _compose(tmp_path, "experiment=vit_fmnist_cpu")
    check_argument_types(cfg)
    assert cfg.name == "vit_fmnist_cpu" and (cfg.archs.family, cfg.data.name) == ("vit", "fashion_mnist")
    assert (cfg.ghn.gnn, cfg.decoder.decoder) == ("transformer", "core")  # the library's default low-rank GHN
    pool = instantiate(cfg.archs, input_shape=[1, 28, 28], num_classes=10, virtual_edge_cutoff=cfg.ghn.max_distance)
    specs = [a.spec for a in pool.batch(0, 0, 1, cfg.module.meta_batch)] + pool.heldout_specs
    lo, hi = cfg.archs.param_bounds
    assert all(s["family"] == "vit" and lo <= count_params(s) <= hi for s in specs)


def test_cpu_and_ddp_trainers(tmp_path):
    cpu = builders.build_trainer(_compose(tmp_path).trainer, [], [])
    assert cpu.max_steps == 1000 and cpu.val_check_interval == 250 and cpu.world_size == 1
    cfg = _compose(tmp_path, "trainer=ddp", "trainer.accelerator=cpu")
    ddp = builders.build_trainer(cfg.trainer, [], [])
    assert isinstance(ddp.strategy, DDPStrategy) and ddp.num_devices == 2
    assert ddp.strategy._start_method == "popen"  # subprocesses, not spawn (see conf/trainer/ddp.yaml)


@pytest.mark.parametrize("trainer, precision, strategy", [
    ("gpu", "bf16-mixed", None), ("fsdp", "bf16-mixed", "lightning.pytorch.strategies.FSDPStrategy"),
])
def test_gpu_trainer_configs_compose(tmp_path, trainer, precision, strategy):
    cfg = _compose(tmp_path, f"trainer={trainer}")
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == precision
    assert (cfg.trainer.get("strategy") or {}).get("_target_") == strategy


def test_logger_options(tmp_path):
    assert list(_compose(tmp_path, "logger=csv").logger) == ["csv"]
    assert list(_compose(tmp_path, "logger=none").logger) == []


def test_optuna_search_maximises_val_acc(tmp_path):
    cfg = _compose(tmp_path, "hparams_search=optuna")
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and cfg.optimized_metric == "val/acc"
    assert cfg.hydra.mode.name == "MULTIRUN" and "module.lr" in sweeper.params


def test_slurm_launcher_sets_devices_from_tasks(tmp_path):
    cfg = _compose(tmp_path, "launcher=slurm", "trainer=ddp", "hydra.launcher.tasks_per_node=8",
                   "hydra.launcher.nodes=2")
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert (cfg.trainer.devices, cfg.trainer.num_nodes, cfg.hydra.launcher.gpus_per_node) == (8, 2, 8)


def test_wandb_sweep_runs_the_cli_with_hydra_overrides(tmp_path):
    sweep = yaml.safe_load((config_dir() / "wandb_sweep.yaml").read_text())
    assert sweep["program"] == "hypergen-train" and "${args_no_hyphens}" in sweep["command"]
    assert sweep["metric"] == {"name": "val/acc", "goal": "maximize"}
    params = sweep["parameters"]
    values = [f"{key}={spec['min'] if 'min' in spec else spec['values'][0]}" for key, spec in params.items()]
    fixed = [c for c in sweep["command"] if "=" in c and "${" not in c]
    cfg = _compose(tmp_path, *fixed, *values)  # every parameter is a key of the training config
    assert cfg.logger.wandb.offline is False


def test_config_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(CONF_DIR_ENV, raising=False)
    assert (config_dir() / "train.yaml").is_file() and config_dir().name == "conf"
    monkeypatch.setenv(CONF_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"no train.yaml in {CONF_DIR_ENV}={tmp_path}"):
        config_dir()
    (tmp_path / "train.yaml").write_text("name: x\n")
    assert config_dir() == tmp_path.resolve()


@pytest.mark.parametrize("data", sorted(_group_files("data")))
def test_every_data_option_composes_for_hypergen_eval(data):
    # hypergen-eval (conf/eval.yaml) takes the same data group; a data option that also picks another group's option
    # (data/text picks monitor/loss) must compose there too: `hypergen-eval data=text` failed while eval.yaml lacked it
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("eval", overrides=["run_dir=runs/x", f"data={data}"])
    assert cfg.data.name in list_datasets() and cfg.data.name == _group_files("data")[data].get("name", cfg.data.name)
