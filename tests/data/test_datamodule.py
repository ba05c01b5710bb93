"""TaskDataModule: declared shapes match the batches, splits are seeded, augmentation defaults, Lightning use."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from hypergen.data import TaskDataModule

# Import order matters: hypergen.data.TaskDataModule makes torchvision (and so lightning) importable on CPU torch.
import lightning.pytorch as pl  # noqa: E402  isort: skip


@pytest.fixture(scope="module")
def fashion_module(fashion_spec):
    module = TaskDataModule(batch_size=64)
    module.setup("fit")
    module.setup("test")
    return module


def test_fashion_mnist_is_the_default(fashion_module):
    assert fashion_module.input_shape == (1, 28, 28) and fashion_module.num_classes == 10
    sizes = [len(fashion_module.train_dataset), len(fashion_module.val_dataset), len(fashion_module.test_dataset)]
    assert sizes == [54000, 6000, 10000]
    assert fashion_module.augment.crop_padding == 0 and not fashion_module.augment.horizontal_flip


@pytest.mark.parametrize("loader", ["train_dataloader", "val_dataloader", "test_dataloader"])
def test_batches_have_the_declared_shape(fashion_module, loader):
    inputs, labels = next(iter(getattr(fashion_module, loader)()))
    assert inputs.shape == (64, *fashion_module.input_shape) and inputs.dtype == torch.float32
    assert labels.shape == (64,) and labels.dtype == torch.int64
    assert 0 <= int(labels.min()) and int(labels.max()) < fashion_module.num_classes


def test_validation_split_is_seeded_and_disjoint(fashion_module, fashion_spec):
    train, val = fashion_module.train_dataset.indices, fashion_module.val_dataset.indices
    assert not torch.isin(val, train).any()
    again = TaskDataModule(seed=0)
    again.setup("fit")
    assert torch.equal(again.val_dataset.indices, val)
    other = TaskDataModule(seed=1)
    other.setup("validate")
    assert not torch.equal(other.val_dataset.indices, val)
    # Validation samples are the training images, normalised, without augmentation.
    image, label = fashion_module.val_dataset[0]
    raw_image, raw_label = fashion_module.train_dataset.base[int(val[0])]
    assert label == raw_label
    torch.testing.assert_close(image, (raw_image.float() / 255 - fashion_spec.mean[0]) / fashion_spec.std[0])


def test_subsets(fashion_spec):
    module = TaskDataModule(train_subset=500, eval_subset=200, batch_size=100)
    module.setup()
    assert [len(module.train_dataset), len(module.val_dataset), len(module.test_dataset)] == [500, 200, 200]
    assert sum(len(labels) for _, labels in module.train_dataloader()) == 500


def test_mnist1d_flat_and_channel_inputs():
    pytest.importorskip("mnist1d")
    for options, shape in (({}, (1, 40)), ({"flatten": True}, (40,))):
        module = TaskDataModule("mnist1d", batch_size=32, dataset_options={"num_samples": 500, **options})
        module.setup("fit")
        assert module.input_shape == shape and len(module.train_dataset) + len(module.val_dataset) == 400
        inputs, labels = next(iter(module.train_dataloader()))
        assert inputs.shape == (32, *shape) and labels.max() < 10


def test_cifar_defaults_to_crop_and_flip(fake_cifar):
    root, written = fake_cifar("cifar10")
    module = TaskDataModule("cifar10", root=str(root), batch_size=4, val_fraction=0.2)
    assert module.augment.crop_padding == 4 and module.augment.horizontal_flip
    module.setup()
    inputs, _ = next(iter(module.train_dataloader()))
    assert inputs.shape == (4, 3, 32, 32) and len(module.train_dataset) == 24 and len(module.test_dataset) == 5
    plain = TaskDataModule("cifar10", root=str(root), batch_size=5, crop_padding=0, horizontal_flip=False)
    plain.setup("test")
    inputs, labels = next(iter(plain.test_dataloader()))
    mean, std = torch.tensor(plain.spec.mean).view(1, 3, 1, 1), torch.tensor(plain.spec.std).view(1, 3, 1, 1)
    expected = (torch.from_numpy(written["test"][0]).permute(0, 3, 1, 2).float() / 255 - mean) / std
    torch.testing.assert_close(inputs, expected)
    assert labels.tolist() == written["test"][1]


def test_imagefolder_through_the_module(fake_imagefolder):
    module = TaskDataModule(
        "imagefolder", root=str(fake_imagefolder), batch_size=6, val_fraction=0.25, dataset_options={"image_size": 8}
    )
    assert module.input_shape == (3, 8, 8) and module.num_classes == 3
    module.setup()
    assert [len(module.train_dataset), len(module.val_dataset), len(module.test_dataset)] == [9, 3, 6]
    inputs, labels = next(iter(module.test_dataloader()))
    assert inputs.shape == (6, 3, 8, 8) and sorted(labels.tolist()) == [0, 0, 1, 1, 2, 2]


def test_errors():
    with pytest.raises(KeyError, match="unknown dataset 'fashion'"):
        TaskDataModule("fashion")
    with pytest.raises(ValueError, match="val_fraction must be in"):
        TaskDataModule(val_fraction=1.5)
    with pytest.raises(TypeError, match="has no option"):
        TaskDataModule(dataset_options={"image_size": 8})
    with pytest.raises(RuntimeError, match=r"call setup\('fit'\) first"):
        TaskDataModule().train_dataloader()


def test_distributed_sampler_shards_the_training_set(fashion_module):
    # What Lightning does under DDP: replace the sampler by a DistributedSampler per rank.
    dataset = fashion_module.train_dataset
    shards = [list(DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=0)) for rank in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 27000 and not set(shards[0]) & set(shards[1])
    inputs, _ = next(iter(DataLoader(dataset, batch_size=8, sampler=DistributedSampler(dataset, 2, 1))))
    assert inputs.shape == (8, 1, 28, 28)


class LinearClassifier(pl.LightningModule):
    """Logistic regression that also counts the validation samples it sees (summed over steps and ranks)."""

    def __init__(self, input_size: int, num_classes: int) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(input_size, num_classes)

    def training_step(self, batch, _):
        inputs, labels = batch
        return torch.nn.functional.cross_entropy(self.layer(inputs.flatten(1)), labels)

    def validation_step(self, batch, _):
        self.log("seen", float(len(batch[1])), reduce_fx="sum", sync_dist=True, batch_size=len(batch[1]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_trainer_runs_on_the_module():
    pytest.importorskip("mnist1d")
    module = TaskDataModule("mnist1d", batch_size=50, dataset_options={"num_samples": 500})
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=3, limit_val_batches=2, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    model = LinearClassifier(40, module.num_classes)
    trainer.fit(model, datamodule=module)
    assert trainer.global_step == 3
    assert trainer.validate(model, datamodule=module, verbose=False)[0]["seen"] == 40.0  # all 40 validation signals


@pytest.mark.slow
def test_ddp_two_cpu_processes_see_the_whole_validation_set():
    # ddp_fork, not ddp_spawn: a spawned child unpickles Lightning's launcher (importing lightning, hence
    # torchvision) before any hypergen code could install the CPU-torch shim of hypergen.compat.
    module = TaskDataModule(batch_size=25, eval_subset=100, train_subset=200)
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp_fork", max_steps=2, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    model = LinearClassifier(28 * 28, module.num_classes)
    trainer.fit(model, datamodule=module)
    # 100 validation images over 2 ranks x 2 batches of 25, summed over the ranks.
    assert trainer.validate(model, datamodule=module, verbose=False)[0]["seen"] == 100.0


def test_training_batches_are_full_and_seeded(fashion_spec):
    module = TaskDataModule(train_subset=100, batch_size=33, seed=5)
    module.setup("fit")
    sizes = [len(labels) for _, labels in module.train_dataloader()]
    assert sizes == [33, 33, 33]  # 100 = 3 x 33 + 1: a batch of one would stop BatchNorm nets in training
    again = TaskDataModule(train_subset=100, batch_size=33, seed=5)
    again.setup("fit")
    torch.manual_seed(123)  # the order does not follow torch's global generator
    first = [labels.tolist() for _, labels in module.train_dataloader()]
    assert first == [labels.tolist() for _, labels in again.train_dataloader()]
    small = TaskDataModule(train_subset=10, batch_size=33)
    small.setup("fit")
    assert [len(labels) for _, labels in small.train_dataloader()] == [10]  # smaller than one batch: kept
