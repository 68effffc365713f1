"""Hypothesis-driven fuzzing of fastnn's public boundary, run in a subprocess by ``tests/test_fuzz.py``.

Usage::

    python tests/fuzz_driver.py [--examples N] [--targets relu_sigmoid,convolution,...] [--seed S]

Prints one JSON object on stdout: ``{"examples", "cases", "targets": {name: {"ok": k, "ValueError": k,
"TypeError": k, "bad": k}}, "bad": [first failures, described], "bad_total", "seconds"}``.

Each target draws a *valid* call (shapes that agree, in-range labels, windows that fit) and then, most
of the time, spoils it: one argument gets the wrong rank, an empty axis, a wrong size, another dtype
(int, bool, complex, float16, object, str), NaN/inf, a bad label, stride, pad or window, or is not an
array at all; or its memory layout changes (Fortran order, a strided view, read-only, a view into a
larger buffer, the other float dtype) while its values stay the same. The ``state`` target runs a
layer's forward, then rebinds what its backward reads (Relu.mask, Pooling.argmax, Convolution.x,
Affine.x, BatchNormalization.xhat, a hyperparameter, ...) to something shorter, longer, of another
dtype or out of range, then runs backward.

What counts as a bad case: ``tests/fuzzing.py``. A crash kills this process: the parent test sees the
signal. Examples per target: ``--examples`` or ``FASTNN_FUZZ_EXAMPLES``.
"""
from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import time

import numpy as np
from fuzzing import (
    BAD,
    DTYPES,
    RESULTS,
    STATE_GARBAGE,
    Spoiled,
    _rebound,
    _record,
    _same,
    draw_array,
    run_case,
    spoil,
    spoil_scalar,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed
from hypothesis import strategies as st

faulthandler.enable()


def draw_conv_geometry(data):
    """(dtype, N, C, FN, H, W, pad, stride, FH, FW, OH, OW) of a valid convolution."""
    dt = data.draw(DTYPES, label="dtype")
    n, c, fn = (data.draw(st.integers(1, 3), label=k) for k in ("N", "C", "FN"))
    h, w = data.draw(st.integers(1, 8), label="H"), data.draw(st.integers(1, 8), label="W")
    pad, stride = data.draw(st.integers(0, 2), label="pad"), data.draw(st.integers(1, 3), label="stride")
    fh, fw = data.draw(st.integers(1, h + 2 * pad), label="FH"), data.draw(st.integers(1, w + 2 * pad), label="FW")
    return dt, n, c, fn, h, w, pad, stride, fh, fw, (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1


def draw_pool_window(data, h, w):
    """(ph, pw, stride, pad) of a pooling window that fits an h x w plane."""
    ph, pw = data.draw(st.integers(1, h), label="ph"), data.draw(st.integers(1, w), label="pw")
    return ph, pw, data.draw(st.integers(1, 3), label="pool stride"), data.draw(st.integers(0, min(ph, pw) - 1),
                                                                               label="pool pad")


def pooled(h, w, ph, pw, stride, pad):
    return (h + 2 * pad - ph) // stride + 1, (w + 2 * pad - pw) // stride + 1


TARGETS = {}


def target(fn):
    TARGETS[fn.__name__.removeprefix("t_")] = fn
    return fn


def layer_case(data, name, make, x0, d0, out_shape, *, forward=(), other_float_ok=True, extra=(), sp=None):
    """Spoil x and dout, run ``make()``'s forward then backward, and classify; returns the Spoiled."""
    sp = sp or Spoiled(data)
    x, dout = spoil("x", x0, sp, other_float_ok=other_float_ok), spoil("dout", d0, sp, other_float_ok=other_float_ok)

    def call(x=x, dout=dout):
        layer = make()
        y = layer.forward(x, *forward)
        return [y, layer.backward(dout)] + [getattr(layer, "d" + p) for p in getattr(layer, "param_names", ())]

    params = [np.shape(getattr(make(), p)) for p in getattr(make(), "param_names", ())] if sp.kind != "garbage" \
        else None
    run_case(name, sp, call, [x, dout, *extra], canonical_call=lambda: call(x0, d0),
             shapes=None if params is None else [out_shape, x0.shape] + params)
    return sp


@target
def t_relu_sigmoid(data):
    from fastnn.layers import Relu, Sigmoid
    cls = data.draw(st.sampled_from([Relu, Sigmoid]), label="layer")
    shape = tuple(data.draw(st.lists(st.integers(0, 5), min_size=1, max_size=4), label="shape"))
    dt = data.draw(DTYPES, label="dtype")
    layer_case(data, cls.__name__, cls, draw_array(data, shape, dt, "x"), draw_array(data, shape, dt, "dout"),
               shape, other_float_ok=False)


@target
def t_affine(data):
    from fastnn.layers import Affine
    n, m, dt = data.draw(st.integers(1, 5), label="N"), data.draw(st.integers(1, 5), label="M"), data.draw(DTYPES)
    feat = tuple(data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3), label="feature dims"))
    sp = Spoiled(data)
    W, b = draw_array(data, (int(np.prod(feat)), m), dt, "W"), draw_array(data, (m,), dt, "b")
    Wg, bg = spoil("W", W, sp, p_layout=0.0, p_garbage=0.1), spoil("b", b, sp, p_layout=0.0, p_garbage=0.1)
    layer_case(data, "Affine", lambda: Affine(Wg, bg), draw_array(data, (n,) + feat, dt, "x"),
               draw_array(data, (n, m), dt, "dout"), (n, m), extra=(Wg, bg), sp=sp)


