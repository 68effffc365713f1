"""fastnn's files: a net's parameters, a model (parameters plus how to rebuild the net), a Trainer checkpoint.

One layout for all three (format version 2): a NumPy ``.npz`` archive, no
pickles, readable with ``np.load(path)``:

- ``__fastnn__``: one JSON record ``{"format": 2, "kind": "params" | "model"
  | "checkpoint", "dtype": "float32", "net": registered name or null,
  "recipe": constructor arguments or null, "architecture": [...],
  "values": {...}, "info": {...}}``. ``values`` holds the entries of the
  saved state that are not arrays (counters, random generator states);
  ``info`` what the writer added (a model's data set, test accuracy, ...).
- one member per array entry of the saved ``state_dict()``, under the
  entry's own name: ``net/param/W1``, ``net/state/BatchNorm1/running_var``,
  ``optimizer/v/W1``, ``trainer/train_loss``, ...

A params file holds the net's parameters and non-trained state (``net/``);
a model file adds the net's registered name and recipe (see
``fastnn.nets.NETS``); a checkpoint holds the whole ``Trainer.state_dict()``
(net, optimizer, counters, histories, random generators). Any of the three
can be read by ``load_params``.

Reading checks what the file declares before anything is allocated or
decompressed: every member's name, its ``.npy`` header (shape, dtype) and
the zip entry's declared size against that header, then the shapes against
the net (for a model file: against the shapes its recipe implies, before
the net is built). Values are then read and checked in full (real floats,
finite, batch norm variances >= 0, counters that agree, valid generator
states) and only then applied: a refused file changes nothing.

Also read: the files of fastnn's format 1 (params files with ``__format__``,
model files with ``__model__``, checkpoints with ``__meta__``), and the
book's ``params.pkl`` through a restricted unpickler that builds nothing but
a dict of names to NumPy arrays.

Writing is atomic: a temporary ``.<name>.<random>.tmp`` beside the target,
flushed and fsync'ed, then renamed over it; a symlink is written through to
its target. Temporaries of this pattern left by a killed process (older
than ``STALE_TEMP_SECONDS``) are removed on the next write to their folder.
Before a long run, ``check_output_file(path, name)`` tells whether a file
can be written there at all (the one check behind ``Trainer``'s
``checkpoint_path`` and the command line's output options).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import re
import secrets
import stat
import tempfile
import time
import zipfile

import numpy as np

__all__ = ["FORMAT_VERSION", "save_params", "load_params", "save_model", "load_model", "read_model_info",
           "save_checkpoint", "load_checkpoint", "read_state", "read_book_pickle", "atomic_write", "atomic_write_bytes",
           "write_npz", "check_output_file", "read_params", "generator_state", "check_generator_state", "set_generator_state"]

FORMAT_VERSION = 2
META = "__fastnn__"
KINDS = ("params", "model", "checkpoint")

#: Temporaries of fastnn's own pattern older than this are left-overs of a killed writer.
STALE_TEMP_SECONDS = 600
#: The largest metadata record read (a JSON string); real ones are a few KB.
MAX_META_BYTES = 16 * 2**20

_TEMP_PATTERN = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


# ------------------------------------------------------------------------------------ atomic writes

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


# ------------------------------------------------------------------------------------ random generators

def _to_json(obj):
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str}
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _from_json(obj):
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            dtype = np.dtype(obj["dtype"])
            if dtype.kind not in "iu":
                raise ValueError(f"a generator state holds integers, got dtype {dtype}")
            return np.array(obj["__ndarray__"], dtype=dtype)
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


def generator_state(gen) -> dict:
    """The state of ``gen`` (a ``Generator``, ``RandomState``, or None for NumPy's global one) as JSON-able values."""
    if gen is None:
        return _to_json(np.random.get_state(legacy=False))
    if isinstance(gen, np.random.Generator):
        return _to_json(gen.bit_generator.state)
    return _to_json(gen.get_state(legacy=False))


def check_generator_state(gen, state, what: str = "generator state") -> None:
    """Raise ``ValueError`` unless ``state`` (from ``generator_state``) can be set on ``gen``; ``gen`` is not touched."""
    try:
        value = _from_json(state)
        if isinstance(gen, np.random.Generator):
            probe = type(gen.bit_generator)()
            if not isinstance(value, dict) or value.get("bit_generator") != type(probe).__name__:
                raise ValueError(f"it is not a {type(probe).__name__} state")
            probe.state = value
        else:
            np.random.RandomState().set_state(value)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise ValueError(f"{what} is not a valid random generator state ({exc})") from None


def set_generator_state(gen, state) -> None:
    """Put ``state`` (from ``generator_state``) into ``gen`` (None: NumPy's global generator)."""
    value = _from_json(state)
    if gen is None:
        np.random.set_state(value)
    elif isinstance(gen, np.random.Generator):
        gen.bit_generator.state = value
    else:
        gen.set_state(value)


# ------------------------------------------------------------------------------------ reading .npz files

def _corrupt(path, exc) -> ValueError:
    return ValueError(f"{path!r} is corrupt or truncated and was not loaded: {type(exc).__name__}: {exc}")


class _Archive:
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


class _Saved:
    """What a file holds, in the current layout: meta record, member -> state key, JSON values."""

    def __init__(self, archive: _Archive, kind: str, meta: dict, keys: dict, values: dict):
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


def _format_number(path, value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{path!r}: bad {what} {value!r}; not loaded")
    return value


def _open(path: str) -> _Saved:
    """Open an ``.npz`` of any of fastnn's formats (current or 1) and map it to the current layout."""
    archive = _Archive(path)
    try:
        return _layout(archive)
    except BaseException:
        archive.close()
        raise


def _layout(ar: _Archive) -> _Saved:
    path, members = ar.path, ar.members
    if META in members:
        meta = ar.read_json(META)
        if not isinstance(meta, dict):
            raise ValueError(f"{path!r}: the {META} record is not a JSON object; not loaded")
        fmt = _format_number(path, meta.get("format"), "format version")
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
        return _Saved(ar, kind, meta, keys, dict(values))
    if "__format__" in members:                                      # format 1: a params file
        return _Saved(ar, "params", _v1_params_meta(ar, ""), _v1_params_keys(ar, ""), {})
    if "__model__" in members:                                       # format 1: a model file
        meta = ar.read_json("__model__")
        if not isinstance(meta, dict):
            raise ValueError(f"{path!r}: the __model__ record is not a JSON object; not loaded")
        fmt = _format_number(path, meta.get("format", 1), "model format")
        if fmt > 1:
            raise ValueError(f"{path!r} has model format {fmt}; this fastnn reads up to 1 (upgrade fastnn)")
        info = {k: v for k, v in meta.items() if k not in ("format", "net", "kwargs", "dtype")}
        name = {"multi_layer_extend": "multi_layer"}.get(meta.get("net"), meta.get("net"))
        full = {**_v1_params_meta(ar, "net/"), "kind": "model", "net": name, "recipe": meta.get("kwargs"),
                "info": info}
        if meta.get("dtype"):
            full["dtype"] = meta["dtype"]
        return _Saved(ar, "model", full, _v1_params_keys(ar, "net/"), {})
    if "__meta__" in members:                                        # format 1: a Trainer checkpoint
        return _v1_checkpoint(ar)
    raise ValueError(f"{path!r} is not a fastnn model file, params file or checkpoint (no {META} record)")


def _v1_params_meta(ar: _Archive, prefix: str) -> dict:
    path = ar.path
    for key in ("__format__", "__dtype__", "__architecture__"):
        if prefix + key not in ar.members:
            raise ValueError(f"{path!r} is not a params file written by fastnn's save_params (missing {key})")
    shape, dtype = ar.members[prefix + "__format__"]
    if shape != () or dtype.kind not in "iu":
        raise ValueError(f"{path!r}: bad format version entry ({shape}, {dtype}); not loaded")
    fmt = int(ar.read(prefix + "__format__"))
    if fmt < 1:
        raise ValueError(f"{path!r}: bad format version {fmt}; not loaded")
    if fmt > 1:
        raise ValueError(f"{path!r} has format version {fmt}; this fastnn reads 1 and {FORMAT_VERSION} in this "
                         "layout (upgrade fastnn)")
    dt_shape, dt_dtype = ar.members[prefix + "__dtype__"]
    dtype_name = str(ar.read(prefix + "__dtype__")) if dt_shape == () and dt_dtype.kind == "U" \
        and dt_dtype.itemsize < 256 else ""
    return {"format": 1, "kind": "params", "dtype": dtype_name or None,
            "architecture": ar.read_json(prefix + "__architecture__")}


def _v1_params_keys(ar: _Archive, prefix: str) -> dict:
    keys = {}
    for m in ar.members:
        if prefix and m == "__model__":
            continue
        if not m.startswith(prefix):
            raise ValueError(f"{ar.path!r}: unexpected entry {m!r}; not loaded")
        name = m[len(prefix):]
        if name in ("__format__", "__dtype__", "__architecture__"):
            continue
        if name.startswith("param."):
            keys[m] = "net/param/" + name[len("param."):]
        elif name.startswith("state."):
            layer, _, sname = name[len("state."):].rpartition(".")
            keys[m] = f"net/state/{layer}/{sname}"
        else:
            keys[m] = "net/" + name         # refused, by name, when checked against the net
    return keys


def _v1_checkpoint(ar: _Archive) -> _Saved:
    path = ar.path
    meta = ar.read_json("__meta__")
    if not isinstance(meta, dict) or meta.get("kind") != "fastnn-trainer-checkpoint":
        raise ValueError(f"{path!r} is not a Trainer checkpoint")
    if _format_number(path, meta.get("version", 1), "checkpoint version") > 1:
        raise ValueError(f"{path!r} has checkpoint version {meta.get('version')}; this fastnn reads up to 1")
    state_index = meta.get("net_state", [])
    keys = {}
    for m in ar.members:
        if m == "__meta__":
            continue
        if m.startswith("net.param."):
            keys[m] = "net/param/" + m[len("net.param."):]
        elif m.startswith("net.state."):
            try:
                layer, sname = state_index[int(m[len("net.state."):])]
            except (ValueError, IndexError, TypeError):
                raise ValueError(f"{path!r}: entry {m!r} is not listed in the metadata; not loaded") from None
            keys[m] = f"net/state/{layer}/{sname}"
        elif m.startswith("opt."):
            keys[m] = "optimizer/" + m[len("opt."):]
        elif m.startswith("hist."):
            keys[m] = "trainer/" + m[len("hist."):]
        else:
            keys[m] = m
    values = {"trainer/epoch": meta.get("epoch"), "trainer/iteration": meta.get("iteration"),
              "trainer/skipped_steps": meta.get("skipped_steps", 0),
              "trainer/train_size": meta.get("train_size"), "trainer/mini_batch_size": meta.get("mini_batch_size"),
              "trainer/rng": meta.get("rng"), "trainer/global_rng": meta.get("global_rng"),
              "net/layer_rngs_in_order": meta.get("layer_rngs", [])}
    full = {"format": 1, "kind": "checkpoint", "architecture": meta.get("architecture"),
            "net_class": meta.get("net_class")}
    return _Saved(ar, "checkpoint", full, keys, values)


# ------------------------------------------------------------------------------------ the book's params.pkl

def _is_pickle(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(1) == b"\x80"


def _numpy_core(module: str):
    import importlib
    try:
        return importlib.import_module("numpy._core." + module)
    except ImportError:  # NumPy 1.x
        return importlib.import_module("numpy.core." + module)


def _safe_dtype(*args):
    dt = np.dtype(*args)
    if dt.hasobject or dt.kind not in "biufc" or dt.fields is not None:
        raise ValueError(f"dtype {dt}: a params pickle holds only numeric arrays")
    return dt


def _safe_encode(text, encoding="utf-8"):
    if encoding not in ("latin1", "latin-1"):
        raise ValueError(f"_codecs.encode with {encoding!r}: only latin1 (pickle protocol 2's bytes) is admitted")
    import codecs
    return codecs.encode(text, encoding)


class _ParamsUnpickler(pickle.Unpickler):
    """Builds only dicts, strings, numbers and NumPy arrays: every global but these few is refused by name."""

    def find_class(self, module, name):
        multiarray, numeric = _numpy_core("multiarray"), _numpy_core("numeric")
        admitted = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): _safe_dtype,
            ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy.core.multiarray", "scalar"): multiarray.scalar,
            ("numpy._core.multiarray", "scalar"): multiarray.scalar,
            ("numpy.core.numeric", "_frombuffer"): numeric._frombuffer,
            ("numpy._core.numeric", "_frombuffer"): numeric._frombuffer,
            ("_codecs", "encode"): _safe_encode,
        }
        try:
            return admitted[(module, name)]
        except KeyError:
            raise ValueError(f"refused the global {module}.{name}: a params pickle may hold only a dict of "
                             "names to NumPy arrays") from None

    def persistent_load(self, pid):
        raise ValueError("refused a persistent id: a params pickle may hold only a dict of names to NumPy arrays")


def read_book_pickle(path) -> dict:
    """The book's ``params.pkl`` as ``{name: ndarray}``, read without running any code it might carry.

    Raises ``ValueError`` naming the file (and the refused global) for
    anything but a dict of str to numeric ``numpy.ndarray``.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            obj = _ParamsUnpickler(f).load()
    except ValueError as exc:
        raise ValueError(f"{path!r}: {exc}; not loaded") from None
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError, RecursionError) as exc:
        raise ValueError(f"{path!r} is not a readable params pickle ({type(exc).__name__}: {exc}); "
                         "not loaded") from None
    if not isinstance(obj, dict) or not all(isinstance(k, str) and type(v) is np.ndarray for k, v in obj.items()):
        raise ValueError(f"{path!r} is not a params pickle: expected a dict of names to NumPy arrays, "
                         f"got {type(obj).__name__}")
    return obj


# ------------------------------------------------------------------------------------ params

def read_params(path) -> dict:
    """The parameter arrays of a file by the book's names (W1, b1, gamma1, ...): no net needed.

    Reads a params, model or checkpoint file of fastnn, or the book's
    ``params.pkl``; what ``fastnn.nets.recipe_from_params`` turns into the
    recipe of the net the file belongs to. Raises ``ValueError`` for a file
    with no parameters under the book's names.
    """
    path = os.fspath(path)
    if _is_pickle(path):
        params = read_book_pickle(path)
    else:
        params = {key[len("net/param/"):]: value for key, value in read_state(path)[2].items()
                  if key.startswith("net/param/")}
    if "W1" not in params:
        raise ValueError(f"{path!r} holds no parameters named W1, b1, ... (the book's names); "
                         "is it a params file?")
    return params


def _meta(kind: str, network, values: dict, **extra) -> dict:
    arch = getattr(network, "architecture", None)
    dtype = getattr(network, "dtype", None)
    return {"format": FORMAT_VERSION, "kind": kind, "dtype": None if dtype is None else np.dtype(dtype).name,
            "net": None, "recipe": None, "architecture": arch() if callable(arch) else None,
            "values": values, "info": {}, **extra}


def _write(path, state: dict, meta: dict) -> None:
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    meta["values"] = {k: _to_json(v) for k, v in state.items() if not isinstance(v, np.ndarray)}
    text = json.dumps(meta)   # fails here, before anything is written, if a value is not JSON-able
    arrays[META] = np.array(text)
    write_npz(path, arrays)


def _net_state(net) -> dict:
    """The entries of ``net.state_dict()`` a params file keeps: parameters and non-trained state."""
    return {k: v for k, v in net.state_dict().items() if k.startswith(("param/", "state/"))}


def save_params(net, path) -> None:
    """Write ``net``'s parameters and non-trained state (batch norm statistics) to ``path``, atomically."""
    _write(path, {"net/" + k: v for k, v in _net_state(net).items()}, _meta("params", net, {}))


def _first_difference(saved: list, ours: list) -> str:
    for i, (a, b) in enumerate(zip(saved, ours)):
        if a != b:
            return f"layer {i}: file has {a}, this net has {b}"
    return f"the file has {len(saved)} layers (loss layer included), this net {len(ours)}"


def _check_architecture(path, saved, net) -> None:
    arch = getattr(net, "architecture", None)
    if saved is None or not callable(arch):
        return
    ours = json.loads(json.dumps(arch()))
    if saved != ours:
        raise ValueError(f"{path!r} was saved from another architecture and was not loaded: "
                         + _first_difference(saved, ours) if isinstance(saved, list)
                         else f"{path!r}: unreadable architecture record; not loaded")


def _check_declared(path, declared: dict, expected: dict, required: tuple = ("param/",), who="this net",
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


def _load_net_state(net, path: str, state: dict) -> None:
    try:
        net.load_state_dict(state)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path!r} was not loaded: {exc}") from None


def load_params(net, path) -> None:
    """Load ``path`` into ``net``'s own arrays: a params, model or checkpoint file, or the book's ``params.pkl``.

    Everything is checked first (see the module doc): on ``ValueError`` the
    net is unchanged. A file saved in the other float dtype is cast.
    """
    path = os.fspath(path)
    if _is_pickle(path):
        state = {"param/" + k: v for k, v in read_book_pickle(path).items()}
        expected = {k: v.shape for k, v in _net_state(net).items()}
        _check_declared(path, {k: (v.shape, v.dtype) for k, v in state.items()}, expected)
        _load_net_state(net, path, state)
        return
    with _open(path) as saved:
        _check_architecture(path, saved.meta.get("architecture"), net)
        declared = {k[len("net/"):]: v for k, v in saved.declared().items() if k.startswith("net/")}
        expected = {k: v.shape for k, v in _net_state(net).items()}
        _check_declared(path, declared, expected, prefix="net/")
        state = {k: v for k, v in saved.read("net/").items() if k in declared}
    _load_net_state(net, path, state)


# ------------------------------------------------------------------------------------ model files

def _recipe_of(net) -> tuple:
    from .nets import net_name

    name = net_name(net)
    recipe = getattr(net, "recipe", None)
    if name is None or not isinstance(recipe, dict):
        raise ValueError(f"save_model needs one of the registered nets (fastnn.nets.NETS), got "
                         f"{type(net).__name__}; use save_params for other nets")
    return name, recipe


def save_model(net, path, **info) -> None:
    """Write ``net`` with what rebuilds it (its registered name and recipe) and ``info`` to ``path``, atomically.

    ``info``: JSON-able values kept with the model (data set, test accuracy, ...);
    ``load_model`` returns them.
    """
    name, recipe = _recipe_of(net)
    meta = _meta("model", net, {}, net=name, recipe=recipe, info=info)
    _write(path, {"net/" + k: v for k, v in _net_state(net).items()}, meta)


def _model_record(saved: _Saved, path: str) -> dict:
    from .nets import NETS

    meta = saved.meta
    if saved.kind != "model":
        hint = (" (it looks like a save_params file: build the net yourself and call load_params)"
                if saved.kind == "params" else "")
        raise ValueError(f"{path!r} is not a fastnn model file (a {saved.kind} file){hint}")
    if meta.get("net") not in NETS or not isinstance(meta.get("recipe"), dict):
        raise ValueError(f"{path!r}: the model record names no known net: net={meta.get('net')!r}, "
                         f"recipe={meta.get('recipe')!r}; known nets: {', '.join(NETS)}")
    info = meta.get("info") if isinstance(meta.get("info"), dict) else {}
    return {**info, "net": meta["net"], "recipe": meta["recipe"], "dtype": meta.get("dtype") or "float64"}


def read_model_info(path) -> dict:
    """The record of a model file: ``net``, ``recipe``, ``dtype`` and the ``info`` it was saved with."""
    path = os.fspath(path)
    with _open(path) as saved:
        return _model_record(saved, path)


def load_model(path, dtype=None):
    """Rebuild the net saved in ``path`` and load its parameters. Returns ``(net, info)``.

    The recipe is checked against the stored parameters' shapes before the
    net is built, so a small file cannot ask for a huge net. ``dtype``:
    compute in this dtype instead of the saved one (the values are cast).
    """
    from .nets import build_net, param_shapes

    path = os.fspath(path)
    with _open(path) as saved:
        record = _model_record(saved, path)
        try:
            shapes = param_shapes(record["net"], record["recipe"])
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path!r}: the model's recipe is not valid ({exc}); not loaded") from None
        declared = {k[len("net/param/"):]: v[0] for k, v in saved.declared().items() if k.startswith("net/param/")}
        for key in sorted(set(shapes) | set(declared)):
            if shapes.get(key) != declared.get(key):
                raise ValueError(f"{path!r}: entry 'net/param/{key}': the recipe implies shape {shapes.get(key)}, "
                                 f"the file stores {declared.get(key)}; not loaded")
        try:
            wanted = np.dtype(dtype or record["dtype"])
        except TypeError:
            raise ValueError(f"{path!r}: unknown dtype {dtype or record['dtype']!r}; not loaded") from None
        try:
            net = build_net(record["net"], record["recipe"], wanted, seed=0)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path!r}: the model's recipe is not valid ({exc}); not loaded") from None
        _check_architecture(path, saved.meta.get("architecture"), net)
        expected = {k: v.shape for k, v in _net_state(net).items()}
        declared_all = {k[len("net/"):]: v for k, v in saved.declared().items()}
        _check_declared(path, declared_all, expected, prefix="net/")
        state = saved.read("net/")
    _load_net_state(net, path, state)
    return net, record


