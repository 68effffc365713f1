"""Model files: a registered net's parameters with what rebuilds it (its name in ``NETS`` and its recipe).

``save_model(net, path, **info)`` writes one, ``load_model(path)`` rebuilds
the net and loads it, ``read_model_info(path)`` reads the record alone. The
layout and the checks of the file itself are ``fastnn.io``'s; what is
checked here is what only the registry knows: that the recipe names a
registered net, and that the shapes it implies are the shapes the file
stores -- before the net is built, so a small file cannot ask for a huge
net. (``fastnn.io.save_model`` etc. are these very functions.)
"""
from __future__ import annotations

import os

import numpy as np

from .. import io
from .registry import NETS, build_net, net_name, param_shapes

__all__ = ["save_model", "load_model", "read_model_info", "model_record_fields"]


def model_record_fields(net) -> dict:
    """``{"net": name, "recipe": recipe}`` of a registered net (what a file needs to rebuild it); ``{}`` otherwise."""
    name = net_name(net)
    recipe = getattr(net, "recipe", None)
    if name is None or not isinstance(recipe, dict):
        return {}
    return {"net": name, "recipe": recipe}


def save_model(net, path, **info) -> None:
    """Write ``net`` with what rebuilds it (its registered name and recipe) and ``info`` to ``path``, atomically.

    ``info``: JSON-able values kept with the model (data set, test accuracy, ...);
    ``load_model`` returns them.
    """
    if getattr(net, "half_store", None) is not None:
        raise ValueError(f"save_model takes a float32/float64 net; this one is stored in {net.dtype} for inference "
                         "(net.half()): save the net it came from, and convert when loading "
                         f"(load_model(path)[0].half({str(net.dtype)!r}), or fastnn evaluate MODEL --dtype {net.dtype})")
    fields = model_record_fields(net)
    if not fields:
        raise ValueError(f"save_model needs one of the registered nets (fastnn.nets.NETS), got "
                         f"{type(net).__name__}; use save_params for other nets")
    io.write_state(path, {"net/" + k: v for k, v in io.params_file_state(net).items()}, "model", net,
                   info=info, **fields)


def _model_record(saved, path: str) -> dict:
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
    with io.open_saved(path) as saved:
        return _model_record(saved, path)


def load_model(path, dtype=None):
    """Rebuild the net saved in ``path`` and load its parameters. Returns ``(net, info)``.

    The recipe is checked against the stored parameters' shapes before the
    net is built, so a small file cannot ask for a huge net. ``dtype``:
    compute in this dtype instead of the saved one (the values are cast).
    """
    path = os.fspath(path)
    with io.open_saved(path) as saved:
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
        io.check_architecture(path, saved.meta.get("architecture"), net)
        expected = {k: v.shape for k, v in io.params_file_state(net).items()}
        declared_all = {k[len("net/"):]: v for k, v in saved.declared().items()}
        io.check_declared(path, declared_all, expected, prefix="net/")
        state = saved.read("net/")
    io.load_net_state(net, path, state)
    return net, record