@target
def t_batchnorm(data):
    from fastnn.layers import BatchNormalization
    dt, n = data.draw(DTYPES, label="dtype"), data.draw(st.integers(1, 4), label="N")
    if data.draw(st.booleans(), label="4-D"):
        c, h, w = (data.draw(st.integers(1, 3), label=k) for k in "chw")
        shape, size = (n, c, h, w), data.draw(st.sampled_from([c, c * h * w]), label="gamma size")
    else:
        size = data.draw(st.integers(1, 5), label="D")
        shape = (n, size)
    sp = Spoiled(data)
    x0 = np.full(shape, 3.25, dtype=dt) if data.draw(st.booleans(), label="const") else draw_array(data, shape, dt, "x")
    gamma, beta = draw_array(data, (size,), dt, "gamma"), draw_array(data, (size,), dt, "beta")
    momentum = spoil_scalar("momentum", data.draw(st.sampled_from([0.0, 0.5, 0.9])), sp, p=0.2)
    eps = spoil_scalar("eps", 1e-6, sp, p=0.1)
    g = spoil("gamma", gamma, sp, p_layout=0.0, p_garbage=0.1)
    train = data.draw(st.booleans(), label="train_flg")
    layer_case(data, "BatchNormalization", lambda: BatchNormalization(
        g.copy() if isinstance(g, np.ndarray) else g, beta.copy(), momentum=momentum, eps=eps),
        x0, draw_array(data, shape, dt, "dout"), shape, forward=(train,), extra=(g,), sp=sp)


@target
def t_dropout(data):
    from fastnn.layers import Dropout
    shape = tuple(data.draw(st.lists(st.integers(0, 5), min_size=1, max_size=4), label="shape"))
    dt = data.draw(DTYPES, label="dtype")
    sp = Spoiled(data)
    ratio = spoil_scalar("dropout_ratio", data.draw(st.sampled_from([0.0, 0.3, 0.5, 0.99])), sp, p=0.2)
    seed = data.draw(st.integers(0, 2 ** 32), label="seed")
    if sp.chance("garbage", 0.1):
        seed = sp.pick([-1, "1", 1.5, True])
        sp.mark("garbage", f"seed={seed!r}")
    layer_case(data, "Dropout", lambda: Dropout(ratio, seed=seed), draw_array(data, shape, dt, "x"),
               draw_array(data, shape, dt, "dout"), shape, forward=(data.draw(st.booleans(), label="train"),),
               other_float_ok=False, sp=sp)


@target
def t_convolution(data):
    from fastnn.layers import Convolution
    from fastnn.layers.conv import ALGORITHMS
    dt, n, c, fn, h, w, pad, stride, fh, fw, oh, ow = draw_conv_geometry(data)
    sp = Spoiled(data)
    W, b = draw_array(data, (fn, c, fh, fw), dt, "W"), draw_array(data, (fn,), dt, "b")
    s_in, p_in = spoil_scalar("stride", stride, sp), spoil_scalar("pad", pad, sp)
    W_in = spoil("W", W, sp, p_layout=0.1, p_garbage=0.1, other_float_ok=False)   # (b would not match)
    algorithm = data.draw(st.sampled_from(ALGORITHMS), label="algorithm")

    def make():
        layer = Convolution(W_in, b, stride=s_in, pad=p_in)
        layer.algorithm = algorithm
        return layer

    layer_case(data, "Convolution", make,
               draw_array(data, (n, c, h, w), dt, "x"), draw_array(data, (n, fn, oh, ow), dt, "dout"),
               (n, fn, oh, ow), extra=(W_in, b), sp=sp)


