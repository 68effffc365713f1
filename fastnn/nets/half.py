"""Half-precision inference: a net's parameters stored in float16 (or bfloat16), products in float32.

The book's ``ch08/half_float_network.py`` casts DeepConvNet's weights to
float16 and shows the accuracy holds. ``net.half('float16')`` (a method of
``Sequential``, so of every fastnn net) returns an inference-only copy whose
parameters are stored in float16 — half the memory of float32, a quarter of
float64 — or in bfloat16 (``pip install ml_dtypes``). When the copy
predicts, each layer (or fused stage) gets float32 copies of its own
parameters for the time it runs (widened exactly by ``fastnn.kernels.half``)
and computes as a float32 layer does: the inputs, the products and their
sums are float32; only the stored weights were rounded. In ``predict`` the float32 copies are dropped when the layer
is done, so at most one layer's parameters exist in float32 at a time;
``accuracy`` converts them all once per call (not once per mini-batch: for
a batch of 100 the conversion costs about what the products do).

Training stays float32/float64: ``loss``, ``gradient`` and the Trainer
refuse a half-precision net with an error that says what to do (train in
float32 and call ``half()`` on the trained net). Running statistics of
batch normalization are kept in float32. ``bench_inference.HalfPrecision``
times predict against the float32 net.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager

import numpy as np

from .. import _runtime
from .._validate import describe_value
from ..kernels import half as half_kernels

__all__ = ["half_dtype", "HALF_DTYPE_NAMES", "make_half", "half_infer", "float32_params", "to_float32", "TRAINING_REFUSED"]

HALF_DTYPE_NAMES = ("float16", "bfloat16")

#: What a half-precision net says when asked to train (loss, gradient, Trainer).
TRAINING_REFUSED = ("this net stores its parameters in {dtype}, for inference only (predict, accuracy); "
                    "train in float32 or float64 and call net.half({dtype!r}) on the trained net")


def half_dtype(dtype, name: str = "dtype") -> np.dtype:
    """``np.dtype`` of 'float16' or 'bfloat16' (the latter from ``ml_dtypes``); ``TypeError`` otherwise."""
    if isinstance(dtype, str) and dtype.strip().lower() == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise TypeError(f"{name}='bfloat16' needs the ml_dtypes package: pip install ml_dtypes "
                            "(or use float16)") from None
        return np.dtype(ml_dtypes.bfloat16)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float16 or bfloat16, got {dtype!r}") from None
    if dt == np.float16 or dt.name == "bfloat16":
        return dt
    raise TypeError(f"{name} must be float16 or bfloat16 (the stored dtypes of half precision), got {dt}")


def make_half(net, dtype="float16"):
    """An inference-only deep copy of ``net`` (a ``Sequential``) with its parameters stored in ``dtype``."""
    dt = half_dtype(dtype)
    if getattr(net, "half_store", None) is not None:
        raise TypeError(f"the net is already stored in {net.dtype}; call half() on the float32/float64 net")
    twin = copy.deepcopy(net)
    store = {}
    for name, layer in twin.layers.items():
        names = getattr(layer, "param_names", None)
        if names is None and any(hasattr(layer, p) for p in ("W", "b", "gamma", "beta")):
            raise TypeError(f"layer {name!r} ({describe_value(layer)}) does not list its param_names; "
                            "half() works with fastnn's layers")
        for s in getattr(layer, "state_names", ()):
            value = getattr(layer, s, None)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                setattr(layer, s, value.astype(np.float32))
        if names:
            store[id(layer)] = (layer, {p: np.asarray(getattr(layer, p)).astype(dt) for p in names})
    for layer, params in store.values():
        for p, value in params.items():
            setattr(layer, p, value)
    twin.half_store = store
    return twin


def to_float32(stored: np.ndarray) -> np.ndarray:
    """A float32 copy of a float16 or bfloat16 array, by the kernels of ``fastnn.kernels.half`` (exact)."""
    stored = np.ascontiguousarray(stored)
    out = np.empty(stored.shape, dtype=np.float32)
    name = "half_to_float32" if stored.dtype == np.float16 else "bfloat16_to_float32"
    if stored.size:
        _runtime.elementwise_kernel(half_kernels, name, stored.size)(stored.reshape(-1).view(np.uint16),
                                                                    out.reshape(-1).view(np.uint32))
    return out


def _swap_in(members, store) -> list:
    """Give each of ``members`` float32 copies of its stored parameters; the (layer, name, stored) swapped."""
    swapped = []
    for m in members:
        for p, value in store[id(m)][1].items():
            if getattr(m, p) is value:          # not already float32 (inside float32_params)
                setattr(m, p, to_float32(value))
                swapped.append((m, p, value))
    return swapped


def _swap_back(swapped) -> None:
    for m, p, value in swapped:
        setattr(m, p, value)


def half_infer(stages, store, x):
    """Run ``stages`` (``(stage, takes train_flg)`` in order) in inference mode, each with float32 parameters."""
    for stage, wants_flag in stages:
        members = [stage] if id(stage) in store else [m for m in vars(stage).values() if id(m) in store]
        swapped = _swap_in(members, store)
        try:
            if hasattr(stage, "infer"):
                x = stage.infer(x)
            else:
                x = stage.forward(x, False) if wants_flag else stage.forward(x)
        finally:
            _swap_back(swapped)
    return x


@contextmanager
def float32_params(store):
    """Every stored parameter as a float32 copy for the ``with`` block (``accuracy``: one conversion per call
    instead of one per mini-batch), the stored arrays back afterwards."""
    swapped = _swap_in([layer for layer, _ in store.values()], store)
    try:
        yield
    finally:
        _swap_back(swapped)
