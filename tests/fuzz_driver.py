"""Hypothesis-driven fuzzing of fastnn's public boundary, run in a subprocess by ``tests/test_fuzz.py``.

Usage::

    python tests/fuzz_driver.py [--examples N] [--targets relu,conv,...] [--seed S]

Prints one JSON object on stdout::

    {"examples": N, "cases": total, "targets": {name: {"ok": k, "ValueError": k,
     "TypeError": k, "bad": k}}, "bad": [first failures, described]}

Each target draws a *valid* call (shapes that agree, in-range labels,
windows that fit) and then, most of the time, spoils it: one argument gets
the wrong rank, an empty axis, a wrong size, another dtype (int, bool,
complex, float16, object, str), NaN/inf, a huge or negative label, a bad
stride/pad/window, or is not an array at all; or its memory layout changes
(Fortran order, a strided view, a read-only array, a view into a larger
buffer, the other float dtype) while its values stay the same.

A case is *bad* (counted and described) when

* it raises anything but ``ValueError``/``TypeError``, or one of those with
  an empty message;
* a valid call, or one whose only change is the layout, is refused;
* an accepted call with finite inputs gives a non-finite output or an
  output of the wrong shape;
* a layout-only change gives a result that differs from the one for the
  C-contiguous array of the same values (bit for bit, after the same dtype
  conversion);
* any input array the caller holds is changed by the call (optimizers'
  ``params`` excepted, which are updated in place by design).

A crash (segfault, abort) kills this process: the parent test sees the
signal in the return code. The number of examples per target comes from
``--examples`` or the environment variable ``FASTNN_FUZZ_EXAMPLES``.
"""
from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import time
import traceback

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed
from hypothesis import strategies as st

faulthandler.enable()

RESULTS: dict = {}
BAD: list = []
MAX_BAD_REPORTED = 40

# ---------------------------------------------------------------------------------------------
# spoiling: garbage and layout changes
# ---------------------------------------------------------------------------------------------

LAYOUTS = ("fortran", "strided", "readonly", "offset_view", "other_float")
GARBAGE_ARRAY = ("int", "bool", "complex", "float16", "object", "str", "rank_up", "rank_down",
                 "empty", "resize", "nan", "inf", "none", "string", "list_of_str", "scalar")


class Spoiled:
    """What is done to one case: ``kind`` becomes 'clean', 'layout' (same values) or 'garbage'.

    The plan (clean 30%, layout changes 30%, garbage 40%) and every choice
    inside it come from a generator seeded by one hypothesis draw, so the
    mix stays as planned (hypothesis' own draws favour boundary values).
    """

    def __init__(self, data):
        self.rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1), label="spoil seed"))
        self.plan = self.rng.choice(["clean", "layout", "garbage"], p=[0.3, 0.3, 0.4])
        self.kind = "clean"
        self.what = []
        self.nonfinite = False

    def chance(self, wanted: str, p: float) -> bool:
        return self.plan == wanted and self.rng.random() < p

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def mark(self, kind, what):
        if kind == "garbage" or self.kind == "clean":
            self.kind = kind
        self.what.append(what)


def layout_variant(arr: np.ndarray, how: str, other_float_ok: bool):
    """An array with ``arr``'s values in another memory layout (or the other float dtype)."""
    if how == "fortran":
        return np.asfortranarray(arr) if arr.ndim else arr  # (asfortranarray makes a 0-d array 1-D)
    if how == "strided":
        big = np.zeros(arr.shape[:-1] + (arr.shape[-1] * 2,) if arr.ndim else (2,), dtype=arr.dtype)
        if arr.ndim == 0:
            return arr
        big[..., ::2] = arr
        return big[..., ::2]
    if how == "readonly":
        v = arr.copy()
        v.flags.writeable = False
        return v
    if how == "offset_view":
        flat = np.zeros(arr.size + 3, dtype=arr.dtype)
        flat[3:] = arr.ravel()
        return flat[3:].reshape(arr.shape)
    if how == "other_float" and other_float_ok and arr.dtype.kind == "f":
        if arr.dtype == np.float64:
            # values exactly representable in float32, so converting back gives the same numbers
            return arr.astype(np.float32)
        return arr.astype(np.float64)
    return arr


def garbage_array(arr: np.ndarray, how: str, rng: np.random.Generator):
    """A spoiled version of ``arr``."""
    if how == "int":
        return np.round(arr).astype(np.int64) if np.all(np.isfinite(arr)) else np.zeros(arr.shape, np.int64)
    if how == "bool":
        return arr > 0
    if how == "complex":
        return arr.astype(np.complex128)
    if how == "float16":
        return arr.astype(np.float16)
    if how == "object":
        return arr.astype(object)
    if how == "str":
        return arr.astype(str)
    if how == "rank_up":
        return arr[np.newaxis]
    if how == "rank_down":
        if arr.ndim > 1:
            return arr.reshape(-1)
        return arr[0] if arr.ndim == 1 and arr.size else np.zeros((1, 1), arr.dtype)
    if how == "empty":
        if arr.ndim == 0:
            return np.zeros((0,), arr.dtype)
        shape = list(arr.shape)
        shape[int(rng.integers(arr.ndim))] = 0
        return np.zeros(shape, arr.dtype)
    if how == "resize":
        if arr.ndim == 0:
            return np.zeros((2,), arr.dtype)
        shape = list(arr.shape)
        ax = int(rng.integers(arr.ndim))
        shape[ax] = max(0, shape[ax] + int(rng.choice([-2, -1, 1, 3])))
        return rng.standard_normal(shape).astype(arr.dtype)
    if how in ("nan", "inf"):
        out = np.array(arr, dtype=arr.dtype if arr.dtype.kind == "f" else np.float64, copy=True)
        if out.size:
            out.flat[int(rng.integers(out.size))] = np.nan if how == "nan" else -np.inf
        return out
    if how == "none":
        return None
    if how == "string":
        return "abc"
    if how == "list_of_str":
        return ["a", "b"]
    if how == "scalar":
        return 1.5
    raise AssertionError(how)