@target
def t_pooling(data):
    from fastnn.layers import Pooling
    dt, mode = data.draw(DTYPES, label="dtype"), data.draw(st.sampled_from(["max", "avg"]), label="mode")
    n, c, h, w = (data.draw(st.integers(1, 3 if k in "NC" else 8), label=k) for k in "NCHW")
    ph, pw, stride, pad = draw_pool_window(data, h, w)
    oh, ow = pooled(h, w, ph, pw, stride, pad)
    sp = Spoiled(data)
    ph_in, s_in, p_in = (spoil_scalar(k, v, sp) for k, v in (("pool_h", ph), ("stride", stride), ("pad", pad)))
    layer_case(data, f"Pooling-{mode}", lambda: Pooling(ph_in, pw, stride=s_in, pad=p_in, mode=mode),
               draw_array(data, (n, c, h, w), dt, "x"), draw_array(data, (n, c, oh, ow), dt, "dout"),
               (n, c, oh, ow), other_float_ok=False, sp=sp)


@target
def t_conv_relu_pool(data):
    """The fused stage: the layers' errors for bad input, and bit for bit the layers in turn for good."""
    from fastnn.layers import Convolution, Pooling, Relu
    from fastnn.layers.conv import ALGORITHMS
    from fastnn.layers.fused import ConvReluPool
    dt, n, c, fn, h, w, pad, stride, fh, fw, oh, ow = draw_conv_geometry(data)
    window = draw_pool_window(data, oh, ow) if data.draw(st.booleans(), label="pool") else None
    out_shape = (n, fn) + (pooled(oh, ow, *window) if window else (oh, ow))
    W, b = draw_array(data, (fn, c, fh, fw), dt, "W"), draw_array(data, (fn,), dt, "b")
    sp = Spoiled(data)
    p_in = spoil_scalar("pad", pad, sp)
    x0, d0 = draw_array(data, (n, c, h, w), dt, "x"), draw_array(data, out_shape, dt, "dout")

    algorithm = data.draw(st.sampled_from(ALGORITHMS), label="algorithm")

    def layers(pad=p_in):
        conv = Convolution(W, b, stride=stride, pad=pad)
        conv.algorithm = algorithm      # every strategy: 'direct' where it covers the geometry, else im2col
        return conv, Relu(), (Pooling(*window) if window else None)

    layer_case(data, "ConvReluPool", lambda: ConvReluPool(*layers()), x0, d0, out_shape, sp=sp)
    if sp.kind == "clean":
        one_by_one = [layer for layer in layers(pad) if layer is not None]
        y, d = x0, d0
        for layer in one_by_one:
            y = layer.forward(y)
        for layer in reversed(one_by_one):
            d = layer.backward(d)
        stage = ConvReluPool(*layers(pad))
        if not _same([y, d], [stage.forward(x0), stage.backward(d0)]):
            _record("ConvReluPool", "bad", f"differs from the layers in turn: x {x0.shape} W {W.shape} {window}")


