"""A trained model in one file: the net's parameters plus what it takes to rebuild the net.

``net.save_params(path)`` stores parameters, batch norm statistics, dtype and
architecture, but a net must exist before ``load_params`` can fill it. A
model file adds the recipe: the net's registered name and constructor
arguments, and where it was trained (data set, test accuracy). It is a plain
``.npz`` (no pickle), written atomically:

- ``__model__``: JSON ``{"format": 1, "net": "simple_convnet", "kwargs": {...},
  "dtype": "float32", "data": "fashion", "flatten": false, ...}``;
- ``net/<entry>``: every entry of the file ``save_params`` writes, unchanged.

``load_model(path)`` rebuilds the net and loads the parameters through the
net's own ``load_params``, so every check of that (architecture, shapes,
finite values, truncated files) applies.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

__all__ = ["NETS", "build_net", "save_model", "load_model", "MODEL_FORMAT"]

MODEL_FORMAT = 1
_META = "__model__"
_PREFIX = "net/"

#: Registered nets: CLI name -> class name in fastnn.nets.
NETS = {
    "two_layer": "TwoLayerNet",
    "multi_layer": "MultiLayerNet",
    "multi_layer_extend": "MultiLayerNetExtend",
    "simple_convnet": "SimpleConvNet",
    "deep_convnet": "DeepConvNet",
}


def build_net(name: str, kwargs: dict, dtype="float64", seed=None):
    """Make the registered net ``name`` with ``kwargs`` (JSON-friendly: lists for tuples)."""
    from . import nets

    if name not in NETS:
        raise ValueError(f"net must be one of {', '.join(NETS)}; got {name!r}")
    cls = getattr(nets, NETS[name])
    kw = dict(kwargs)
    if "input_dim" in kw:
        kw["input_dim"] = tuple(kw["input_dim"])
    return cls(**kw, dtype=np.dtype(dtype), seed=seed)


def save_model(path, net, name: str, kwargs: dict, **info) -> None:
    """Write ``net`` (built as ``build_net(name, kwargs)``) and ``info`` to ``path``, atomically."""
    from .nets.checkpoint import read_npz, write_npz_atomic

    if name not in NETS:
        raise ValueError(f"name must be one of {', '.join(NETS)}; got {name!r}")
    meta = {"format": MODEL_FORMAT, "net": name, "kwargs": kwargs,
            "dtype": np.dtype(net.dtype).name, **info}
    text = json.dumps(meta)  # fails here, before anything is written, if info is not JSON-friendly
    with tempfile.TemporaryDirectory() as tmp:
        inner = os.path.join(tmp, "params.npz")
        net.save_params(inner)
        arrays = {_PREFIX + k: v for k, v in read_npz(inner).items()}
    arrays[_META] = np.array(text)
    write_npz_atomic(path, arrays)


def read_model_info(path) -> dict:
    """The JSON record of a model file (``ValueError`` if ``path`` is not one)."""
    from .nets.checkpoint import read_npz

    data = read_npz(path)
    return _info(path, data)


def _info(path, data) -> dict:
    if _META not in data:
        hint = (" (it looks like a save_params file: build the net yourself and call load_params)"
                if "__architecture__" in data else "")
        raise ValueError(f"{os.fspath(path)!r} is not a fastnn model file (no {_META} record){hint}")
    try:
        meta = json.loads(str(data[_META]))
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)!r}: unreadable model record ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("net") not in NETS or not isinstance(meta.get("kwargs"), dict):
        raise ValueError(f"{os.fspath(path)!r}: the model record names no known net: {meta!r}")
    if int(meta.get("format", 0)) > MODEL_FORMAT:
        raise ValueError(f"{os.fspath(path)!r} has model format {meta['format']}; this fastnn reads up to "
                         f"{MODEL_FORMAT} (upgrade fastnn)")
    return meta


def load_model(path, dtype=None):
    """Rebuild the net saved in ``path`` and load its parameters. Returns ``(net, info)``.

    ``dtype``: compute in this dtype instead of the saved one (the values are cast).
    """
    from .nets.checkpoint import read_npz, write_npz_atomic

    data = read_npz(path)
    meta = _info(path, data)
    net = build_net(meta["net"], meta["kwargs"], dtype or meta.get("dtype", "float64"), seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        inner = os.path.join(tmp, "params.npz")
        write_npz_atomic(inner, {k[len(_PREFIX):]: v for k, v in data.items() if k.startswith(_PREFIX)})
        net.load_params(inner)
    return net, meta
