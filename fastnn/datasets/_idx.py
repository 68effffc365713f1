"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is: two zero bytes, a type code (0x08 = unsigned byte, ...), the
number of dimensions ``ndim``, ``ndim`` big-endian uint32 sizes, then the
data in C order. Files may be gzipped (recognised by content, not by name).
Every check raises ``ValueError`` naming the file and what is wrong, so a
corrupt, truncated or foreign file never turns into a silently wrong array.
"""
from __future__ import annotations

import contextlib
import gzip
import math
import os
import struct
import zlib

import numpy as np

from ._cache import atomic_write_bytes

__all__ = ["read_idx", "read_idx_header", "write_idx", "IDX_DTYPES", "MAX_IDX_BYTES"]

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

#: Most bytes of data (after decompression) one IDX file may declare, unless the caller allows
#: more with ``max_bytes``: over twenty times full MNIST's largest file, so a small file whose header
#: declares a huge array (a gzip bomb) is refused before anything is decompressed or allocated.
MAX_IDX_BYTES = 2**30

#: Chunk in which a body is read, so a truncated or corrupt stream is found with bounded memory.
_CHUNK = 1 << 20


def _open(path):
    """The file's byte stream, decompressed on the fly when it is gzipped (recognised by content)."""
    f = open(path, "rb")
    try:
        magic = f.read(2)
        f.seek(0)
    except BaseException:
        f.close()
        raise
    if magic == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=f, mode="rb"), f
    return f, None


def _read(stream, n: int, name: str) -> bytes:
    """At most ``n`` bytes; a corrupt gzip stream becomes a ValueError naming the file."""
    try:
        return stream.read(n)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"{name}: the gzip stream is corrupt or truncated ({exc})") from exc


def _read_header(stream, name: str, max_bytes: int, expected_shape, expected_dtype):
    """Parse and check the header: ``(dtype, shape)``; only the header's bytes are read."""
    first = _read(stream, 4, name)
    if len(first) < 4:
        raise ValueError(f"{name}: not an IDX file (only {len(first)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", first)
    if zero != 0 or code not in IDX_DTYPES:
        raise ValueError(
            f"{name}: not an IDX file (magic number 0x{first.hex()}; expected 0x0000 "
            f"followed by a type code such as 0x08 and the number of dimensions)")
    if ndim == 0:
        raise ValueError(f"{name}: IDX header declares 0 dimensions")
    sizes = _read(stream, 4 * ndim, name)
    if len(sizes) < 4 * ndim:
        raise ValueError(f"{name}: truncated IDX header ({4 + len(sizes)} bytes, needs {4 + 4 * ndim})")
    shape = struct.unpack(f">{ndim}I", sizes)
    dtype = IDX_DTYPES[code]
    nbytes = math.prod(shape) * dtype.itemsize       # Python ints: no overflow whatever the header says
    if expected_dtype is not None and dtype != np.dtype(expected_dtype).newbyteorder(dtype.byteorder):
        raise ValueError(f"{name}: the IDX header declares {dtype.name} data, expected "
                         f"{np.dtype(expected_dtype).name}")
    if expected_shape is not None and (len(shape) != len(expected_shape) or any(
            want is not None and got != want for got, want in zip(shape, expected_shape))):
        want = "(" + ", ".join("N" if w is None else str(w) for w in expected_shape) + \
            ("," if len(expected_shape) == 1 else "") + ")"
        raise ValueError(f"{name}: the IDX header declares shape {shape}, expected shape {want}")
    if nbytes > max_bytes:
        raise ValueError(f"{name}: the IDX header declares shape {shape} ({nbytes:,} bytes of "
                         f"{dtype.name}), more than the {max_bytes:,} bytes allowed; not a data set "
                         "fastnn reads (or a corrupt header)")
    return dtype, shape


def read_idx_header(path, *, max_bytes: int = MAX_IDX_BYTES, expected_shape=None, expected_dtype=None):
    """``(dtype, shape)`` from an IDX file's header, checked; the body is not read.

    ``expected_shape``: a tuple of sizes, ``None`` for any size, that the
    header must match; ``expected_dtype``: the data type it must declare.
    Raises ``ValueError`` naming the file.
    """
    name = os.fspath(path)
    stream, raw = _open(path)
    with stream, (raw or contextlib.nullcontext()):
        return _read_header(stream, name, max_bytes, expected_shape, expected_dtype)


def read_idx(path, *, max_bytes: int = MAX_IDX_BYTES, expected_shape=None, expected_dtype=None) -> np.ndarray:
    """Read an IDX file (plain or gzipped) and return its array, native byte order.

    The header is checked first (magic number, against ``expected_shape`` and
    ``expected_dtype`` when given, and against ``max_bytes``), then exactly
    the bytes it declares are read into the result, decompressing as it
    goes: what a file can cost in memory is bounded by what its header
    declares, never by what its compressed body expands to. Raises
    ``ValueError`` naming the file when the magic number is wrong, the header
    is cut short or declares the unexpected, or the data is shorter or longer
    than the header's sizes say.
    """
    name = os.fspath(path)
    stream, raw = _open(path)
    with stream, (raw or contextlib.nullcontext()):
        dtype, shape = _read_header(stream, name, max_bytes, expected_shape, expected_dtype)
        arr = np.empty(shape, dtype=dtype)
        buf = memoryview(arr.reshape(-1).view(np.uint8))
        expected, got = buf.nbytes, 0
        while got < expected:
            chunk = _read(stream, min(_CHUNK, expected - got), name)
            if not chunk:
                break
            buf[got:got + len(chunk)] = chunk
            got += len(chunk)
        if got < expected or _read(stream, 1, name):
            what = "truncated" if got < expected else "has trailing bytes"
            holds = f"{got:,} bytes" if got < expected else "more"
            raise ValueError(
                f"{name}: IDX data {what}: the header declares shape {shape} "
                f"({expected:,} bytes of {dtype.name}), the file holds {holds}")
    return arr.astype(dtype.newbyteorder("="), copy=False)


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
    atomic_write_bytes(path, payload)
