"""What a training checkpoint holds, and putting it back: the Trainer's save/resume machinery.

A checkpoint is one ``.npz`` file (no pickles), written atomically by
``fastnn.nets.checkpoint.write_npz_atomic`` (temporary file, fsync, rename):

- ``net.param.<key>``: every array of ``network.params``;
- ``net.state.<i>``: non-trained state of the net's layers (batch norm's
  running statistics), listed by layer and name in the metadata;
- ``opt.<entry>``: the optimizer's ``state_dict()`` (velocities, moments,
  Adam's step count, hyperparameters);
- ``hist.train_loss``, ``hist.train_acc``, ``hist.test_acc``: the histories;
- ``__meta__``: JSON with the format version, epoch and iteration reached,
  the run's shape (training-set size, batch size, optimizer) and the state
  of every random generator in play: the Trainer's, each layer's own
  (Dropout's) and NumPy's global one.

Restoring checks everything first and changes nothing if the file does not
fit the trainer (another net, optimizer, data size or batch size).
"""
from __future__ import annotations

import json

import numpy as np

KIND = "fastnn-trainer-checkpoint"
VERSION = 1


# ---------------------------------------------------------------- random generators as JSON

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
            return np.array(obj["__ndarray__"], dtype=np.dtype(obj["dtype"]))
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


def layer_generators(network) -> list:
    """The random generators the net's layers own (``rng``: Generator or RandomState)."""
    layers = getattr(network, "layers", None)
    if isinstance(layers, dict):
        layers = list(layers.values())
    elif not isinstance(layers, (list, tuple)):
        return []
    found = []
    for layer in layers:
        for attr in ("rng",):
            g = getattr(layer, attr, None)
            if isinstance(g, (np.random.Generator, np.random.RandomState)):
                if not any(g is f for f in found):
                    found.append(g)
                break
    return found


def _get_gen_state(g):
    if isinstance(g, np.random.Generator):
        return g.bit_generator.state
    return g.get_state(legacy=False)


def _set_gen_state(g, state) -> None:
    if isinstance(g, np.random.Generator):
        g.bit_generator.state = state
    else:
        g.set_state(state)


# ---------------------------------------------------------------- the net

def _net_state(network) -> list:
    """[(layer name, state name, array)] for non-trained state, if the net exposes it."""
    named = getattr(network, "_named_state", None)
    if named is None:
        return []
    return [(ln, sn, arr) for (ln, sn), arr in named().items() if arr is not None]


def _architecture(network):
    arch = getattr(network, "architecture", None)
    return arch() if callable(arch) else None


# ---------------------------------------------------------------- capture / restore

def capture(trainer) -> dict:
    """Everything needed to continue ``trainer``'s run exactly, as arrays for ``np.savez``."""
    net = trainer.network
    arrays = {f"net.param.{k}": np.asarray(v) for k, v in net.params.items()}
    state_index = []
    for i, (ln, sn, arr) in enumerate(_net_state(net)):
        arrays[f"net.state.{i}"] = np.asarray(arr)
        state_index.append([ln, sn])
    for k, v in trainer.optimizer.state_dict().items():
        arrays[f"opt.{k}"] = np.asarray(v)
    arrays["hist.train_loss"] = np.asarray(trainer.train_loss_list, dtype=np.float64)
    arrays["hist.train_acc"] = np.asarray(trainer.train_acc_list, dtype=np.float64)
    arrays["hist.test_acc"] = np.asarray(trainer.test_acc_list, dtype=np.float64)
    meta = {
        "kind": KIND,
        "version": VERSION,
        "epoch": trainer.current_epoch,
        "iteration": trainer.current_iter,
        "skipped_steps": trainer.skipped_steps,
        "train_size": trainer.train_size,
        "mini_batch_size": trainer.batch_size,
        "optimizer": type(trainer.optimizer).__name__,
        "net_class": type(net).__name__,
        "architecture": _architecture(net),
        "net_state": state_index,
        "rng": _to_json(trainer.rng.bit_generator.state),
        "layer_rngs": [_to_json(_get_gen_state(g)) for g in layer_generators(net)],
        "global_rng": _to_json(np.random.get_state(legacy=False)),
    }
    arrays["__meta__"] = np.array(json.dumps(meta))
    return arrays


