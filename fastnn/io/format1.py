"""fastnn's file format 1, read into the current layout: params (``__format__``), models (``__model__``), checkpoints (``__meta__``).

fastnn wrote these before format 2's single ``__fastnn__`` record; they are
still read, never written. ``layout(archive)`` maps an opened archive
(``fastnn.io.npz.Archive``: ``path``, ``members``, ``read``, ``read_json``)
to ``(kind, meta, keys, values)`` in format 2's terms -- member name -> state
key (``net.param.W1`` -> ``net/param/W1``, ...) and the JSON values a format
2 record would hold -- or returns None for an archive that is not format 1.
A format-1 checkpoint lists its layers' generators in layer order
(``net/layer_rngs_in_order``); ``name_layer_generators`` gives them the
net's names once the net is known.
"""
from __future__ import annotations

__all__ = ["layout", "name_layer_generators", "format_number"]


def format_number(path, value, what: str) -> int:
    """``value`` if it is a format version (an int >= 1), else ``ValueError`` naming ``what`` in ``path``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{path!r}: bad {what} {value!r}; not loaded")
    return value


def layout(ar):
    """``(kind, meta, keys, values)`` of a format-1 archive in the current layout; None if ``ar`` is not format 1."""
    path, members = ar.path, ar.members
    if "__format__" in members:                                      # format 1: a params file
        return "params", _params_meta(ar, ""), _params_keys(ar, ""), {}
    if "__model__" in members:                                       # format 1: a model file
        meta = ar.read_json("__model__")
        if not isinstance(meta, dict):
            raise ValueError(f"{path!r}: the __model__ record is not a JSON object; not loaded")
        fmt = format_number(path, meta.get("format", 1), "model format")
        if fmt > 1:
            raise ValueError(f"{path!r} has model format {fmt}; this fastnn reads up to 1 (upgrade fastnn)")
        info = {k: v for k, v in meta.items() if k not in ("format", "net", "kwargs", "dtype")}
        name = {"multi_layer_extend": "multi_layer"}.get(meta.get("net"), meta.get("net"))
        full = {**_params_meta(ar, "net/"), "kind": "model", "net": name, "recipe": meta.get("kwargs"),
                "info": info}
        if meta.get("dtype"):
            full["dtype"] = meta["dtype"]
        return "model", full, _params_keys(ar, "net/"), {}
    if "__meta__" in members:                                        # format 1: a Trainer checkpoint
        return _checkpoint(ar)
    return None


def _params_meta(ar, prefix: str) -> dict:
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
        raise ValueError(f"{path!r} has format version {fmt}; this fastnn reads only format 1 in this "
                         "layout (upgrade fastnn)")
    dt_shape, dt_dtype = ar.members[prefix + "__dtype__"]
    dtype_name = str(ar.read(prefix + "__dtype__")) if dt_shape == () and dt_dtype.kind == "U" \
        and dt_dtype.itemsize < 256 else ""
    return {"format": 1, "kind": "params", "dtype": dtype_name or None,
            "architecture": ar.read_json(prefix + "__architecture__")}


def _params_keys(ar, prefix: str) -> dict:
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


def _checkpoint(ar) -> tuple:
    path = ar.path
    meta = ar.read_json("__meta__")
    if not isinstance(meta, dict) or meta.get("kind") != "fastnn-trainer-checkpoint":
        raise ValueError(f"{path!r} is not a Trainer checkpoint")
    if format_number(path, meta.get("version", 1), "checkpoint version") > 1:
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
    return "checkpoint", full, keys, values


def name_layer_generators(path, state: dict, names: list) -> dict:
    """``state`` with a format-1 checkpoint's ``net/layer_rngs_in_order`` put under ``net/<name>`` for ``names``.

    ``names``: the net's ``rng/<layer>`` keys in layer order (format 1 counted
    the layers' own generators, as ``state_dict`` does: NumPy's global one is
    not a layer's). A state without that entry is returned as it is.
    """
    layer_rngs = state.pop("net/layer_rngs_in_order", None)
    if layer_rngs is None:
        return state
    if not isinstance(layer_rngs, list) or len(layer_rngs) != len(names):
        raise ValueError(f"checkpoint {path!r} does not fit this training run and was not loaded: "
                         f"{len(layer_rngs) if isinstance(layer_rngs, list) else '?'} layer random generators "
                         f"saved, the net has {len(names)}")
    state.update({"net/" + n: s for n, s in zip(names, layer_rngs)})
    return state
