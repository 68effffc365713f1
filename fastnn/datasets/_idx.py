"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is: two zero bytes, a type code (0x08 = unsigned byte, ...), the
number of dimensions ``ndim``, ``ndim`` big-endian uint32 sizes, then the
data in C order. Files may be gzipped (recognised by content, not by name).
Every check raises ``ValueError`` naming the file and what is wrong, so a
corrupt, truncated or foreign file never turns into a silently wrong array.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

__all__ = ["read_idx", "write_idx", "IDX_DTYPES"]

#: IDX type code -> dtype (big-endian as the format stores it).
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise ValueError(f"{os.fspath(path)}: the gzip stream is corrupt or truncated ({exc})") from exc
    return raw


def read_idx(path) -> np.ndarray:
    """Read an IDX file (plain or gzipped) and return its array, native byte order.

    Raises ``ValueError`` when the magic number is wrong, the header is cut
    short, or the data is shorter or longer than the header's sizes say.
    """
    raw = _read_bytes(path)
    name = os.fspath(path)
    if len(raw) < 4:
        raise ValueError(f"{name}: not an IDX file (only {len(raw)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in IDX_DTYPES:
        raise ValueError(
            f"{name}: not an IDX file (magic number 0x{raw[:4].hex()}; expected 0x0000 "
            f"followed by a type code such as 0x08 and the number of dimensions)")
    if ndim == 0:
        raise ValueError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: truncated IDX header ({len(raw)} bytes, needs {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise ValueError(
            f"{name}: IDX data {what}: the header declares shape {shape} "
            f"({expected} bytes of {dtype.name}), the file holds {got} bytes")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path, array, *, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzipped when ``compress`` (default: path ends in .gz).

    Written to a temporary file and renamed, so a reader never sees half a file.
    """
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODES:
        raise TypeError(f"array must have an IDX dtype (uint8, int8, int16, int32, float32, float64), got {arr.dtype}")
    if arr.ndim == 0 or arr.ndim > 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got shape {arr.shape}")
    code = _CODES[native]
    payload = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) \
        + np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()
    if compress is None:
        compress = os.fspath(path).endswith(".gz")
    if compress:
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    from ._cache import atomic_write_bytes
    atomic_write_bytes(path, payload)