def maybe_spoil(data, name: str, arr: np.ndarray, sp: Spoiled, *, other_float_ok=True, p_garbage=0.4,
                p_layout=0.6):
    """Decide whether and how to spoil one array argument; return what to pass."""
    if sp.chance("garbage", p_garbage):
        how = sp.pick(GARBAGE_ARRAY)
        sp.mark("garbage", f"{name}:{how}")
        if how in ("nan", "inf"):
            sp.nonfinite = True
        return garbage_array(arr, how, sp.rng)
    if sp.chance("layout", p_layout):
        how = sp.pick(LAYOUTS)
        v = layout_variant(arr, how, other_float_ok)
        if v is not arr:
            sp.mark("layout", f"{name}:{how}")
        return v
    return arr


INT_GARBAGE = (0, -1, -7, 2.5, float("nan"), True, None, "2", 10 ** 6, 2 ** 70, np.float64(2.0), [2])


def maybe_spoil_int(data, name: str, value: int, sp: Spoiled, p=0.25):
    if sp.chance("garbage", p):
        bad = sp.pick(INT_GARBAGE)
        sp.mark("garbage", f"{name}={bad!r}")
        return bad
    if sp.rng.random() < 0.3:
        return np.int64(value)
    return value


FLOAT_GARBAGE = (float("nan"), float("inf"), -1.0, 0.0, 1.0, 1e300, None, "0.1", True, [0.1], -1e-300)


def maybe_spoil_float(data, name: str, value: float, sp: Spoiled, p=0.2):
    if sp.chance("garbage", p):
        bad = sp.pick(FLOAT_GARBAGE)
        sp.mark("garbage", f"{name}={bad!r}")
        return bad
    return value


# ---------------------------------------------------------------------------------------------
# running and classifying one case
# ---------------------------------------------------------------------------------------------

def _snapshot(args):
    snaps = []
    for a in args:
        if isinstance(a, np.ndarray):
            snaps.append((a, a.copy()))
        elif isinstance(a, dict):
            snaps.extend(_snapshot(list(a.values())))
    return snaps


def _unchanged(snaps) -> bool:
    for a, before in snaps:
        if a.shape != before.shape:
            return False
        if a.dtype.kind in "fc":
            if not np.array_equal(a, before, equal_nan=True):
                return False
        elif a.dtype.kind == "O":
            if not all(x is y or x == y or (x != x and y != y) for x, y in zip(a.ravel(), before.ravel())):
                return False
        elif not np.array_equal(a, before):
            return False
    return True


def _finite(out) -> bool:
    for o in out:
        if o is None:
            continue
        a = np.asarray(o)
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            return False
    return True


def _same(a, b) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if not np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
            return False
    return True


def _record(target: str, outcome: str, detail: str | None = None):
    counts = RESULTS.setdefault(target, {"ok": 0, "ValueError": 0, "TypeError": 0, "bad": 0})
    counts[outcome] = counts.get(outcome, 0) + 1
    if outcome == "bad" and len(BAD) < MAX_BAD_REPORTED:
        BAD.append(f"{target}: {detail}")