@target
def t_state(data):
    """State rebound between forward and backward: validated, never trusted (and never a crash)."""
    from fastnn.layers import Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1), label="seed"))
    dt = data.draw(DTYPES, label="dtype")
    n, c, h, w = 2, 2, 6, 6
    x4, x2 = rng.standard_normal((n, c, h, w)).astype(dt), rng.standard_normal((n, 12)).astype(dt)
    conv = lambda: Convolution(rng.standard_normal((3, c, 3, 3)).astype(dt), np.zeros(3, dt))  # noqa: E731
    bn = lambda: BatchNormalization(np.ones(12, dt), np.zeros(12, dt))  # noqa: E731
    cases = {"Relu.mask": (Relu, x2), "Sigmoid.out": (Sigmoid, x2), "Pooling.argmax": (lambda: Pooling(2, 2), x4),
             "Pooling.stride": (lambda: Pooling(2, 2), x4), "Convolution.x": (conv, x4), "Convolution.W": (conv, x4),
             "Affine.x": (lambda: Affine(rng.standard_normal((12, 4)).astype(dt), np.zeros(4, dt)), x2),
             "BatchNormalization.xhat": (bn, x2), "BatchNormalization.inv_std": (bn, x2),
             "BatchNormalization.eps": (bn, x2), "Dropout.mask": (lambda: Dropout(0.5, seed=1), x2),
             "Dropout.dropout_ratio": (lambda: Dropout(0.5, seed=1), x2)}
    name = data.draw(st.sampled_from(sorted(cases)), label="state")
    (make, x), attr = cases[name], name.split(".")[1]
    layer = make()
    how = data.draw(st.sampled_from(STATE_GARBAGE), label="how")
    sp = Spoiled(data)
    sp.kind, sp.what = "garbage", [f"{name}:{how}"]

    def call():
        y = layer.forward(x)
        value = getattr(layer, attr)
        setattr(layer, attr, (-1.0 if how == "out_of_range" else 5) if np.isscalar(value) else
                _rebound(value, how, rng))
        return layer.backward(np.ones_like(y))

    run_case(f"state.{name}", sp, call, [x], errors=(ValueError, TypeError, RuntimeError))


@target
def t_softmax_with_loss(data):
    from fastnn.layers import SoftmaxWithLoss
    n, c, dt = data.draw(st.integers(1, 5), label="N"), data.draw(st.integers(1, 6), label="C"), data.draw(DTYPES)
    one = data.draw(st.booleans(), label="1-D x") and n == 1
    sp = Spoiled(data)
    x0 = draw_array(data, (c,) if one else (n, c), dt, "x", scale=data.draw(st.sampled_from([1.0, 1e3])))
    form = data.draw(st.sampled_from(["labels", "column", "onehot", "probs"] if c > 1 else ["labels"]), label="t")
    lab = np.random.default_rng(data.draw(st.integers(0, 99), label="t seed")).integers(0, c, n)
    p = np.abs(draw_array(data, (n, c), np.float64, "p")) + 0.1
    t0 = {"labels": lab, "column": lab.reshape(n, 1), "onehot": np.eye(c, dtype=dt)[lab],
          "probs": (p / p.sum(axis=1, keepdims=True)).astype(dt)}[form]
    t0 = t0.reshape(c) if one and form in ("onehot", "probs") else t0
    x, t = spoil("x", x0, sp, other_float_ok=False), t0
    if sp.chance("garbage", 0.4):
        t = sp.pick([np.full(n, 2 ** 62), np.full(n, -1), np.full(n, c), np.full(n, 0.5), np.full(n, np.nan),
                     np.array(["0"] * n), np.array([0] * n, dtype=object), np.zeros(n + 1, dtype=int),
                     np.zeros((n, c + 1)), None, np.zeros(0, dtype=int)])
        sp.mark("garbage", "t")
    dscale = spoil_scalar("dout", 1.0, sp, p=0.2)

    def call(x=x, t=t):
        layer = SoftmaxWithLoss()
        return layer.forward(x, t), layer.backward(dscale), layer.y

    run_case("SoftmaxWithLoss", sp, call, [x, t], canonical_call=lambda: call(x0, t0),
             shapes=[(), x0.shape, x0.shape])


@target
def t_im2col_col2im(data):
    from fastnn.util import col2im, im2col
    dt, n, c, _, h, w, pad, stride, fh, fw, oh, ow = draw_conv_geometry(data)
    sp = Spoiled(data)
    x0, col0 = draw_array(data, (n, c, h, w), dt, "x"), draw_array(data, (n * oh * ow, c * fh * fw), dt, "col")
    x, col = spoil("input_data", x0, sp, other_float_ok=False), spoil("col", col0, sp, other_float_ok=False)
    fh_in, s_in, p_in = (spoil_scalar(k, v, sp) for k, v in (("filter_h", fh), ("stride", stride), ("pad", pad)))
    shape_in = (n, c, h, w)
    if sp.chance("garbage", 0.2):
        shape_in = sp.pick([(n, c, h), (n, c, h, w, 1), (n, c, 0, w), (n, -c, h, w), (n, c, h + 5, w), "abc", None])
        sp.mark("garbage", f"input_shape={shape_in!r}")

    def call(x=x, col=col):
        return im2col(x, fh_in, fw, s_in, p_in), col2im(col, shape_in, fh_in, fw, s_in, p_in)

    run_case("im2col/col2im", sp, call, [x, col], canonical_call=lambda: call(x0, col0),
             shapes=[(n * oh * ow, c * fh * fw), (n, c, h, w)])


