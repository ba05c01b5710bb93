"""deepnets: DARTS cells, genotype validation, the op vocabulary in traced graphs."""

from __future__ import annotations

import copy
import random

import pytest
import torch

from hypergen.archs import (
    ArchSampler, InvalidSpecError, build, count_params, reference_spec, trace_spec, validate_spec,
)
from hypergen.archs.deepnets import CELL_OPS, FactorizedReduce, _sample_cell
from hypergen.archs.splits import get_split


@pytest.fixture
def darts() -> dict:
    return reference_spec("darts", (3, 32, 32), 10)


def _single_op_net(op: str, darts: dict) -> dict:
    spec = copy.deepcopy(darts)
    spec.update(num_cells=2, reduction_cells=[1])
    spec["genotype"] = {"normal": [[[op, 1]]], "normal_concat": [2], "reduce": [[[op, 0], [op, 1]]],
                        "reduce_concat": [2]}
    return spec


def test_darts_reference_structure(darts):
    model = build(darts, "meta")
    assert len(model.cells) == 8 and model.stem[0][0].out_channels == 48
    assert [cell.ops[0][0].__class__.__name__ for cell in model.cells].count("MaxPool2d") == 2
    assert model.head.fc[0].in_features == 4 * 64  # two reductions double 16 -> 64 channels, 4 concatenated nodes
    with torch.no_grad():
        assert build(darts).eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize(("op", "graph_op"), [
    ("msa", "multihead_attention"), ("cse", "sigmoid"), ("sep_conv_5x5", "conv2d"), ("dil_conv_3x3", "conv2d"),
    ("max_pool_3x3", "max_pool"), ("avg_pool_3x3", "avg_pool"), ("skip_connect", "concat"),
])
def test_every_op_traces_in_normal_and_reduction_cells(op, graph_op, darts):
    spec = _single_op_net(op, darts)
    _, graph = trace_spec(spec)
    assert graph.coverage.complete and graph_op in graph.op_counts()
    with torch.no_grad():  # odd sizes: 11 -> 6 in the reduction cell, for every op
        out = build(dict(spec, input_shape=[3, 11, 11]))(torch.randn(2, 3, 11, 11))
    assert out.shape == (2, 10)


def test_op_vocabulary():
    assert len(CELL_OPS) == 12 and {"msa", "cse", "skip_connect", "conv_1x1", "dil_conv_5x5"} <= set(CELL_OPS)


def test_cells_that_do_not_read_state_0_have_no_preprocessing_for_it(darts):
    model = build(_single_op_net("conv_3x3", darts), "meta")
    assert model.cells[0].pre0 is None and model.cells[1].pre0 is not None


def test_factorized_reduce_handles_odd_sizes():
    assert FactorizedReduce(4, 6, "bn")(torch.randn(2, 4, 7, 9)).shape == (2, 6, 4, 5)


def test_sampled_cells_read_the_previous_cell_and_concatenate_loose_ends():
    rng = random.Random(0)
    for _ in range(200):
        cell, concat = _sample_cell(rng, rng.randint(1, 9), (1, 3), list(CELL_OPS))
        read = {src for node in cell for _, src in node}
        assert 1 in read
        assert concat == [j + 2 for j in range(len(cell)) if j + 2 not in read] and concat
        assert all(src < i + 2 for i, node in enumerate(cell) for _, src in node)


def test_sampled_ranges_per_split():
    for split, (cells, channels) in {"train": ((4, 18), (8, 32)), "wide": ((4, 10), (48, 96)),
                                     "deep": ((19, 36), (8, 32))}.items():
        for spec in ArchSampler("deepnets", split, (3, 32, 32), 10, seed=2).take(4):
            assert cells[0] <= spec["num_cells"] <= cells[1] and channels[0] <= spec["channels"] <= channels[1]
            assert spec["norm"] == "bn" and 1 <= len(spec["reduction_cells"]) <= 3
    assert get_split("dense").dense


@pytest.mark.parametrize(("edit", "message"), [
    (lambda g: g["normal"][0].__setitem__(0, ["conv_7x7", 0]), r"genotype\['normal'\]\[0\]\[0\]\[0\] \(op\) must be one"),
    (lambda g: g["normal"][1].__setitem__(0, ["conv_1x1", 3]), r"\[1\]\[0\]\[1\] \(input state of node 1\) must be an "
                                                                r"int in \[0, 2\], got 3"),
    (lambda g: g.update(reduce=[[["conv_1x1", 0]]], reduce_concat=[2]), r"genotype\['reduce'\] never reads state 1"),
    (lambda g: g.update(normal_concat=[5]), r"states \[3, 4\] are neither read by a node nor in the concat list"),
    (lambda g: g.pop("reduce_concat"), r"deepnets spec: 'genotype': missing key 'reduce_concat'"),
])
def test_genotype_errors(edit, message, darts):
    edit(darts["genotype"])
    with pytest.raises(InvalidSpecError, match=message):
        validate_spec(darts)