def _fail(path, why: str):
    raise ValueError(f"checkpoint {path!r} does not fit this training run and was not loaded: {why}")


def restore(trainer, arrays: dict, path) -> None:
    """Put a captured state back into ``trainer`` (its net, optimizer, generators, counters).

    Checks the whole file against the trainer before changing anything.
    """
    if "__meta__" not in arrays:
        raise ValueError(f"{path!r} is not a Trainer checkpoint (no __meta__ record)")
    try:
        meta = json.loads(str(arrays["__meta__"]))
    except ValueError as exc:
        raise ValueError(f"{path!r}: unreadable checkpoint metadata ({exc})") from exc
    if meta.get("kind") != KIND:
        raise ValueError(f"{path!r} is not a Trainer checkpoint")
    if meta.get("version", 0) > VERSION:
        raise ValueError(f"{path!r} has checkpoint version {meta.get('version')}; this fastnn reads up to {VERSION}")

    net = trainer.network
    for what, saved, ours in (("training-set size", meta["train_size"], trainer.train_size),
                              ("mini_batch_size", meta["mini_batch_size"], trainer.batch_size),
                              ("optimizer", meta["optimizer"], type(trainer.optimizer).__name__),
                              ("net class", meta["net_class"], type(net).__name__)):
        if saved != ours:
            _fail(path, f"{what} is {saved!r} in the checkpoint, {ours!r} here")
    arch = _architecture(net)
    if meta.get("architecture") is not None and arch is not None \
            and meta["architecture"] != json.loads(json.dumps(arch)):
        _fail(path, "the net's architecture differs")

    params = net.params
    saved_keys = {k[len("net.param."):] for k in arrays if k.startswith("net.param.")}
    if saved_keys != set(params):
        _fail(path, f"parameters {sorted(saved_keys)} in the checkpoint, {sorted(params)} in the net")
    for k, arr in params.items():
        value = arrays[f"net.param.{k}"]
        if value.shape != arr.shape:
            _fail(path, f"parameter {k} has shape {value.shape}, the net's {arr.shape}")
        if not np.all(np.isfinite(value)):
            _fail(path, f"parameter {k} holds NaN or infinite values")
    gens = layer_generators(net)
    if len(gens) != len(meta["layer_rngs"]):
        _fail(path, f"{len(meta['layer_rngs'])} layer random generators saved, the net has {len(gens)}")
    opt_state = {k[len("opt."):]: v for k, v in arrays.items() if k.startswith("opt.")}

    # Checked what can be checked without touching anything; the optimizer validates its own state.
    trainer.optimizer.load_state_dict(opt_state)
    for k, arr in params.items():
        np.copyto(arr, arrays[f"net.param.{k}"], casting="same_kind")
    state = {(ln, sn): arrays[f"net.state.{i}"] for i, (ln, sn) in enumerate(meta["net_state"])}
    if state:
        net._set_state(state)
    trainer.rng.bit_generator.state = _from_json(meta["rng"])
    for g, st in zip(gens, meta["layer_rngs"]):
        _set_gen_state(g, _from_json(st))
    np.random.set_state(_from_json(meta["global_rng"]))
    trainer.current_epoch = int(meta["epoch"])
    trainer.current_iter = int(meta["iteration"])
    trainer.skipped_steps = int(meta.get("skipped_steps", 0))
    trainer.train_loss_list = arrays["hist.train_loss"].tolist()
    trainer.train_acc_list = arrays["hist.train_acc"].tolist()
    trainer.test_acc_list = arrays["hist.test_acc"].tolist()