@target
def t_functions(data):
    from fastnn import functions as F
    name = data.draw(st.sampled_from(["sigmoid", "relu", "softmax", "step_function", "sigmoid_grad", "relu_grad",
                                      "sum_squared_error", "cross_entropy_error", "softmax_loss"]), label="fn")
    dt, n, c = data.draw(DTYPES), data.draw(st.integers(1, 5), label="N"), data.draw(st.integers(1, 5), label="C")
    sp = Spoiled(data)
    x0 = draw_array(data, (n, c), dt, "x", scale=data.draw(st.sampled_from([1.0, 50.0, 1e4])))
    if name == "cross_entropy_error":
        x0 = np.abs(x0) + dt(0.01)
        x0 = (x0 / x0.sum(axis=1, keepdims=True)).astype(dt)
    x, fn, t0 = spoil("x", x0, sp, other_float_ok=False), getattr(F, name), None
    if name in ("cross_entropy_error", "softmax_loss"):
        t0 = t = np.random.default_rng(data.draw(st.integers(0, 99), label="t seed")).integers(0, c, n)
        if sp.chance("garbage", 0.4):
            t = sp.pick([np.full(n, c), np.full(n, -1), np.full(n, 2 ** 63 - 1), np.zeros(n + 1, int),
                         np.full(n, 0.5), np.full(n, np.nan), np.array(["a"] * n), None, np.zeros((n, c + 1))])
            sp.mark("garbage", "t")
    elif name == "sum_squared_error":
        t0 = draw_array(data, (n, c), dt, "t")
        t = spoil("t", t0, sp, other_float_ok=False)
    if t0 is None:
        run_case(f"functions.{name}", sp, lambda: fn(x), [x], canonical_call=lambda: fn(x0), shapes=[(n, c)])
    else:
        run_case(f"functions.{name}", sp, lambda: fn(x, t), [x, t], canonical_call=lambda: fn(x0, t0), shapes=[()])