# ------------------------------------------------------------------------------------ checkpoints

def save_checkpoint(trainer, path) -> None:
    """Write ``trainer.state_dict()`` (net, optimizer, counters, histories, generators) to ``path``, atomically."""
    from .nets import net_name

    net = trainer.network
    extra = {}
    if net_name(net) is not None and isinstance(getattr(net, "recipe", None), dict):
        extra = {"net": net_name(net), "recipe": net.recipe}
    _write(path, trainer.state_dict(), _meta("checkpoint", net, {}, **extra))


def _expected_checkpoint_shapes(trainer, values: dict) -> dict:
    """{key: shape or None} of every array entry a checkpoint for ``trainer`` may hold."""
    net_state = trainer.network.state_dict() if hasattr(trainer.network, "state_dict") else \
        {"param/" + k: v for k, v in trainer.network.params.items()}
    expected = {"net/" + k: v.shape for k, v in net_state.items() if isinstance(v, np.ndarray)}
    params = trainer.network.params
    for key, value in trainer.optimizer.state_dict().items():
        expected["optimizer/" + key] = value.shape if isinstance(value, np.ndarray) and value.ndim == 0 else None
    states = getattr(trainer.optimizer, "state_names", ())
    for s in states:
        for k, v in params.items():
            expected[f"optimizer/{s}/{k}"] = v.shape
    epoch, iteration = values.get("trainer/epoch"), values.get("trainer/iteration")
    counts_ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (epoch, iteration))
    for name, n in (("train_acc", epoch), ("test_acc", epoch), ("train_loss", None)):
        expected["trainer/" + name] = (n,) if counts_ok and n is not None else None
    return expected


