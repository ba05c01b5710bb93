"""IDX reader: round trips, gzip detection by content, and errors on corrupt files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from hypergen.data.idx import read_idx, write_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_round_trip(tmp_path, dtype, name):
    array = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    write_idx(tmp_path / name, array)
    loaded = read_idx(tmp_path / name)
    assert loaded.dtype == np.dtype(dtype).newbyteorder("=") and loaded.shape == (2, 3, 5)
    np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.writeable  # a copy, not a read-only view of the file buffer


def test_header_layout_matches_mnist_spec(tmp_path):
    write_idx(tmp_path / "labels", np.array([7, 2, 1], dtype=np.uint8))
    # magic 0x00000801 (uint8, 1 dim), size 3 (big-endian), then the bytes.
    assert (tmp_path / "labels").read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])


def test_gzip_detected_by_content_not_suffix(tmp_path):
    write_idx(tmp_path / "plain-named", np.ones((4, 2), dtype=np.uint8), compress=True)
    assert (tmp_path / "plain-named").read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-named"), np.ones((4, 2), dtype=np.uint8))


def test_truncated_file_is_rejected(tmp_path):
    write_idx(tmp_path / "x", np.zeros((3, 4), dtype=np.uint8))
    (tmp_path / "x").write_bytes((tmp_path / "x").read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"shape \(3, 4\).*11 bytes"):
        read_idx(tmp_path / "x")


def test_non_idx_file_is_rejected(tmp_path):
    (tmp_path / "x.gz").write_bytes(gzip.compress(b"PK\x03\x04not an idx file"))
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "x.gz")
    (tmp_path / "y").write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 0]))
    with pytest.raises(ValueError, match="unknown IDX type code 0x42"):
        read_idx(tmp_path / "y")
