"""ArchSampler: determinism, resumption, disjoint DDP ranks, disjoint train/test, held-out ranges, bounds."""

from __future__ import annotations

import pytest
from torch import nn

from hypergen.archs import (
    ArchSampler, InvalidSpecError, SamplingError, build, count_params, get_split, list_families, spec_key,
    spec_summary,
)
from hypergen.archs.splits import in_test_part

# One task per family for the cheap tests below.
TASKS = {"deepnets": ((3, 32, 32), 10), "resnet": ((3, 32, 32), 10), "mobilenet": ((1, 28, 28), 10),
         "vit": ((3, 32, 32), 10), "gpt": ((16,), 64), "mlp": ((1, 40), 10), "cnn1d": ((1, 40), 10)}


def _sampler(family: str, split: str = "train", seed: int = 0, **kwargs) -> ArchSampler:
    shape, classes = TASKS[family]
    return ArchSampler(family, split, shape, classes, seed, **kwargs)


def test_tasks_cover_every_family():
    assert sorted(TASKS) == list_families()


@pytest.mark.parametrize("family", ["mlp", "vit", "deepnets"])
def test_same_seed_same_specs_other_seed_other_specs(family):
    a, b, c = _sampler(family, seed=7), _sampler(family, seed=7), _sampler(family, seed=8)
    specs_a = a.take(3)
    assert specs_a == b.take(3) == [a.sample(i) for i in range(3)]
    assert [spec_key(s) for s in specs_a] != [spec_key(s) for s in c.take(3)]
    assert _sampler(family, seed=7).sample(2) == specs_a[2]  # random access, no state


def test_resume_from_state_dict():
    sampler = _sampler("mlp", seed=3)
    sampler.take(5)
    state = sampler.state_dict()
    expected = sampler.take(4)
    resumed = _sampler("mlp", seed=3)
    resumed.load_state_dict(state)
    assert state == {"position": 5} and resumed.take(4) == expected


def test_ranks_draw_disjoint_indices_whose_union_is_the_single_process_stream():
    single = _sampler("mlp", seed=1).take(12)
    ranks = [_sampler("mlp", seed=1, rank=r, world_size=3).take(4) for r in range(3)]
    assert [ranks[i % 3][i // 3] for i in range(12)] == single


def test_train_and_test_are_disjoint_by_hash():
    train = {spec_key(s) for s in _sampler("mlp", "train").take(150)}
    test = {spec_key(s) for s in _sampler("mlp", "test").take(30)}
    assert not train & test
    assert not any(in_test_part(k) for k in train) and all(in_test_part(k) for k in test)


@pytest.mark.parametrize("family", sorted(TASKS))
def test_held_out_splits_lie_outside_the_training_ranges(family):
    n = 8
    train = [spec_summary(s) for s in _sampler(family).take(n)]
    wide = [spec_summary(s) for s in _sampler(family, "wide").take(n)]
    deep = [spec_summary(s) for s in _sampler(family, "deep").take(n)]
    assert min(s["width"] for s in wide) > max(s["width"] for s in train)
    assert min(s["depth"] for s in deep) > max(s["depth"] for s in train)


@pytest.mark.parametrize("family", sorted(TASKS))
def test_no_norm_nets_have_no_norm_layers_and_train_nets_do(family):
    norms = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.RMSNorm)

    def has_norm(spec: dict) -> bool:
        return any(isinstance(m, norms) for m in build(spec, "meta").modules())

    assert all(has_norm(s) for s in _sampler(family).take(3))
    assert not any(has_norm(s) for s in _sampler(family, "no_norm").take(3))


@pytest.mark.parametrize("family", sorted(TASKS))
def test_dense_split_is_denser(family):
    specs = _sampler(family, "dense").take(3)
    if family == "deepnets":
        assert all(len(s["genotype"]["normal"]) >= 6 and len(s["genotype"]["reduce"]) >= 6 for s in specs)
        assert all(len(node) >= 2 for s in specs for node in s["genotype"]["normal"][1:])
    else:
        assert all(s["dense"] for s in specs) and not any(s["dense"] for s in _sampler(family).take(3))


def test_param_bounds_are_respected_and_impossible_bounds_fail_clearly():
    bounds = (20_000, 60_000)
    counts = [count_params(s) for s in _sampler("mlp", param_bounds=bounds).take(10)]
    assert all(bounds[0] <= c <= bounds[1] for c in counts)
    assert get_split("wide").param_bounds == _sampler("vit", "wide").param_bounds
    with pytest.raises(SamplingError, match=r"no 'mlp' spec for split 'train'.*param_bounds=\(1, 10\) after 20 "
                                            r"draws.*Widen param_bounds"):
        _sampler("mlp", param_bounds=(1, 10), max_attempts=20).sample(0)


def test_constructor_errors():
    with pytest.raises(KeyError, match="unknown architecture family 'mlpp'"):
        ArchSampler("mlpp")
    with pytest.raises(KeyError, match="unknown architecture split 'validation'"):
        ArchSampler("mlp", "validation")
    with pytest.raises(InvalidSpecError, match=r"cnn1d spec: 'input_shape' must be a list \[channels, length\]"):
        ArchSampler("cnn1d", "train", (3, 32, 32))
    with pytest.raises(ValueError, match="rank must be in"):
        ArchSampler("mlp", rank=2, world_size=2)
    with pytest.raises(ValueError, match="index must be >= 0"):
        _sampler("mlp").sample(-1)


def test_revisited_indices_are_remembered_and_returned_as_fresh_dicts():
    sampler = _sampler("deepnets", seed=11, memo_size=2)
    first = sampler.sample(0)
    first["channels"] = -1
    again = sampler.sample(0)
    assert again["channels"] > 0 and again == _sampler("deepnets", seed=11).sample(0)
    sampler.sample(1)
    sampler.sample(2)  # evicts index 0
    assert list(sampler._memo) == [1, 2]