def load_checkpoint(trainer, path) -> None:
    """Put the run saved in ``path`` back into ``trainer``: all of it, or, on ``ValueError``, nothing."""
    path = os.fspath(path)
    with _open(path) as saved:
        if saved.kind != "checkpoint":
            raise ValueError(f"{path!r} is not a Trainer checkpoint (a {saved.kind} file)")
        net = trainer.network
        _check_architecture(path, saved.meta.get("architecture"), net)
        if saved.meta.get("net_class") not in (None, type(net).__name__):
            raise ValueError(f"checkpoint {path!r} does not fit this training run and was not loaded: net class is "
                             f"{saved.meta['net_class']!r} in the checkpoint, {type(net).__name__!r} here")
        declared = saved.declared()
        counters = {k: saved.values.get(f"trainer/{k}") for k in ("epoch", "iteration")}
        for name, value in counters.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{path!r}: trainer/{name} must be an integer >= 0, got {value!r}; not loaded")
        if counters["epoch"] > trainer.epochs:   # (also bounds the histories' declared sizes)
            raise ValueError(f"{path!r}: the run saved there has already done {counters['epoch']} epochs; this "
                             f"training run has {trainer.epochs} (give epochs={counters['epoch']} or more)")
        if counters["iteration"] > counters["epoch"] * trainer.iter_per_epoch:
            raise ValueError(f"{path!r} records {counters['epoch']} epochs and {counters['iteration']} steps; this "
                             f"training run has {trainer.epochs} epochs of {trainer.iter_per_epoch} steps; not loaded")
        expected = _expected_checkpoint_shapes(trainer, saved.values)
        _check_declared(path, declared, expected, required=("net/param/",), who="this training run")
        shape = declared.get("trainer/train_loss", ((0,), None))[0]
        if len(shape) != 1 or shape[0] > counters["iteration"]:
            raise ValueError(f"{path!r}: entry 'trainer/train_loss' has shape {shape}, more than the "
                             f"{counters['iteration']} steps recorded; not loaded")
        state = saved.read()
    layer_rngs = state.pop("net/layer_rngs_in_order", None)
    if layer_rngs is not None:                      # format 1 listed the layers' generators in layer order
        names = [k for k in (net.state_dict() if hasattr(net, "state_dict") else {}) if k.startswith("rng/")]
        # (format 1 counted the layers' own generators, as state_dict does: NumPy's global one is not a layer's)
        if not isinstance(layer_rngs, list) or len(layer_rngs) != len(names):
            raise ValueError(f"checkpoint {path!r} does not fit this training run and was not loaded: "
                             f"{len(layer_rngs) if isinstance(layer_rngs, list) else '?'} layer random generators "
                             f"saved, the net has {len(names)}")
        state.update({"net/" + n: s for n, s in zip(names, layer_rngs)})
    try:
        trainer.load_state_dict(state)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"checkpoint {path!r} does not fit this training run and was not loaded: {exc}") from None


def read_state(path) -> tuple:
    """``(kind, meta, state)`` of a fastnn file: the whole state dict as saved (for inspection and tests)."""
    path = os.fspath(path)
    with _open(path) as saved:
        return saved.kind, saved.meta, saved.read()