def run_case(target: str, sp: Spoiled, call, args, *, canonical_call=None, shapes=None, mutates=()):
    """Run ``call()`` (which uses ``args``), classify the outcome, and record it.

    ``canonical_call``: for a layout-only change, the same call on C-contiguous
    arrays of the same values; its result must equal ``call()``'s.
    ``shapes``: expected shapes of the outputs of an accepted call (None to skip an entry).
    ``mutates``: indices into ``args`` of arguments that may legitimately be written.
    """
    snaps = _snapshot([a for i, a in enumerate(args) if i not in mutates])
    desc = f"[{sp.kind}: {', '.join(sp.what) or '-'}]"
    try:
        out = call()
    except (ValueError, TypeError) as exc:
        if not str(exc).strip():
            _record(target, "bad", f"{desc} empty {type(exc).__name__} message")
        elif sp.kind != "garbage":
            _record(target, "bad", f"{desc} valid input refused: {type(exc).__name__}: {exc}")
        else:
            _record(target, type(exc).__name__)
        if not _unchanged(snaps):
            _record(target, "bad", f"{desc} an input was changed by a refused call")
        return
    except MemoryError as exc:
        # a garbage geometry (say pad=10**6) can ask for terabytes: NumPy's refusal is a clean, clear error
        if sp.kind != "garbage" or not str(exc).strip():
            _record(target, "bad", f"{desc} MemoryError: {exc}")
        else:
            _record(target, "MemoryError")
        return
    except Exception as exc:  # noqa: BLE001 - classifying is the point
        tb = traceback.format_exc(limit=3).strip().splitlines()[-3:]
        _record(target, "bad", f"{desc} unexpected {type(exc).__name__}: {exc} | {' / '.join(tb)}")
        return
    if not _unchanged(snaps):
        _record(target, "bad", f"{desc} an input array was written through")
        return
    out = list(out) if isinstance(out, (list, tuple)) else [out]
    if shapes is not None and sp.kind != "garbage":
        got = [np.shape(o) for o in out]
        want = [s if s is not None else g for s, g in zip(shapes, got)]
        if got != want:
            _record(target, "bad", f"{desc} output shapes {got}, expected {want}")
            return
    if not sp.nonfinite and sp.kind != "garbage" and not _finite(out):
        _record(target, "bad", f"{desc} non-finite output from finite input")
        return
    if sp.kind == "layout" and canonical_call is not None:
        try:
            ref = canonical_call()
        except Exception as exc:  # noqa: BLE001
            _record(target, "bad", f"{desc} canonical call failed: {type(exc).__name__}: {exc}")
            return
        ref = list(ref) if isinstance(ref, (list, tuple)) else [ref]
        if not _same(out, ref):
            _record(target, "bad", f"{desc} result differs from the C-contiguous input's")
            return
    _record(target, "ok")


# ---------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------

DTYPES = st.sampled_from([np.float32, np.float64])


def draw_array(data, shape, dtype, label, scale=3.0):
    seed = data.draw(st.integers(0, 2 ** 32 - 1), label=f"{label} seed")
    a = np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale)
    if dtype == np.float32 or dtype == np.dtype(np.float32):
        # float32-exact values, so a float64 copy converts back exactly (layout "other_float")
        return a.astype(np.float32).astype(dtype)
    return a.astype(np.float32).astype(dtype)


dims = st.integers(1, 5)


# ---------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------

TARGETS = {}


def target(name):
    def deco(fn):
        TARGETS[name] = fn
        return fn
    return deco


@target("relu_sigmoid")
def t_activation(data):
    from fastnn.layers import Relu, Sigmoid
    cls = data.draw(st.sampled_from([Relu, Sigmoid]), label="layer")
    shape = tuple(data.draw(st.lists(st.integers(0, 5), min_size=1, max_size=4), label="shape"))
    dt = data.draw(DTYPES, label="dtype")
    sp = Spoiled(data)
    x0 = draw_array(data, shape, dt, "x")
    d0 = draw_array(data, shape, dt, "dout")
    x = maybe_spoil(data, "x", x0, sp, other_float_ok=False)
    dout = maybe_spoil(data, "dout", d0, sp, other_float_ok=False)

    def call(x=x, dout=dout):
        layer = cls()
        y = layer.forward(x)
        return y, layer.backward(dout)

    run_case(cls.__name__, sp, call, [x, dout], canonical_call=lambda: call(x0, d0), shapes=[shape, shape])


@target("affine")
def t_affine(data):
    from fastnn.layers import Affine
    n, m = data.draw(dims, label="N"), data.draw(dims, label="M")
    feat = tuple(data.draw(st.lists(dims, min_size=1, max_size=3), label="feature dims"))
    d = int(np.prod(feat))
    dt = data.draw(DTYPES, label="dtype")
    sp = Spoiled(data)
    W = draw_array(data, (d, m), dt, "W")
    b = draw_array(data, (m,), dt, "b")
    x0 = draw_array(data, (n,) + feat, dt, "x")
    d0 = draw_array(data, (n, m), dt, "dout")
    x = maybe_spoil(data, "x", x0, sp)
    dout = maybe_spoil(data, "dout", d0, sp)
    Wc, bc = W.copy(), b.copy()
    Wg = maybe_spoil(data, "W", W, sp, p_layout=0.0, p_garbage=0.1)
    bg = maybe_spoil(data, "b", b, sp, p_layout=0.0, p_garbage=0.1)

    def call(x=x, dout=dout, W=Wg, b=bg):
        layer = Affine(W, b)
        y = layer.forward(x)
        return y, layer.backward(dout), layer.dW, layer.db

    run_case("Affine", sp, call, [x, dout, Wg, bg], canonical_call=lambda: call(x0, d0, Wc, bc),
             shapes=[(n, m), (n,) + feat, (d, m), (m,)])


