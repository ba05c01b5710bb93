"""Spec validation: every error names the family, the key and the valid range, and is a ValueError."""

from __future__ import annotations

import copy

import pytest

from hypergen.archs import InvalidSpecError, reference_spec, validate_spec
from hypergen.archs.validation import check_choice, check_float, check_int, check_int_list


@pytest.fixture
def resnet20() -> dict:
    return reference_spec("resnet20", (3, 32, 32), 10)


def test_invalid_spec_error_is_a_value_error():
    assert issubclass(InvalidSpecError, ValueError)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("depths", [3, 0, 3], r"resnet spec: 'depths'\[1\] must be an int in \[1, 64\], got 0"),
    ("widths", [16, 32], r"\['depths', 'widths', 'strides'\] are per-stage lists and must have the same length"),
    ("block", "dense", r"resnet spec: 'block' must be one of \['basic', 'bottleneck'\], got 'dense'"),
    ("expansion", 4, r"'expansion' must be 1 for basic blocks, got 4"),
    ("stem_pool", 1, r"'stem_pool' must be true or false, got 1"),
    ("strides", [1, 2, 3], r"'strides'\[2\] must be one of \[1, 2\], got 3"),
    ("num_classes", 0, r"resnet spec: 'num_classes' must be an int in \[1, 1000000\], got 0"),
    ("input_shape", [3, 32], r"'input_shape' must be a list \[channels, height, width\] \(3 positive ints\)"),
    ("input_shape", [3, 32, -1], r"'input_shape'\[2\] must be an int in \[1, 65536\], got -1"),
])
def test_errors_name_the_key_and_the_valid_range(resnet20, key, value, message):
    resnet20[key] = value
    with pytest.raises(InvalidSpecError, match=message):
        validate_spec(resnet20)


def test_missing_and_unknown_keys(resnet20):
    bad = dict(resnet20, activaton="relu")
    with pytest.raises(InvalidSpecError, match=r"unknown key\(s\) \['activaton'\]; valid keys are"):
        validate_spec(bad)
    del resnet20["kernel_size"]
    with pytest.raises(InvalidSpecError, match=r"resnet spec: missing key 'kernel_size'"):
        validate_spec(resnet20)


def test_family_errors():
    with pytest.raises(InvalidSpecError, match=r"no 'family' key; use one of \['cnn1d', 'deepnets'"):
        validate_spec({"input_shape": [3, 8, 8]})
    with pytest.raises(InvalidSpecError, match=r"'family' 'densenet' is not registered"):
        validate_spec({"family": "densenet"})
    with pytest.raises(InvalidSpecError, match="must be a dict, got list"):
        validate_spec([1, 2])


def test_json_types_only(resnet20):
    resnet20["kernel_size"] = 3.0  # a float where an int is expected would change the canonical JSON
    with pytest.raises(InvalidSpecError, match="'kernel_size' must be one of"):
        validate_spec(copy.deepcopy(resnet20))


def test_checkers():
    assert check_int(3, "x", 1, 3) == 3
    with pytest.raises(InvalidSpecError, match=r"x must be an int in \[1, 3\], got True"):
        check_int(True, "x", 1, 3)
    assert check_float(2, "r", 0.5, 4.0) == 2.0
    with pytest.raises(InvalidSpecError, match=r"r must be a number in \[0.5, 4.0\], got 'a'"):
        check_float("a", "r", 0.5, 4.0)
    with pytest.raises(InvalidSpecError, match=r"c must be one of \[1, 2\], got True"):
        check_choice(True, "c", (1, 2))
    with pytest.raises(InvalidSpecError, match=r"l must be a list of 1 to 2 ints, got \[1, 2, 3\]"):
        check_int_list([1, 2, 3], "l", 0, 9, 1, 2)
