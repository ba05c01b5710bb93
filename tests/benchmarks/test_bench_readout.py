"""``benchmarks/bench_readout.py``: output-layer inputs, fitted read-outs (free and in the core decoder's form)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their helpers as top-level modules, as when run directly

import bench_readout  # noqa: E402

from hypergen.ghn.encodings import IndexCodeCache  # noqa: E402


def test_the_output_layer_inputs_are_those_of_the_last_linear_layer_emitting_the_classes() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 3))
    state = dict(model.named_parameters())
    batches = [(torch.randn(4, 5), torch.arange(4) % 3), (torch.randn(2, 5), torch.zeros(2, dtype=torch.long))]
    features, labels, logits = bench_readout._output_layer_inputs(model, state, batches, 3)
    expected = torch.cat([model[:4](x) for x, _ in batches]).detach()
    torch.testing.assert_close(features, expected)  # not the first linear's input, which also has 3 outputs
    torch.testing.assert_close(logits, torch.cat([model(x) for x, _ in batches]).detach())
    assert labels.tolist() == [0, 1, 2, 0, 0, 0]


def test_a_classifier_in_code_form_is_recovered_by_the_code_form_read_out() -> None:
    torch.manual_seed(0)
    codes = IndexCodeCache("cyclic", 8, 0, tilt=1.0)
    n, classes = 12, 3
    form = bench_readout._code_form(codes(classes, "cpu"), codes(n, "cpu"), 8)
    teacher = form(torch.randn(8, 8) * 20)
    features = torch.randn(600, n)
    labels = (features @ teacher.t()).argmax(1)
    train, test = slice(0, 400), slice(400, 600)
    core, bias, mean, std = bench_readout._fit_readout(features[train], labels[train], classes, form=form, rank=8)
    assert bench_readout._top1(features[test], labels[test], form(core), bias, mean, std) > 0.9
    free = bench_readout._fit_readout(features[train], labels[train], classes)
    assert bench_readout._top1(features[test], labels[test], *free) > 0.9
    chance = bench_readout._top1(features[test], labels[test], torch.zeros(classes, n), torch.zeros(classes), mean,
                                 std)
    assert chance < 0.6  # all-equal logits pick class 0: the fitted read-outs are not trivially right


def test_the_table_has_one_line_per_net_and_the_mean_in_percent() -> None:
    rows = [{"predicted": 0.4, "predicted_best": 0.6}, {"predicted": 0.5, "predicted_best": 0.7}]
    text = bench_readout.table(rows, "test")
    assert "| test/1 | 50.0 | 70.0 |" in text
    assert "| **mean** | **45.0** | **65.0** |" in text
    assert "other nets" not in text  # columns nobody measured are left out


def test_a_remix_of_the_logits_recovers_an_output_layer_whose_classes_are_permuted() -> None:
    """The logit re-mix column: an output layer with the right rows in the wrong order is wrong as it is and right
    after the fitted ``[classes, classes]`` map; an output layer of random rows that miss the teacher's is not."""
    torch.manual_seed(0)
    n, classes = 16, 4
    teacher = torch.randn(classes, n) * 5
    features = torch.randn(800, n)
    labels = (features @ teacher.t()).argmax(1)
    train, test = slice(0, 600), slice(600, 800)
    permuted = features @ teacher[[1, 2, 3, 0]].t()
    assert permuted[test].argmax(1).eq(labels[test]).float().mean() < 0.5
    remix = bench_readout._fit_readout(permuted[train], labels[train], classes)
    assert bench_readout._top1(permuted[test], labels[test], *remix) > 0.9
    unrelated = features @ torch.linalg.qr(torch.randn(n, n))[0][:classes].t()  # 4 random directions of 16
    remix = bench_readout._fit_readout(unrelated[train], labels[train], classes)
    assert bench_readout._top1(unrelated[test], labels[test], *remix) < 0.8
