"""Where data sets live on disk, and writing files so that a crash never leaves half of one.

Directories, in the order they are searched:

- the ``data_home`` argument of a loader, when given;
- the directory named by the environment variable ``FASTNN_DATA``;
- the cache directory: ``$FASTNN_CACHE``, else ``$XDG_CACHE_HOME/fastnn``,
  else ``~/.cache/fastnn``. Downloads go there, and so do the ``.npz``
  caches of parsed arrays.

A ``.npz`` cache records the size and modification time of the files it was
parsed from and is used only while they still match, so it is never trusted
after the source changes. Every write goes to a temporary file in the same
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


def load_cache(path, signature: list, keys) -> dict | None:
    """Arrays of a cache file if it exists, is readable and matches ``signature``; else None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["_meta"]))
            if meta.get("version") != CACHE_VERSION or meta.get("sources") != signature:
                return None
            return {k: z[k] for k in keys}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, json.JSONDecodeError):
        return None


def save_cache(path, signature: list, arrays: dict) -> None:
    """Write a cache atomically; if the directory is not writable, warn and go on without one."""
    meta = json.dumps({"version": CACHE_VERSION, "sources": signature})
    try:
        atomic_savez(path, {**arrays, "_meta": np.array(meta)})
    except OSError as exc:
        warnings.warn(f"could not write the data cache {path} ({exc}); going on without it",
                      RuntimeWarning, stacklevel=3)