@target
def t_optimizers(data):
    from fastnn import optimizer
    name = data.draw(st.sampled_from(["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]), label="opt")
    dt = data.draw(DTYPES, label="dtype")
    sp = Spoiled(data)
    lr = spoil_scalar("lr", 0.01, sp, p=0.05)
    params, grads = {}, {}
    for i, shp in enumerate(data.draw(st.lists(st.lists(st.integers(1, 4), max_size=3), min_size=1, max_size=3))):
        params[f"k{i}"] = draw_array(data, tuple(shp), dt, f"p{i}")
        g = np.zeros(tuple(shp), dt) if data.draw(st.booleans(), label="zero") else draw_array(data, tuple(shp), dt, "g")
        grads[f"k{i}"] = spoil(f"grads[k{i}]", g, sp)
    if sp.chance("garbage", 0.15):
        grads = dict(grads, extra=np.zeros(2))
        sp.mark("garbage", "extra key")
    if sp.chance("garbage", 0.15):
        p = params["k0"]
        params["k0"] = sp.pick([p.astype(np.int64), "x", p.astype(object), np.broadcast_to(p, p.shape)])
        sp.mark("garbage", "params[k0]")

    def call():
        opt = getattr(optimizer, name)(lr=lr)
        for _ in range(3):
            opt.update(params, grads)
        return list(params.values())

    run_case(f"optimizer.{name}", sp, call, [params, grads], mutates=(0,))


@target
def t_util(data):
    from fastnn import util
    which = data.draw(st.sampled_from(["conv_output_size", "shuffle_dataset", "smooth_curve"]), label="fn")
    sp = Spoiled(data)
    if which == "conv_output_size":
        size, f, s, p = (data.draw(st.integers(lo, hi), label=k) for k, lo, hi in
                         (("size", 1, 30), ("f", 1, 30), ("s", 1, 4), ("p", 0, 3)))
        args = [spoil_scalar(k, v, sp, p=0.1) for k, v in (("input_size", size), ("filter_size", f),
                                                            ("stride", s), ("pad", p))]
        if not (size + 2 * p >= f and (size + 2 * p - f) % s == 0):
            sp.mark("garbage", "geometry that does not fit")
        run_case("util.conv_output_size", sp, lambda: util.conv_output_size(*args), [], shapes=[()])
        return
    n = data.draw(st.integers(11 if which == "smooth_curve" else 1, 30), label="n")
    x0 = draw_array(data, (n, 3) if which == "shuffle_dataset" else (n,), np.float64, "x")
    x = spoil("x", x0, sp, other_float_ok=False)
    if which == "shuffle_dataset":
        run_case("util.shuffle_dataset", sp, lambda: util.shuffle_dataset(x, np.arange(n), seed=3), [x],
                 canonical_call=lambda: util.shuffle_dataset(x0, np.arange(n), seed=3))
    else:
        run_case("util.smooth_curve", sp, lambda: util.smooth_curve(x), [x],
                 canonical_call=lambda: util.smooth_curve(x0), shapes=[(n,)])


_NETS = {}


@target
def t_nets(data):
    from fastnn import nets
    kind = data.draw(st.sampled_from(["TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet"]), label="net")
    dt = data.draw(DTYPES, label="dtype")
    if (kind, dt) not in _NETS:   # built once; each case starts from the same weights
        net = {"TwoLayerNet": lambda: nets.TwoLayerNet(6, 5, 3, dtype=dt, seed=1),
               "MultiLayerNetExtend": lambda: nets.MultiLayerNetExtend(6, [5, 4], 3, use_dropout=True,
                                                                       use_batchnorm=True, dtype=dt, seed=1),
               "SimpleConvNet": lambda: nets.SimpleConvNet((1, 6, 6), {"filter_num": 2, "filter_size": 3, "pad": 0,
                                                                        "stride": 1}, 4, 3, dtype=dt, seed=1)}[kind]()
        _NETS[kind, dt] = net, {k: v.copy() for k, v in net.params.items()}
    net, saved = _NETS[kind, dt]
    net.params.update(saved)
    n = data.draw(st.integers(1, 4), label="N")
    sp = Spoiled(data)
    x0 = draw_array(data, (n,) + ((1, 6, 6) if kind == "SimpleConvNet" else (6,)), dt, "x")
    t0 = t = np.random.default_rng(data.draw(st.integers(0, 99), label="t seed")).integers(0, 3, n)
    x = spoil("x", x0, sp)
    if sp.chance("garbage", 0.4):
        t = sp.pick([np.full(n, 3), np.full(n, -1), np.full(n, 2 ** 40), np.zeros(n + 1, int), np.full(n, 0.5),
                     np.array(["a"] * n), None, np.zeros((n, 4))])
        sp.mark("garbage", "t")
    method = data.draw(st.sampled_from(["predict", "loss", "accuracy", "gradient"]), label="method")

    def call(x=x, t=t):
        if method == "gradient":
            return list(net.gradient(x, t).values())
        return net.predict(x) if method == "predict" else getattr(net, method)(x, t)

    def canon():
        net.params.update(saved)
        return call(x0, t0)

    run_case(f"nets.{kind}.{method}", sp, call, [x, t],
             canonical_call=canon if method in ("predict", "accuracy") else None,
             shapes={"predict": [(n, 3)], "loss": [()], "accuracy": [()], "gradient": None}[method])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=int(os.environ.get("FASTNN_FUZZ_EXAMPLES", "150")))
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: the same cases every run)")
    args = parser.parse_args(argv)
    np.seterr(all="ignore")  # warnings are not failures here; non-finite outputs are checked explicitly
    seconds = {}
    for name in args.targets.split(","):
        t0 = time.perf_counter()
        test = settings(max_examples=args.examples, deadline=None, database=None, derandomize=args.seed is None,
                        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))(
            given(st.data())(TARGETS[name]))
        (hyp_seed(args.seed)(test) if args.seed is not None else test)()
        seconds[name] = round(time.perf_counter() - t0, 2)
        print(f"{name}: {seconds[name]} s", file=sys.stderr, flush=True)
    json.dump({"examples": args.examples, "cases": sum(sum(c.values()) for c in RESULTS.values()),
               "targets": RESULTS, "bad": BAD, "seconds": seconds,
               "bad_total": sum(c.get("bad", 0) for c in RESULTS.values())}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
