"""Read IDX files, the array format of MNIST and Fashion-MNIST (optionally gzip-compressed).

Layout (big-endian): two zero bytes, a type code, the number of dimensions ``n``, then ``n`` unsigned 32-bit sizes,
then the values in C order. See http://yann.lecun.com/exdb/mnist/ ("FILE FORMATS FOR THE MNIST DATABASE").
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "write_idx"]

# IDX type code -> numpy dtype (big-endian for multi-byte types).
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as handle:
        raw = handle.read()
    # Decide by content, not by suffix: some mirrors ship gzip data without ".gz" and vice versa.
    return gzip.decompress(raw) if raw[:2] == _GZIP_MAGIC else raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file into memory.

    Args:
        path: the file, plain or gzip-compressed (detected from its first bytes).

    Returns:
        The array, shape as stored (e.g. ``[60000, 28, 28]`` for MNIST images, ``[60000]`` for labels), in native
        byte order with the stored element type (``uint8`` for (Fashion-)MNIST).

    Raises:
        ValueError: the header is not IDX, the type code is unknown or the data size does not match the header.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file: it must start with two zero bytes, got {raw[:4]!r}")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code {type_code:#04x}; known: {[hex(c) for c in _IDX_DTYPES]}")
    header_size = 4 + 4 * ndim
    shape = tuple(int(size) for size in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header_size != expected:
        raise ValueError(
            f"{path}: header promises shape {shape} of {dtype} ({expected} bytes) but the file holds "
            f"{len(raw) - header_size} bytes of data; the file is truncated or corrupt"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (the inverse of :func:`read_idx`; used to make test fixtures).

    Args:
        path: destination; compressed with gzip when ``compress`` is true, or, if ``compress`` is None, when the
            name ends with ``.gz``.
        array: any shape, element type one of uint8, int8, int16, int32, float32, float64.
        compress: force gzip on or off.

    Raises:
        ValueError: the element type has no IDX type code.
    """
    path = Path(path)
    codes = {dtype.newbyteorder("=").str: code for code, dtype in _IDX_DTYPES.items()}
    native = np.dtype(array.dtype).newbyteorder("=")
    if native.str not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of {[str(d) for d in _IDX_DTYPES.values()]}")
    code = codes[native.str]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, compresslevel=1)
    path.write_bytes(payload)