@target("softmax_with_loss")
def t_softmax_loss(data):
    from fastnn.layers import SoftmaxWithLoss
    n, c = data.draw(dims, label="N"), data.draw(st.integers(1, 6), label="C")
    dt = data.draw(DTYPES, label="dtype")
    one_sample = data.draw(st.booleans(), label="1-D x") and n == 1
    sp = Spoiled(data)
    x0 = draw_array(data, (c,) if one_sample else (n, c), dt, "x", scale=data.draw(st.sampled_from([1.0, 1e3])))
    # (with C == 1 an (N, 1) target is read as labels, not one-hot: only labels are drawn there)
    form = data.draw(st.sampled_from(["labels", "column", "onehot", "probs"] if c > 1 else ["labels"]),
                     label="t form")
    lab = np.random.default_rng(data.draw(st.integers(0, 99), label="t seed")).integers(0, c, n)
    if form == "labels":
        t0 = lab
    elif form == "column":
        t0 = lab.reshape(n, 1)
    elif form == "onehot":
        t0 = np.eye(c, dtype=dt)[lab]
    else:
        p = np.abs(draw_array(data, (n, c), np.float64, "p")) + 0.1
        t0 = (p / p.sum(axis=1, keepdims=True)).astype(dt)
    if one_sample and form in ("onehot", "probs"):
        t0 = t0.reshape(c)
    x = maybe_spoil(data, "x", x0, sp, other_float_ok=False)
    t = t0
    if sp.chance("garbage", 0.4):
        how = data.draw(st.sampled_from(["huge", "negative", "c", "float_frac", "nan_label", "str", "object",
                                         "wrong_n", "2d_wrong", "none", "empty"]), label="t garbage")
        sp.mark("garbage", f"t:{how}")
        t = {"huge": np.full(n, 2 ** 62), "negative": np.full(n, -1), "c": np.full(n, c),
             "float_frac": np.full(n, 0.5), "nan_label": np.full(n, np.nan), "str": np.array(["0"] * n),
             "object": np.array([0] * n, dtype=object), "wrong_n": np.zeros(n + 1, dtype=int),
             "2d_wrong": np.zeros((n, c + 1)), "none": None, "empty": np.zeros(0, dtype=int)}[how]
    dscale = maybe_spoil_float(data, "dout", 1.0, sp)

    def call(x=x, t=t):
        layer = SoftmaxWithLoss()
        loss = layer.forward(x, t)
        return loss, layer.backward(dscale), layer.y

    run_case("SoftmaxWithLoss", sp, call, [x, t], canonical_call=lambda: call(x0, t0),
             shapes=[(), x0.shape, x0.shape])


@target("batchnorm")
def t_batchnorm(data):
    from fastnn.layers import BatchNormalization
    dt = data.draw(DTYPES, label="dtype")
    four = data.draw(st.booleans(), label="4-D")
    n = data.draw(st.integers(1, 4), label="N")
    if four:
        c, h, w = (data.draw(st.integers(1, 3), label=k) for k in "chw")
        shape = (n, c, h, w)
        size = data.draw(st.sampled_from([c, c * h * w]), label="gamma size")
    else:
        size = data.draw(dims, label="D")
        shape = (n, size)
    sp = Spoiled(data)
    const = data.draw(st.booleans(), label="constant input")
    x0 = np.full(shape, 3.25, dtype=dt) if const else draw_array(data, shape, dt, "x")
    d0 = draw_array(data, shape, dt, "dout")
    gamma = draw_array(data, (size,), dt, "gamma")
    beta = draw_array(data, (size,), dt, "beta")
    x = maybe_spoil(data, "x", x0, sp)
    dout = maybe_spoil(data, "dout", d0, sp)
    train = data.draw(st.booleans(), label="train_flg")
    momentum = maybe_spoil_float(data, "momentum", data.draw(st.sampled_from([0.0, 0.5, 0.9])), sp)
    g_in = maybe_spoil(data, "gamma", gamma, sp, p_layout=0.0, p_garbage=0.1)

    def call(x=x, dout=dout, g=g_in):
        layer = BatchNormalization(g.copy() if isinstance(g, np.ndarray) else g, beta.copy(), momentum=momentum)
        y = layer.forward(x, train_flg=train)
        return y, layer.backward(dout), layer.dgamma, layer.dbeta, layer.running_mean, layer.running_var

    run_case("BatchNormalization", sp, call, [x, dout, g_in], canonical_call=lambda: call(x0, d0, gamma),
             shapes=[shape, shape, (size,), (size,), (size,), (size,)])


@target("dropout")
def t_dropout(data):
    from fastnn.layers import Dropout
    shape = tuple(data.draw(st.lists(st.integers(0, 5), min_size=1, max_size=4), label="shape"))
    dt = data.draw(DTYPES, label="dtype")
    sp = Spoiled(data)
    x0 = draw_array(data, shape, dt, "x")
    d0 = draw_array(data, shape, dt, "dout")
    x = maybe_spoil(data, "x", x0, sp, other_float_ok=False)
    dout = maybe_spoil(data, "dout", d0, sp, other_float_ok=False)
    ratio = maybe_spoil_float(data, "dropout_ratio", data.draw(st.sampled_from([0.0, 0.3, 0.5, 0.99])), sp)
    seed = data.draw(st.integers(0, 2 ** 32), label="seed")
    if sp.chance("garbage", 0.1):
        seed = data.draw(st.sampled_from([-1, "1", 1.5, True]), label="bad seed")
        sp.mark("garbage", f"seed={seed!r}")
    train = data.draw(st.booleans(), label="train_flg")

    def call(x=x, dout=dout):
        layer = Dropout(ratio, seed=seed)
        y = layer.forward(x, train_flg=train)
        return y, layer.backward(dout)

    run_case("Dropout", sp, call, [x, dout], canonical_call=lambda: call(x0, d0), shapes=[shape, shape])


def _window(data, h, w, label):
    fh = data.draw(st.integers(1, h), label=f"{label} h")
    fw = data.draw(st.integers(1, w), label=f"{label} w")
    return fh, fw


