"""mlp: flattened inputs of any rank, dense connectivity needs equal widths."""

from __future__ import annotations

import pytest
import torch

from hypergen.archs import InvalidSpecError, build, count_params, validate_spec


def _spec(**fields) -> dict:
    return {"family": "mlp", "input_shape": [1, 40], "num_classes": 10, "widths": [64, 32], "activation": "relu",
            "norm": "ln", "dense": False, **fields}


def test_inputs_are_flattened():
    assert count_params(_spec()) == 40 * 64 + 64 + 2 * 64 + 64 * 32 + 32 + 2 * 32 + 32 * 10 + 10
    with torch.no_grad():
        assert build(_spec(input_shape=[1, 28, 28]))(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_dense_mlp_needs_equal_widths():
    with pytest.raises(InvalidSpecError, match=r"mlp spec: 'widths' must all be equal when 'dense' is true"):
        validate_spec(_spec(dense=True))
    model = build(_spec(dense=True, widths=[32, 32, 32]))
    assert model.hidden.dense
    with torch.no_grad():
        assert model(torch.randn(2, 1, 40)).shape == (2, 10)
