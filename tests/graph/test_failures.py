"""Failure kinds of a traced forward and the advice that fits each (hypergen/graph/failures.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hypergen.graph.failures import TraceError, classify_failure


def _error_of(fn) -> BaseException:
    try:
        fn()
    except Exception as err:  # noqa: BLE001 - the point is to classify it
        return err
    raise AssertionError("no error")


@pytest.mark.parametrize(("make_error", "kind"), [
    (lambda: torch.zeros(2, device="meta").sum().item(), "needs_values"),
    (lambda: torch.zeros(2, device="meta").cpu(), "needs_values"),
    (lambda: nn.Linear(3, 4)(torch.zeros(2, 5)), "shapes"),
    (lambda: nn.Conv2d(3, 4, 3)(torch.zeros(1, 5, 8, 8)), "shapes"),
    (lambda: torch.zeros(2, 3) + torch.zeros(2, 4), "shapes"),
    (lambda: torch.zeros(6).view(4, 2), "shapes"),
    (lambda: {}["head"], "other"),
])
def test_errors_are_classified_by_cause(make_error, kind):
    assert classify_failure(_error_of(make_error)).name == kind


def test_only_failures_a_real_device_may_not_have_are_retried():
    retried = {k: classify_failure(_error_of(f)).retry_on_real_device for k, f in {
        "item": lambda: torch.zeros(2, device="meta").sum().item(),
        "shape": lambda: nn.Linear(3, 4)(torch.zeros(2, 5)),
        "other": lambda: {}["head"],
    }.items()}
    assert retried == {"item": True, "shape": False, "other": True}


def test_message_spells_options_as_told_and_never_suggests_a_device_for_shapes():
    item = classify_failure(_error_of(lambda: torch.zeros(2, device="meta").sum().item()))
    err = TraceError("Net", "Tensor(2, 3):float32", "meta", "train", item, "RuntimeError: no values")
    assert str(err).startswith("forward pass of Net failed on example inputs (Tensor(2, 3):float32) on meta in "
                               "train mode: RuntimeError: no values. The forward reads tensor values")
    assert "device='auto'" in str(err) and "--device auto" in err.describe(lambda k, v: f"--{k} {v}")
    shapes = classify_failure(_error_of(lambda: nn.Linear(3, 4)(torch.zeros(2, 5))))
    assert "device" not in TraceError("Net", "", "cpu", "train", shapes, "RuntimeError: mat1").describe()
