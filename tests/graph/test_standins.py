"""Stand-in tensors for tracing off meta cost memory in the sum of the dimensions (hypergen/graph/standins.py)."""

from __future__ import annotations

import math

import pytest
import torch

from hypergen.graph.standins import DenseOnRefusal, map_tensors, parameter_stand_in, state_stand_in

CPU = torch.device("cpu")


def test_weight_stand_in_memory_grows_with_the_sum_of_dimensions():
    with torch.device("meta"):
        weight = torch.empty(50_000, 50_000)  # 10 GB if it were real
    stand_in = parameter_stand_in(weight, CPU)
    assert stand_in.shape == (50_000, 50_000) and stand_in.dtype == torch.float32
    assert stand_in.untyped_storage().nbytes() == (4 * 49_999 + 50_000) * 4  # 1 MB
    row = stand_in[7]  # values are noise of std 1/sqrt(fan_in), so activations stay in range
    assert torch.isfinite(row).all() and row.std().item() == pytest.approx(1 / math.sqrt(50_000), rel=0.05)
    assert not torch.equal(stand_in[0], stand_in[1])  # rows differ (shifted windows of the noise)


def test_stand_ins_per_dtype_and_device():
    assert parameter_stand_in(torch.empty(3, 4), torch.device("meta")).is_meta
    ints = parameter_stand_in(torch.empty(5, 6, dtype=torch.long), CPU)
    assert ints.untyped_storage().nbytes() == 8 and ints.sum().item() == 0
    assert parameter_stand_in(torch.empty(7), CPU).is_contiguous()
    assert parameter_stand_in(torch.empty(0, 3), CPU).shape == (0, 3)
    torch.testing.assert_close(parameter_stand_in(torch.empty(4, 4), CPU),
                               parameter_stand_in(torch.empty(4, 4), CPU))  # seeded: traces are reproducible
    buffer = torch.arange(4.0)
    copy = state_stand_in(buffer, CPU)
    assert torch.equal(copy, buffer) and copy.data_ptr() != buffer.data_ptr()  # writable, and not the model's
    assert state_stand_in(buffer.to("meta"), CPU).tolist() == [0.0] * 4


def test_kernels_that_refuse_overlapping_strides_get_dense_copies():
    stand_in = parameter_stand_in(torch.empty(3, 5), CPU)
    with pytest.raises(RuntimeError):
        stand_in.view(15)  # view needs a layout the overlapping strides do not have
    with DenseOnRefusal():
        flat = stand_in.view(15)
    assert torch.equal(flat, stand_in.contiguous().view(15))
    with DenseOnRefusal(), pytest.raises(RuntimeError):
        torch.zeros(3).view(4)  # no overlapping argument: the error is the function's own


def test_map_tensors_keeps_containers_without_tensors():
    plain = [1, "a", {"b": 2}]
    assert map_tensors(plain, lambda t: t + 1) is plain
    mapped = map_tensors({"a": [torch.zeros(1), 3]}, lambda t: t + 1)
    assert mapped["a"][0].item() == 1 and mapped["a"][1] == 3
