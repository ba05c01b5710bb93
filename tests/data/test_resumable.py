"""Resumable training batches: a seeded order per epoch, rank shards, per-sample augmentation seeds, and a loader
that continues after the batches it handed out."""

import pytest
import torch

from hypergen.data.datasets import InMemoryDataset, TransformedSubset
from hypergen.data.registry import AugmentConfig
from hypergen.data.resumable import EpochSampler, ResumableDataLoader, sample_seed
from hypergen.data.transforms import SampleTransform


def _dataset(size=10):
    images = torch.arange(size * 16, dtype=torch.uint8).reshape(size, 1, 4, 4)
    augment = AugmentConfig(crop_padding=1, horizontal_flip=True)
    return TransformedSubset(InMemoryDataset(images, torch.arange(size)), None,
                             SampleTransform((0.0,), (1.0,), (1, 4, 4), augment))


def _loader(dataset, **kwargs):
    return ResumableDataLoader(dataset, EpochSampler(len(dataset), seed=3, **kwargs), batch_size=3)


def test_every_epoch_is_a_new_seeded_permutation():
    sampler = EpochSampler(10, seed=3)
    orders = [sampler.order(epoch) for epoch in range(3)]
    assert all(sorted(order) == list(range(10)) for order in orders)
    assert orders[0] != orders[1] != orders[2]
    assert EpochSampler(10, seed=3).order(1) == orders[1]  # a function of (seed, epoch), not of torch's generator
    assert EpochSampler(10, seed=4).order(1) != orders[1]
    assert EpochSampler(10, shuffle=False).order(5) == list(range(10))


def test_ranks_share_the_order_without_overlap():
    shards = [EpochSampler(10, seed=1, num_replicas=3, rank=r).order(2) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4]  # padded to a multiple of 3 with the order's first samples
    assert set(sum(shards, [])) == set(range(10))


def test_loader_resumes_after_the_batches_it_handed_out():
    dataset = _dataset()
    straight = _loader(dataset)
    reference = [batch for _ in range(3) for batch in straight]  # 3 epochs of 4 batches (3 + 3 + 3 + 1)
    assert [len(labels) for _, labels in reference] == [3, 3, 3, 1] * 3
    first = _loader(dataset)
    assert len(list(first)) == 4  # epoch 0...
    batches = iter(first)
    next(batches), next(batches)  # ...and half of epoch 1
    state = first.state_dict()
    assert state == {"epoch": 1, "batches": 2}
    again = _loader(dataset)
    again.load_state_dict(state)
    rest = [batch for _ in range(2) for batch in again]  # the rest of epoch 1, then epoch 2
    assert len(rest) == len(reference) - 6
    for (x, y), (ref_x, ref_y) in zip(rest, reference[6:]):
        assert torch.equal(y, ref_y) and torch.equal(x, ref_x)  # same samples, same crops and flips


def test_a_state_at_the_end_of_an_epoch_resumes_at_the_next_one():
    dataset = _dataset()
    loader = _loader(dataset)
    loader.load_state_dict({"epoch": 0, "batches": 4})
    assert loader.state_dict() == {"epoch": 1, "batches": 0}
    straight = _loader(dataset)
    epoch_1 = [y.tolist() for _ in range(2) for _, y in straight][4:]
    assert [y.tolist() for _, y in loader] == epoch_1


def test_augmentation_is_seeded_per_sample_and_epoch():
    dataset = _dataset()
    seeds = {sample_seed(0, epoch, index) for epoch in range(5) for index in range(100)}
    assert len(seeds) == 500
    crops = {tuple(dataset[(7, sample_seed(0, epoch, 7))][0].flatten().tolist()) for epoch in range(20)}
    assert len(crops) > 5  # crops and flips differ between epochs...
    assert torch.equal(dataset[(7, 123)][0], dataset[(7, 123)][0])  # ...and are fixed by the key


def test_loader_needs_an_epoch_sampler():
    with pytest.raises(TypeError, match="needs an EpochSampler"):
        ResumableDataLoader(_dataset(), sampler=None)