def _draw_conv_geometry(data):
    """(dtype, N, C, FN, H, W, pad, stride, FH, FW, OH, OW) of a valid convolution."""
    dt = data.draw(DTYPES, label="dtype")
    n, c, fn = (data.draw(st.integers(1, 3), label=k) for k in ("N", "C", "FN"))
    h, w = data.draw(st.integers(1, 8), label="H"), data.draw(st.integers(1, 8), label="W")
    pad = data.draw(st.integers(0, 2), label="pad")
    stride = data.draw(st.integers(1, 3), label="stride")
    fh = data.draw(st.integers(1, h + 2 * pad), label="FH")
    fw = data.draw(st.integers(1, w + 2 * pad), label="FW")
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    return dt, n, c, fn, h, w, pad, stride, fh, fw, oh, ow


@target("convolution")
def t_conv(data):
    from fastnn import reference as ref
    from fastnn.layers import Convolution
    dt, n, c, fn, h, w, pad, stride, fh, fw, oh, ow = _draw_conv_geometry(data)
    sp = Spoiled(data)
    W = draw_array(data, (fn, c, fh, fw), dt, "W")
    b = draw_array(data, (fn,), dt, "b")
    x0 = draw_array(data, (n, c, h, w), dt, "x")
    d0 = draw_array(data, (n, fn, oh, ow), dt, "dout")
    x = maybe_spoil(data, "x", x0, sp)
    dout = maybe_spoil(data, "dout", d0, sp)
    s_in = maybe_spoil_int(data, "stride", stride, sp)
    p_in = maybe_spoil_int(data, "pad", pad, sp)
    # (W in the other float dtype would not match b's: a refusal, not a layout change)
    W_in = maybe_spoil(data, "W", W, sp, p_layout=0.1, p_garbage=0.1, other_float_ok=False)

    def call(x=x, dout=dout, W=W_in):
        layer = Convolution(W, b, stride=s_in, pad=p_in)
        y = layer.forward(x)
        return y, layer.backward(dout), layer.dW, layer.db

    run_case("Convolution", sp, call, [x, dout, W_in, b], canonical_call=lambda: call(x0, d0, W),
             shapes=[(n, fn, oh, ow), (n, c, h, w), W.shape, (fn,)])
    if sp.kind == "clean":  # against the NumPy twin as well
        y = Convolution(W, b, stride, pad).forward(x0)
        y_ref = ref.conv_forward(x0, W, b, stride, pad)[0]
        tol = 1e-4 if dt == np.float32 else 1e-10
        if not np.allclose(y, y_ref, rtol=tol, atol=tol * max(1.0, float(np.abs(y_ref).max()))):
            _record("Convolution", "bad", f"differs from reference: x {x0.shape} W {W.shape} s{stride} p{pad}")


@target("pooling")
def t_pool(data):
    from fastnn import reference as ref
    from fastnn.layers import Pooling
    dt = data.draw(DTYPES, label="dtype")
    mode = data.draw(st.sampled_from(["max", "avg"]), label="mode")
    n, c = data.draw(st.integers(1, 3), label="N"), data.draw(st.integers(1, 3), label="C")
    h, w = data.draw(st.integers(1, 8), label="H"), data.draw(st.integers(1, 8), label="W")
    ph = data.draw(st.integers(1, h + 2), label="ph")
    pw = data.draw(st.integers(1, w + 2), label="pw")
    pad = data.draw(st.integers(0, min(ph, pw) - 1), label="pad")
    if ph > h + 2 * pad or pw > w + 2 * pad:
        pad = min(ph, pw) - 1
        if ph > h + 2 * pad or pw > w + 2 * pad:
            ph, pw, pad = min(ph, h), min(pw, w), 0
    stride = data.draw(st.integers(1, 3), label="stride")
    oh, ow = (h + 2 * pad - ph) // stride + 1, (w + 2 * pad - pw) // stride + 1
    sp = Spoiled(data)
    x0 = draw_array(data, (n, c, h, w), dt, "x")
    d0 = draw_array(data, (n, c, oh, ow), dt, "dout")
    x = maybe_spoil(data, "x", x0, sp, other_float_ok=False)
    dout = maybe_spoil(data, "dout", d0, sp, other_float_ok=False)
    ph_in = maybe_spoil_int(data, "pool_h", ph, sp)
    s_in = maybe_spoil_int(data, "stride", stride, sp)
    p_in = maybe_spoil_int(data, "pad", pad, sp)

    def call(x=x, dout=dout):
        layer = Pooling(ph_in, pw, stride=s_in, pad=p_in, mode=mode)
        y = layer.forward(x)
        return y, layer.backward(dout)

    run_case(f"Pooling-{mode}", sp, call, [x, dout], canonical_call=lambda: call(x0, d0),
             shapes=[(n, c, oh, ow), (n, c, h, w)])
    if sp.kind == "clean":
        fwd = ref.max_pool_forward if mode == "max" else ref.avg_pool_forward
        y_ref = fwd(x0, ph, pw, stride, pad)
        y_ref = y_ref[0] if isinstance(y_ref, tuple) else y_ref
        y = Pooling(ph, pw, stride, pad, mode).forward(x0)
        tol = 1e-5 if dt == np.float32 else 1e-12
        if y.shape != y_ref.shape or not np.allclose(y, y_ref, rtol=tol, atol=tol):
            _record(f"Pooling-{mode}", "bad", f"differs from reference: x {x0.shape} {ph}x{pw} s{stride} p{pad}")


