"""Saving and loading a net's parameters: one ``.npz`` file, written atomically, checked on load.

The file (format version 1) is a plain NumPy ``.npz`` archive, readable
without pickle (``np.load(path)``):

- ``param.<key>`` — each parameter by the book's name (``param.W1``, ``param.gamma1``);
- ``state.<layer>.<name>`` — non-trained state such as batch norm's
  running statistics (``state.BatchNorm1.running_mean``);
- ``__format__`` — the format version (an int);
- ``__dtype__`` — the dtype the net computed in (``'float32'``/``'float64'``);
- ``__architecture__`` — a JSON list of ``[layer name, layer class,
  [[param, shape], ...]]`` for every layer, then the loss layer's.

Writing goes to a temporary file in the target's directory, which is
flushed, fsync'ed and then renamed over the target (``os.replace``), so a
crash leaves either the old file or the new one, never half of one.

Loading reads and checks the whole file first — a zip archive, every
member intact (CRC), the format version, the architecture, every shape,
finite values — and only then copies the values *into* the net's existing
arrays, so the links to layers and optimizers stay and a refused file leaves
the net exactly as it was. A file saved in the other float dtype is cast.

The book's ``params.pkl`` (a pickle) is not read: pickle can run code on
load. Save again with ``save_params`` to get an ``.npz``.
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from .._atomic import write_npz_atomic

__all__ = ["FORMAT_VERSION", "write_npz_atomic", "read_npz", "save_net", "load_net"]

FORMAT_VERSION = 1
_FORMAT_KEY = "__format__"
_DTYPE_KEY = "__dtype__"
_ARCH_KEY = "__architecture__"
_META_KEYS = (_FORMAT_KEY, _DTYPE_KEY, _ARCH_KEY)


def _param_key(key: str) -> str:
    return f"param.{key}"


def _state_key(layer_name: str, state_name: str) -> str:
    return f"state.{layer_name}.{state_name}"


def read_npz(path) -> dict:
    """Read every array of the ``.npz`` file ``path`` into memory, or raise a ``ValueError`` saying why not.

    A missing file raises ``FileNotFoundError``. A file that is not a zip
    archive (the book's pickle, say), a truncated one, or one with a damaged
    member raises ``ValueError`` naming the file.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:1] == b"\x80":
        raise ValueError(f"{path!r} looks like a pickle (the book's params.pkl format); fastnn reads "
                         "only the .npz files written by save_params, since loading a pickle can run code")
    if magic != b"PK\x03\x04":
        raise ValueError(f"{path!r} is not a params file written by save_params (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError, RuntimeError) as exc:
        raise ValueError(f"{path!r} is corrupt or truncated and was not loaded: "
                         f"{type(exc).__name__}: {exc}") from exc


def _architecture_json(net) -> str:
    return json.dumps(net.architecture())


def save_net(net, path) -> None:
    """Save ``net``'s parameters and state to ``path`` (see the module doc)."""
    arrays = {_param_key(key): arr for key, arr in net.params.items()}
    for (layer_name, state_name), arr in net._named_state().items():
        if arr is not None:
            arrays[_state_key(layer_name, state_name)] = arr
    dtype = net.dtype
    arrays[_FORMAT_KEY] = np.array(FORMAT_VERSION)
    arrays[_DTYPE_KEY] = np.array("" if dtype is None else np.dtype(dtype).name)
    arrays[_ARCH_KEY] = np.array(_architecture_json(net))
    write_npz_atomic(path, arrays)


def _first_difference(saved: list, ours: list) -> str:
    for i, (a, b) in enumerate(zip(saved, ours)):
        if a != b:
            return f"layer {i}: file has {a}, this net has {b}"
    return f"the file has {len(saved)} layers (loss layer included), this net {len(ours)}"


def _check_values(path, what: str, value: np.ndarray, shape: tuple) -> None:
    if value.dtype.kind != "f":
        raise ValueError(f"{path!r}: {what} must be a float array, got dtype {value.dtype}")
    if value.shape != tuple(shape):
        raise ValueError(f"{path!r}: {what} has shape {value.shape}, this net needs {tuple(shape)}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{path!r}: {what} holds NaN or infinite values; not loaded")


def load_net(net, path) -> None:
    """Load ``path`` into ``net`` in place, after checking all of it (see the module doc)."""
    path = os.fspath(path)
    data = read_npz(path)
    missing_meta = [k for k in _META_KEYS if k not in data]
    if missing_meta:
        raise ValueError(f"{path!r} is not a params file written by fastnn's save_params "
                         f"(missing {', '.join(missing_meta)})")
    fmt = data[_FORMAT_KEY]
    if fmt.shape != () or fmt.dtype.kind not in "iu" or int(fmt) < 1:
        raise ValueError(f"{path!r}: bad format version {fmt!r}")
    if int(fmt) > FORMAT_VERSION:
        raise ValueError(f"{path!r} has format version {int(fmt)}; this fastnn reads up to "
                         f"{FORMAT_VERSION} (upgrade fastnn)")
    try:
        saved_arch = json.loads(str(data[_ARCH_KEY]))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path!r}: unreadable architecture record ({exc})") from exc
    ours = json.loads(_architecture_json(net))
    if saved_arch != ours:
        raise ValueError(f"{path!r} was saved from another architecture and was not loaded: "
                         + _first_difference(saved_arch, ours))

    params = net.params
    expected = {_param_key(k) for k in params}
    state = {(ln, sn): arr for (ln, sn), arr in net._named_state().items()}
    state_keys = {_state_key(ln, sn): (ln, sn) for (ln, sn) in state}
    unknown = set(data) - expected - set(state_keys) - set(_META_KEYS)
    missing = expected - set(data)
    if missing or unknown:
        raise ValueError(f"{path!r} does not match this net: missing {sorted(missing)}, "
                         f"unexpected {sorted(unknown)}")
    for key, arr in params.items():
        _check_values(path, f"parameter {key}", data[_param_key(key)], arr.shape)
    new_state = {}
    for skey, (ln, sn) in state_keys.items():
        if skey not in data:
            continue  # state the saved net had not computed yet (e.g. before its first forward)
        value = data[skey]
        current = state[(ln, sn)]
        _check_values(path, f"state {ln}.{sn}", value,
                      value.shape if current is None else current.shape)
        new_state[(ln, sn)] = value

    # Everything checked: copy in. Nothing below can fail on the file's account.
    for key, arr in params.items():
        np.copyto(arr, data[_param_key(key)], casting="same_kind")
    net._set_state(new_state)
