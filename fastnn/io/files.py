"""Writing a file so that a crash leaves the old one or the new one, never half of one; checking an output path early.

Writing is atomic: a temporary ``.<name>.<random>.tmp`` beside the target,
flushed and fsync'ed, then renamed over it; a symlink is written through to
its target. Temporaries of this pattern left by a killed process (older
than ``STALE_TEMP_SECONDS``) are removed on the next write to their folder.
Before a long run, ``check_output_file(path, name)`` tells whether a file
can be written there at all (the one check behind ``Trainer``'s
``checkpoint_path`` and the command line's output options).

Every file fastnn writes goes through ``atomic_write`` (re-exported by ``fastnn.io``).
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import tempfile
import time

import numpy as np

__all__ = ["STALE_TEMP_SECONDS", "atomic_write", "atomic_write_bytes", "write_npz", "check_output_file"]

#: Temporaries of fastnn's own pattern older than this are left-overs of a killed writer.
STALE_TEMP_SECONDS = 600

_TEMP_PATTERN = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def _remove_stale_temps(directory: str) -> None:
    """Remove ``.<name>.<8 chars>.tmp`` files of this user older than ``STALE_TEMP_SECONDS`` in ``directory``."""
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if not _TEMP_PATTERN.match(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if (stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid()
                    and now - st.st_mtime > STALE_TEMP_SECONDS):
                os.unlink(entry.path)
        except OSError:
            pass


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
    """Call ``write(fileobj)`` on a temporary binary file beside ``path``, then rename it over ``path``.

    A crash leaves the old file or the new one, never half of one. A symlink
    at ``path`` is kept: its target is replaced. A new file gets the mode
    ``open`` would give (0o666 less the umask), an existing one keeps its mode.
    """
    path = os.fspath(path)
    if os.path.islink(path):
        path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    _remove_stale_temps(directory)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None       # the temporary's own mode: 0o666 less the umask, applied by the system
    while True:
        tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
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


def write_npz(path, arrays: dict) -> None:
    """``np.savez`` of ``arrays`` to exactly ``path`` (no ``.npz`` appended), atomically; no pickles."""
    atomic_write(path, lambda f: np.savez(f, **arrays))


def check_output_file(path, name: str = "path", example: str = "model.npz") -> str:
    """Check, before any long work, that a file can be written at ``path``; return it as a ``str``.

    One check for every output a run writes at its end (``Trainer``'s
    checkpoint, the command line's ``--save``, ``--plot``, ``OUT.onnx`` ...),
    so that a run never ends by losing its result. Refuses an empty path, a
    folder, a path inside a missing folder or under a file, and a folder where
    no file can be created -- tried for real with a temporary file (removed at
    once), so the answer holds for root and read-only file systems too, where
    permission bits alone would mislead.

    Raises ``TypeError`` for something that is not a path, ``ValueError``
    otherwise; the message starts with ``name`` and suggests a file name like
    ``example``.
    """
    try:
        text = os.fspath(path)
    except TypeError:
        raise TypeError(f"{name} must be a str or path, got a {type(path).__name__}") from None
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str or path, got {path!r}; decode a bytes name first")
    if not text:
        raise ValueError(f"{name} must be a non-empty file name, got ''; give a file such as {example}")
    if os.path.isdir(text):
        raise ValueError(f"{name} {text}: is a folder; give a file name inside it, "
                         f"such as {os.path.join(text, example)}")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.exists(folder):
        raise ValueError(f"{name} {text}: the folder {folder} does not exist; create it first "
                         f"(mkdir -p {folder})")
    if not os.path.isdir(folder):
        raise ValueError(f"{name} {text}: {folder} is not a folder but a file; "
                         "give a path inside a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".fastnn-probe-", dir=folder)
    except OSError as exc:
        raise ValueError(f"{name} {text}: cannot create a file in {folder} ({exc.strerror or exc}); "
                         "choose a folder you can write to") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.remove(probe)
    return text