@target("conv_relu_pool")
def t_conv_relu_pool(data):
    from fastnn.layers import Convolution, Pooling, Relu
    from fastnn.layers.fused import ConvReluPool
    dt, n, c, fn, h, w, pad, stride, fh, fw, oh, ow = _draw_conv_geometry(data)
    with_pool = data.draw(st.booleans(), label="pool")
    ph, pw = data.draw(st.integers(1, oh), label="ph"), data.draw(st.integers(1, ow), label="pw")
    pool_pad = data.draw(st.integers(0, min(ph, pw) - 1), label="pool pad")
    pool_stride = data.draw(st.integers(1, 3), label="pool stride")
    mode = data.draw(st.sampled_from(["max", "max", "avg"]), label="mode")   # avg: the stage runs unfused
    if with_pool:
        out_shape = (n, fn, (oh + 2 * pool_pad - ph) // pool_stride + 1, (ow + 2 * pool_pad - pw) // pool_stride + 1)
    else:
        out_shape = (n, fn, oh, ow)
    sp = Spoiled(data)
    W = draw_array(data, (fn, c, fh, fw), dt, "W")
    b = draw_array(data, (fn,), dt, "b")
    x0 = draw_array(data, (n, c, h, w), dt, "x")
    d0 = draw_array(data, out_shape, dt, "dout")
    x = maybe_spoil(data, "x", x0, sp)
    dout = maybe_spoil(data, "dout", d0, sp)
    p_in = maybe_spoil_int(data, "pad", pad, sp)
    ph_in = maybe_spoil_int(data, "pool_h", ph, sp)

    def layers(pad=p_in, ph=ph_in):
        pool = Pooling(ph, pw, stride=pool_stride, pad=pool_pad, mode=mode) if with_pool else None
        return Convolution(W, b, stride=stride, pad=pad), Relu(), pool

    def call(x=x, dout=dout):
        stage = ConvReluPool(*layers())
        y = stage.forward(x)
        return y, stage.backward(dout), stage.conv.dW, stage.conv.db

    run_case("ConvReluPool", sp, call, [x, dout, W, b], canonical_call=lambda: call(x0, d0),
             shapes=[out_shape, (n, c, h, w), W.shape, (fn,)])
    if sp.kind == "clean":  # bit-identical to the layers one after the other
        conv, relu, pool = layers(pad, ph)
        one_by_one = [layer for layer in (conv, relu, pool) if layer is not None]
        y = x0
        for layer in one_by_one:
            y = layer.forward(y)
        d = d0
        for layer in reversed(one_by_one):
            d = layer.backward(d)
        y_fused, d_fused, dW, db = call(x0, d0)
        if not all(map(_same, (y, d, conv.dW, conv.db), (y_fused, d_fused, dW, db))):
            _record("ConvReluPool", "bad", f"differs from the layers in turn: x {x0.shape} W {W.shape} p{pad} "
                                           f"pool {with_pool} {mode} {ph}x{pw} s{pool_stride} p{pool_pad}")


@target("im2col_col2im")
def t_im2col(data):
    from fastnn import reference as ref
    from fastnn.util import col2im, im2col
    dt = data.draw(DTYPES, label="dtype")
    n, c = data.draw(st.integers(1, 3), label="N"), data.draw(st.integers(1, 3), label="C")
    h, w = data.draw(st.integers(1, 7), label="H"), data.draw(st.integers(1, 7), label="W")
    pad = data.draw(st.integers(0, 2), label="pad")
    stride = data.draw(st.integers(1, 3), label="stride")
    fh = data.draw(st.integers(1, h + 2 * pad), label="FH")
    fw = data.draw(st.integers(1, w + 2 * pad), label="FW")
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    sp = Spoiled(data)
    x0 = draw_array(data, (n, c, h, w), dt, "x")
    col0 = draw_array(data, (n * oh * ow, c * fh * fw), dt, "col")
    x = maybe_spoil(data, "input_data", x0, sp, other_float_ok=False)
    col = maybe_spoil(data, "col", col0, sp, other_float_ok=False)
    fh_in = maybe_spoil_int(data, "filter_h", fh, sp)
    s_in = maybe_spoil_int(data, "stride", stride, sp)
    p_in = maybe_spoil_int(data, "pad", pad, sp)
    shape_in = (n, c, h, w)
    if sp.chance("garbage", 0.2):
        shape_in = data.draw(st.sampled_from([(n, c, h), (n, c, h, w, 1), (n, c, 0, w), (n, -c, h, w),
                                              (n, c, h + 5, w), "abc", None, (n, c, h, 2.5)]), label="bad shape")
        sp.mark("garbage", f"input_shape={shape_in!r}")

    def call(x=x, col=col):
        return im2col(x, fh_in, fw, s_in, p_in), col2im(col, shape_in, fh_in, fw, s_in, p_in)

    run_case("im2col/col2im", sp, call, [x, col], canonical_call=lambda: call(x0, col0),
             shapes=[(n * oh * ow, c * fh * fw), (n, c, h, w)])
    if sp.kind == "clean":
        tol = 1e-5 if dt == np.float32 else 1e-12
        if not np.allclose(im2col(x0, fh, fw, stride, pad), ref.im2col(x0, fh, fw, stride, pad), atol=tol) or \
                not np.allclose(col2im(col0, shape_in, fh, fw, stride, pad),
                                ref.col2im(col0, shape_in, fh, fw, stride, pad), rtol=tol, atol=tol * 10):
            _record("im2col/col2im", "bad", f"differs from reference: {shape_in} {fh}x{fw} s{stride} p{pad}")


@target("functions")
def t_functions(data):
    from fastnn import functions as F
    name = data.draw(st.sampled_from(["sigmoid", "relu", "softmax", "step_function", "sigmoid_grad",
                                      "relu_grad", "sum_squared_error", "cross_entropy_error",
                                      "softmax_loss"]), label="function")
    dt = data.draw(DTYPES, label="dtype")
    n, c = data.draw(dims, label="N"), data.draw(dims, label="C")
    sp = Spoiled(data)
    scale = data.draw(st.sampled_from([1.0, 50.0, 1e4]), label="scale")
    if name in ("cross_entropy_error",):
        raw = np.abs(draw_array(data, (n, c), dt, "y")) + dt(0.01)
        x0 = (raw / raw.sum(axis=1, keepdims=True)).astype(dt)
    else:
        x0 = draw_array(data, (n, c), dt, "x", scale=scale)
    x = maybe_spoil(data, "x", x0, sp, other_float_ok=False)
    fn = getattr(F, name)
    if name in ("cross_entropy_error", "softmax_loss"):
        t0 = np.random.default_rng(data.draw(st.integers(0, 99), label="t seed")).integers(0, c, n)
        t = t0
        if sp.chance("garbage", 0.4):
            t = data.draw(st.sampled_from([np.full(n, c), np.full(n, -1), np.full(n, 2 ** 63 - 1),
                                           np.zeros(n + 1, int), np.full(n, 0.5), np.full(n, np.nan),
                                           np.array(["a"] * n), None, np.zeros((n, c + 1))]), label="bad t")
            sp.mark("garbage", "t")
        call = lambda x=x, t=t: fn(x, t)  # noqa: E731
        canon = lambda: fn(x0, t0)  # noqa: E731
        shapes = [()]
        args = [x, t]
    elif name == "sum_squared_error":
        t0 = draw_array(data, (n, c), dt, "t")
        t = maybe_spoil(data, "t", t0, sp, other_float_ok=False)
        call = lambda x=x, t=t: fn(x, t)  # noqa: E731
        canon = lambda: fn(x0, t0)  # noqa: E731
        shapes = [()]
        args = [x, t]
    else:
        call = lambda x=x: fn(x)  # noqa: E731
        canon = lambda: fn(x0)  # noqa: E731
        shapes = [(n, c)]
        args = [x]
    run_case(f"functions.{name}", sp, call, args, canonical_call=canon, shapes=shapes)


@target("optimizers")
def t_optimizers(data):
    from fastnn import optimizer as O
    name = data.draw(st.sampled_from(["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]), label="opt")
    dt = data.draw(DTYPES, label="dtype")
    sp = Spoiled(data)
    lr = maybe_spoil_float(data, "lr", 0.01, sp, p=0.05)
    shapes = data.draw(st.lists(st.lists(st.integers(1, 4), max_size=3), min_size=1, max_size=3), label="shapes")
    params, grads, params0 = {}, {}, {}
    for i, shp in enumerate(shapes):
        p = draw_array(data, tuple(shp), dt, f"p{i}")
        params0[f"k{i}"] = p.copy()
        params[f"k{i}"] = p
        zero = data.draw(st.booleans(), label="zero grad")
        g = np.zeros(tuple(shp), dt) if zero else draw_array(data, tuple(shp), dt, f"g{i}")
        grads[f"k{i}"] = maybe_spoil(data, f"grads[k{i}]", g, sp)
    if sp.chance("garbage", 0.15):
        grads = dict(grads)
        grads["extra"] = np.zeros(2)
        sp.mark("garbage", "extra key")
    if sp.chance("garbage", 0.15):
        how = data.draw(st.sampled_from(["int", "readonly", "str", "object"]), label="param garbage")
        p = params["k0"]
        params["k0"] = {"int": p.astype(np.int64), "str": "x", "object": p.astype(object),
                        "readonly": np.broadcast_to(p, p.shape)}[how]
        sp.mark("garbage", f"params[k0]:{how}")

    def call():
        opt = getattr(O, name)(lr=lr)
        for _ in range(3):
            opt.update(params, grads)
        return list(params.values())

    run_case(f"optimizer.{name}", sp, call, [params, grads], shapes=None, mutates=(0,))


@target("util")
def t_util(data):
    from fastnn import util as U
    which = data.draw(st.sampled_from(["conv_output_size", "shuffle_dataset", "smooth_curve"]), label="fn")
    sp = Spoiled(data)
    if which == "conv_output_size":
        size, f = data.draw(st.integers(1, 30), label="size"), data.draw(st.integers(1, 30), label="f")
        s, p = data.draw(st.integers(1, 4), label="s"), data.draw(st.integers(0, 3), label="p")
        args = [maybe_spoil_int(data, k, v, sp, p=0.1) for k, v in
                (("input_size", size), ("filter_size", f), ("stride", s), ("pad", p))]
        fits = size + 2 * p >= f and (size + 2 * p - f) % s == 0
        if not fits:
            sp.mark("garbage", "geometry that does not fit")
        run_case("util.conv_output_size", sp, lambda: U.conv_output_size(*args), [], shapes=[()])
    elif which == "shuffle_dataset":
        n = data.draw(st.integers(1, 6), label="n")
        x0 = draw_array(data, (n, 3), np.float64, "x")
        t0 = np.arange(n)
        x = maybe_spoil(data, "x", x0, sp, other_float_ok=False)
        run_case("util.shuffle_dataset", sp, lambda: U.shuffle_dataset(x, t0, rng=3), [x, t0],
                 canonical_call=lambda: U.shuffle_dataset(x0, t0, rng=3), shapes=None)
    else:
        n = data.draw(st.integers(11, 30), label="n")
        x0 = draw_array(data, (n,), np.float64, "x")
        x = maybe_spoil(data, "x", x0, sp, other_float_ok=False)
        run_case("util.smooth_curve", sp, lambda: U.smooth_curve(x), [x],
                 canonical_call=lambda: U.smooth_curve(x0), shapes=[(n,)])


_NETS = {}


def _net(kind, dt):
    """Small nets, built once per (kind, dtype); each case runs on a fresh copy of the weights."""
    key = (kind, np.dtype(dt).name)
    if key not in _NETS:
        from fastnn import nets
        if kind == "TwoLayerNet":
            net = nets.TwoLayerNet(6, 5, 3, dtype=dt, seed=1)
            in_shape = (6,)
        elif kind == "MultiLayerNetExtend":
            net = nets.MultiLayerNetExtend(6, [5, 4], 3, use_dropout=True, use_batchnorm=True, dtype=dt, seed=1)
            in_shape = (6,)
        else:
            net = nets.SimpleConvNet((1, 6, 6), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1},
                                     hidden_size=4, output_size=3, dtype=dt, seed=1)
            in_shape = (1, 6, 6)
        _NETS[key] = (net, {k: v.copy() for k, v in net.params.items()}, in_shape)
    net, saved, in_shape = _NETS[key]
    for k, v in saved.items():
        net.params[k][...] = v
    return net, in_shape


@target("nets")
def t_nets(data):
    kind = data.draw(st.sampled_from(["TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet"]), label="net")
    dt = data.draw(DTYPES, label="dtype")
    net, in_shape = _net(kind, dt)
    n = data.draw(st.integers(1, 4), label="N")
    sp = Spoiled(data)
    x0 = draw_array(data, (n,) + in_shape, dt, "x")
    t0 = np.random.default_rng(data.draw(st.integers(0, 99), label="t seed")).integers(0, 3, n)
    x = maybe_spoil(data, "x", x0, sp)
    t = t0
    if sp.chance("garbage", 0.4):
        t = data.draw(st.sampled_from([np.full(n, 3), np.full(n, -1), np.full(n, 2 ** 40), np.zeros(n + 1, int),
                                       np.full(n, 0.5), np.array(["a"] * n), None, np.zeros((n, 4))]),
                      label="bad t")
        sp.mark("garbage", "t")
    method = data.draw(st.sampled_from(["predict", "loss", "accuracy", "gradient"]), label="method")

    def call(x=x, t=t):
        if method == "predict":
            return net.predict(x)
        if method == "loss":
            return net.loss(x, t)
        if method == "accuracy":
            return net.accuracy(x, t)
        return list(net.gradient(x, t).values())

    def canon():
        _net(kind, dt)  # same weights (and the same Dropout stream is not guaranteed: compare predict only)
        return call(x0, t0)

    expected = {"predict": [(n, 3)], "loss": [()], "accuracy": [()], "gradient": None}[method]
    run_case(f"nets.{kind}.{method}", sp, call, [x, t],
             canonical_call=canon if method in ("predict", "accuracy") else None, shapes=expected)


# ---------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=int(os.environ.get("FASTNN_FUZZ_EXAMPLES", "150")))
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--seed", type=int, default=None,
                        help="hypothesis seed (default: derandomized, the same cases every run)")
    args = parser.parse_args(argv)
    np.seterr(all="ignore")  # warnings are not failures here; non-finite outputs are checked explicitly
    seconds = {}
    for name in args.targets.split(","):
        t0 = time.perf_counter()
        fn = TARGETS[name]
        cfg = settings(max_examples=args.examples, deadline=None, database=None,
                       derandomize=args.seed is None, phases=[Phase.explicit, Phase.generate],
                       suppress_health_check=list(HealthCheck))
        test = cfg(given(st.data())(fn))
        if args.seed is not None:
            test = hyp_seed(args.seed)(test)
        test()
        seconds[name] = round(time.perf_counter() - t0, 2)
        print(f"{name}: {seconds[name]} s", file=sys.stderr, flush=True)
    total = sum(sum(v for k, v in c.items()) for c in RESULTS.values())
    json.dump({"examples": args.examples, "cases": total, "targets": RESULTS, "bad": BAD, "seconds": seconds,
               "bad_total": sum(c.get("bad", 0) for c in RESULTS.values())}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
