"""fastnn's ``.npz`` layout (format 2): writing a flat state dict with its record, reading one back checked.

A file is a NumPy ``.npz`` archive, no pickles, readable with ``np.load``:
one member per array entry of a flat state dict, under the entry's own name
(``net/param/W1``, ``optimizer/v/W1``, ``trainer/train_loss``), and
``__fastnn__``, one JSON record ``{"format": 2, "kind": "params" | "model"
| "checkpoint", "dtype", "net", "recipe", "architecture", "values",
"info"}``: ``values`` holds the entries that are not arrays (counters,
generator states), ``info`` what the writer added.

``write_state(path, state, kind, network, **extra)`` writes one (atomically);
``open_saved(path)`` opens one -- of this format or of format 1
(``fastnn.io.format1``) -- as a ``Saved``: its record, the shapes and dtypes
its members *declare* (``Saved.declared()``: read from the ``.npy`` headers,
each checked against its zip entry's declared size, so reading never
inflates more than a header says), and the values, read on demand
(``Saved.read(prefix)``). ``check_declared`` and ``check_architecture``
hold the declared entries against what the receiver needs before anything
is read. This module knows no net, optimizer or Trainer: each checks its own
entries in its ``load_state_dict``.
"""
from __future__ import annotations

import json
import math
import zipfile

import numpy as np

from . import format1
from .files import write_npz
from .format1 import format_number

__all__ = ["FORMAT_VERSION", "META", "KINDS", "MAX_META_BYTES", "Archive", "Saved", "open_saved", "write_state",
           "state_meta", "check_declared", "check_architecture"]

FORMAT_VERSION = 2
META = "__fastnn__"
KINDS = ("params", "model", "checkpoint")

#: The largest metadata record read (a JSON string); real ones are a few KB.
MAX_META_BYTES = 16 * 2**20


def _corrupt(path, exc) -> ValueError:
    return ValueError(f"{path!r} is corrupt or truncated and was not loaded: {type(exc).__name__}: {exc}")


class Archive:
    """An ``.npz`` file whose members' headers were read and checked; values are read on demand.

    ``members``: {name: (shape, dtype)} for every member, from the ``.npy``
    headers; the zip entry's declared size must be what the header implies,
    so reading a member never inflates more than its shape says.
    """

    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as f:
            magic = f.read(4)
        if magic[:1] == b"\x80":
            raise ValueError(f"{path!r} is a pickle (the book's params.pkl format), not an .npz file")
        if magic != b"PK\x03\x04":
            raise ValueError(f"{path!r} is not a file written by fastnn (not an .npz archive)")
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise _corrupt(path, exc) from exc
        self.members: dict = {}
        self._infos: dict = {}
        try:
            for info in self._zip.infolist():
                self._read_header(info)
        except BaseException:
            self._zip.close()
            raise

    def _read_header(self, info) -> None:
        path = self.path
        if not info.filename.endswith(".npy"):
            raise ValueError(f"{path!r}: entry {info.filename!r} is not an .npy array; not loaded")
        name = info.filename[:-4]
        if name in self.members:
            raise ValueError(f"{path!r}: entry {name!r} appears twice; not loaded")
        try:
            with self._zip.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                offset = f.tell()
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, SyntaxError, TypeError,
                NotImplementedError, RuntimeError) as exc:
            raise _corrupt(path, exc) from exc
        if dtype.hasobject or dtype.kind not in "biufcU" or dtype.fields is not None:
            raise ValueError(f"{path!r}: entry {name!r} has dtype {dtype}; fastnn stores only numbers "
                             "and strings (no pickled objects); not loaded")
        nbytes = math.prod(shape) * dtype.itemsize
        if offset + nbytes != info.file_size:
            raise ValueError(f"{path!r}: entry {name!r} declares shape {shape} of {dtype} ({nbytes:,} bytes) "
                             f"but its zip entry declares {info.file_size - offset:,} bytes; not loaded")
        self.members[name] = (tuple(shape), dtype)
        self._infos[name] = info

    def read(self, name: str) -> np.ndarray:
        try:
            with self._zip.open(self._infos[name]) as f:
                return np.lib.format.read_array(f, allow_pickle=False)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise _corrupt(self.path, exc) from exc

    def read_json(self, name: str):
        shape, dtype = self.members[name]
        if shape != () or dtype.kind != "U" or dtype.itemsize > MAX_META_BYTES:
            raise ValueError(f"{self.path!r}: entry {name!r} must be one JSON string, has shape {shape} "
                             f"and dtype {dtype}; not loaded")
        try:
            return json.loads(str(self.read(name)))
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"{self.path!r}: entry {name!r} is not readable JSON ({exc}); not loaded") from None

    def close(self) -> None:
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Saved:
    """What a file holds, in the current layout: meta record, member -> state key, JSON values."""

    def __init__(self, archive: Archive, kind: str, meta: dict, keys: dict, values: dict):
        self.archive, self.kind, self.meta, self.keys, self.values = archive, kind, meta, keys, values

    def declared(self) -> dict:
        """{state key: (shape, dtype)} of the array entries, from the headers."""
        return {key: self.archive.members[m] for m, key in self.keys.items()}

    def read(self, prefix: str = "") -> dict:
        """The entries whose key starts with ``prefix`` (prefix removed): arrays read, JSON values as they are."""
        out = {key[len(prefix):]: self.archive.read(m) for m, key in self.keys.items() if key.startswith(prefix)}
        out.update({k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)})
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.archive.close()


