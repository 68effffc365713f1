"""Where data sets live on disk, and writing files so that a crash never leaves half of one.

Directories, in the order they are searched:

- the ``data_home`` argument of a loader, when given;
- the directory named by the environment variable ``FASTNN_DATA``;
- the cache directory: ``$FASTNN_CACHE``, else ``$XDG_CACHE_HOME/fastnn``,
  else ``~/.cache/fastnn``. Downloads go there, and so do the ``.npz``
  caches of parsed arrays.

A ``.npz`` cache records the size and modification time of the files it was
parsed from and is used only while they still match, so it is never trusted
after the source changes; even then its arrays are checked (shapes, dtypes,
label range) before use, and a cache that fails is rebuilt with a warning. Every write goes to a temporary file in the same
directory, is flushed to disk (fsync) and renamed over the target.
"""
from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .. import io as fastnn_io

#: Bumped when the layout of a cache file changes; older caches are then re-parsed.
CACHE_VERSION = 1


def cache_dir() -> Path:
    """The per-user directory for downloads and parsed caches (not created here)."""
    env = os.environ.get("FASTNN_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "fastnn"


def data_dirs(data_home, subdir: str) -> list[Path]:
    """Directories to search for a data set's files, best first (see the module docstring)."""
    if data_home is not None:
        root = Path(os.fspath(data_home)).expanduser()
        return [root, root / subdir]
    dirs = []
    env = os.environ.get("FASTNN_DATA")
    if env:
        root = Path(env).expanduser()
        dirs += [root, root / subdir]
    dirs.append(cache_dir() / subdir)
    return dirs


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, creating its directory if needed."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fastnn_io.atomic_write_bytes(path, data)


def atomic_savez(path, arrays: dict) -> None:
    """``np.savez`` to ``path`` atomically, creating its directory if needed; no pickles."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fastnn_io.write_npz(path, arrays)


def source_signature(paths) -> list:
    """[absolute path, size, mtime_ns] of each file: what a cache must match to be used."""
    sig = []
    for p in paths:
        st = os.stat(p)
        sig.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    return sig


def _member_header(zf: zipfile.ZipFile, key: str):
    """``(shape, dtype)`` from the ``.npy`` header of one cache member; nothing else is read."""
    with zf.open(key + ".npy") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
    return tuple(shape), dtype


def load_cache(path, signature: list, expected: dict, validate=None) -> dict | None:
    """Arrays of a cache file if it exists, is readable, matches ``signature`` and passes its checks; else None.

    ``expected`` maps each key to the ``(shape, dtype)`` its array must have:
    the ``.npy`` headers are checked against it before any array is read, so
    a cache can neither cost more memory than its source nor hand back
    arrays of another shape or type. ``validate(arrays)`` may raise
    ``ValueError`` for what a header cannot show (a label out of range).
    A cache whose source signature matches but whose content fails a check
    was damaged or edited: a ``RuntimeWarning`` says so and None is returned,
    so the caller rebuilds it from the source files.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            shape, dtype = _member_header(zf, "_meta")
            if shape != () or dtype.kind != "U" or dtype.itemsize > 2**22:
                raise ValueError(f"its metadata record is {dtype} of shape {shape}, not a short string")
            with zf.open("_meta.npy") as f:
                meta = json.loads(str(np.lib.format.read_array(f, allow_pickle=False)))
            if not isinstance(meta, dict) or meta.get("version") != CACHE_VERSION \
                    or meta.get("sources") != signature:
                return None                      # stale: the source changed, rebuild quietly
            for key, (shape, dtype) in expected.items():
                got_shape, got_dtype = _member_header(zf, key)
                if got_shape != tuple(shape) or got_dtype != np.dtype(dtype):
                    raise ValueError(f"{key} is {got_dtype} of shape {got_shape}, expected "
                                     f"{np.dtype(dtype)} of shape {tuple(shape)}")
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in expected}
        if validate is not None:
            validate(arrays)
        return arrays
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        warnings.warn(f"the data cache {path} failed its checks ({exc}); rebuilding it from the source files",
                      RuntimeWarning, stacklevel=3)
        return None


def save_cache(path, signature: list, arrays: dict) -> None:
    """Write a cache atomically; if the directory is not writable, warn and go on without one."""
    meta = json.dumps({"version": CACHE_VERSION, "sources": signature})
    try:
        atomic_savez(path, {**arrays, "_meta": np.array(meta)})
    except OSError as exc:
        warnings.warn(f"could not write the data cache {path} ({exc}); going on without it",
                      RuntimeWarning, stacklevel=3)
