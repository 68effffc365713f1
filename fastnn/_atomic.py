"""Writing files so that a crash never leaves half of one.

Every write goes to a temporary file ``.<name>.<random>.tmp`` in the target's
directory, is flushed to disk (fsync) and renamed over the target
(``os.replace``); the directory is then fsync'ed so that the rename itself
is durable where the platform allows. On any error the temporary file is
removed and the target is left as it was.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

__all__ = ["atomic_write", "atomic_write_bytes", "write_npz_atomic"]


def _file_mode(path: str) -> int:
    """An existing file's permissions, else 0o666 minus the umask (what ``open`` would give)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not possible on every platform / file system
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write) -> None:
    """Call ``write(fileobj)`` on a temporary binary file beside ``path``, then put it in place atomically."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    mode = _file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(data))


def write_npz_atomic(path, arrays: dict) -> None:
    """``np.savez`` of ``arrays`` to exactly ``path`` (no ``.npz`` appended), atomically; no pickles."""
    atomic_write(path, lambda f: np.savez(f, **arrays))