def open_saved(path) -> Saved:
    """Open an ``.npz`` of any of fastnn's formats (current or 1), mapped to the current layout (use as a context)."""
    archive = Archive(path)
    try:
        return _layout(archive)
    except BaseException:
        archive.close()
        raise


def _layout(ar: Archive) -> Saved:
    path, members = ar.path, ar.members
    if META in members:
        meta = ar.read_json(META)
        if not isinstance(meta, dict):
            raise ValueError(f"{path!r}: the {META} record is not a JSON object; not loaded")
        fmt = format_number(path, meta.get("format"), "format version")
        if fmt > FORMAT_VERSION:
            raise ValueError(f"{path!r} has format version {fmt}; this fastnn reads up to {FORMAT_VERSION} "
                             "(upgrade fastnn)")
        kind = meta.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{path!r}: unknown kind of file {kind!r}; expected one of {', '.join(KINDS)}")
        values = meta.get("values", {})
        if not isinstance(values, dict):
            raise ValueError(f"{path!r}: the values of the {META} record are not a JSON object; not loaded")
        keys = {m: m for m in members if m != META}
        stray = sorted(m for m in keys if kind != "checkpoint" and not m.startswith("net/"))
        if stray:
            raise ValueError(f"{path!r}: unexpected entries {stray} in a {kind} file; not loaded")
        return Saved(ar, kind, meta, keys, dict(values))
    old = format1.layout(ar)
    if old is None:
        raise ValueError(f"{path!r} is not a fastnn model file, params file or checkpoint (no {META} record)")
    return Saved(ar, *old)


def state_meta(kind: str, network=None, **extra) -> dict:
    """The ``__fastnn__`` record of a ``kind`` file: ``network``'s dtype and ``architecture()`` (when it has them),
    and ``extra`` (the record's ``net`` and ``recipe`` among them)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    arch = getattr(network, "architecture", None)
    dtype = getattr(network, "dtype", None)
    return {"format": FORMAT_VERSION, "kind": kind, "dtype": None if dtype is None else np.dtype(dtype).name,
            "net": None, "recipe": None, "architecture": arch() if callable(arch) else None,
            "values": {}, "info": {}, **extra}


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"a state entry that is not an array must be JSON-able, got a {type(obj).__name__}")


def write_state(path, state: dict, kind: str, network=None, **extra) -> None:
    """Write the flat ``state`` (arrays and JSON-able values) as a ``kind`` file at ``path``, atomically.

    ``network``: the net the record describes (dtype, architecture), see
    ``state_meta``; ``extra``: more fields of the record (``net``, ``recipe``,
    ``info``). Arrays become members, the rest the record's ``values``.
    """
    meta = state_meta(kind, network, **extra)
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    meta["values"] = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    text = json.dumps(meta, default=_json_default)   # fails here, before anything is written, if not JSON-able
    arrays[META] = np.array(text)
    write_npz(path, arrays)


def _first_difference(saved: list, ours: list) -> str:
    for i, (a, b) in enumerate(zip(saved, ours)):
        if a != b:
            return f"layer {i}: file has {a}, this net has {b}"
    return f"the file has {len(saved)} layers (loss layer included), this net {len(ours)}"


def check_architecture(path, saved, net) -> None:
    """``ValueError`` naming the first difference unless ``saved`` (a file's record) is ``net.architecture()``.

    Nothing is checked when the file records none or the net has no ``architecture()`` (a book-style net).
    """
    arch = getattr(net, "architecture", None)
    if saved is None or not callable(arch):
        return
    ours = json.loads(json.dumps(arch()))
    if saved != ours:
        raise ValueError(f"{path!r} was saved from another architecture and was not loaded: "
                         + _first_difference(saved, ours) if isinstance(saved, list)
                         else f"{path!r}: unreadable architecture record; not loaded")


def check_declared(path, declared: dict, expected: dict, required: tuple = ("param/",), who="this net",
                    prefix: str = "") -> None:
    """Headers against the shapes the receiver needs, before any value is read.

    ``declared``/``expected``: {key: (shape, dtype)} / {key: shape}. Entries
    whose key starts with one of ``required`` must all be present.
    """
    unknown = sorted(prefix + k for k in declared if k not in expected)
    missing = sorted(prefix + k for k in expected if k not in declared and k.startswith(required))
    if unknown or missing:
        raise ValueError(f"{path!r} does not match {who} and was not loaded: missing {missing}, "
                         f"unexpected {unknown}")
    for key, (shape, dtype) in declared.items():
        if expected[key] is not None and shape != tuple(expected[key]):
            raise ValueError(f"{path!r}: entry {prefix + key!r} has shape {shape}, {who} needs {tuple(expected[key])}; "
                             "not loaded")