def test_reduction_cells_must_be_sorted_indices(darts):
    darts["reduction_cells"] = [5, 2]
    with pytest.raises(InvalidSpecError, match=r"'reduction_cells' must be sorted and without repeats"):
        validate_spec(darts)
    darts["reduction_cells"] = [2, 8]
    with pytest.raises(InvalidSpecError, match=r"'reduction_cells'\[1\] must be an int in \[0, 7\], got 8"):
        validate_spec(darts)


def test_sampling_options_restrict_ops_and_stem_stride():
    ops = ["conv_3x3", "skip_connect"]
    sampler = ArchSampler("deepnets", "train", (1, 28, 28), 10, seed=0, options={"ops": ops, "stem_stride": [2]})
    specs = sampler.take(20)
    used = {op for s in specs for kind in ("normal", "reduce") for node in s["genotype"][kind] for op, _ in node}
    assert used == set(ops) and {s["stem_stride"] for s in specs} == {2}
    mixed = ArchSampler("deepnets", "train", (1, 28, 28), 10, seed=0, options={"stem_stride": [1, 2]}).take(30)
    assert {s["stem_stride"] for s in mixed} == {1, 2}
    model = build(specs[0])
    with torch.no_grad():
        assert model.stem(torch.randn(2, 1, 28, 28)).shape[-1] == 14  # every cell runs at half resolution


def test_default_options_keep_the_specs_of_earlier_versions():
    # 28-px inputs: the stem stride is fixed to 1 without a draw, so explicit [1] gives the very same stream
    plain = ArchSampler("deepnets", "train", (1, 28, 28), 10, seed=3).take(5)
    assert plain == ArchSampler("deepnets", "train", (1, 28, 28), 10, seed=3, options={"stem_stride": [1]}).take(5)
    assert plain == ArchSampler("deepnets", "train", (1, 28, 28), 10, seed=3, options={"ops": list(CELL_OPS)}).take(5)


@pytest.mark.parametrize(("options", "message"), [
    ({"opz": ["conv_3x3"]}, r"family 'deepnets' has no sampling option\(s\) \['opz'\]; its options: ops \(cell ops"),
    ({"ops": ["conv_7x7"]}, r"option 'ops' must list distinct cell ops .* \(unknown: \['conv_7x7'\]\)"),
    ({"ops": []}, r"option 'ops' must list distinct cell ops"),
    ({"stem_stride": [3]}, r"option 'stem_stride' must be a non-empty subset of \[1, 2\], got \[3\]"),
    ({"num_cells": [8, 4]}, r"option 'num_cells' must be \[min, max\] with 1 <= min <= max <= 64, got \[8, 4\]"),
])
def test_bad_sampling_options_name_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        ArchSampler("deepnets", "train", (1, 28, 28), 10, options=options)


def test_num_cells_option_bounds_depth_but_not_for_the_deep_split():
    specs = ArchSampler("deepnets", "test", (1, 28, 28), 10, seed=0, options={"num_cells": [4, 6]}).take(20)
    assert {s["num_cells"] for s in specs} == {4, 5, 6}
    with pytest.raises(ValueError, match="'num_cells' cannot be used with the 'deep' split"):
        ArchSampler("deepnets", "deep", (1, 28, 28), 10, options={"num_cells": [4, 6]})


def test_families_without_options_reject_any():
    with pytest.raises(ValueError, match=r"family 'mlp' has no sampling option\(s\) \['ops'\]; its options: none"):
        ArchSampler("mlp", "train", (1, 28, 28), 10, options={"ops": ["conv_3x3"]})


@pytest.mark.parametrize("split", ["train", "wide", "deep", "dense", "no_norm"])
def test_counting_parameters_without_building_matches_the_built_net(split):
    # 25 specs a shape of the training split, 8 of each other split (their nets are the largest to build; ~70 s of
    # the default run at 25)
    for shape in ((3, 32, 32), (1, 28, 28)):
        sampler = ArchSampler("deepnets", split, shape, 10, seed=5, param_bounds=(0, 10**9))
        for spec in sampler.take(25 if split == "train" else 8):
            model = build(spec, "meta")
            assert count_params(spec) == sum(p.numel() for p in model.parameters()), spec
