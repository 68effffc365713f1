"""Robustness at the public boundary: memory layouts, numerics at the edges, reproducibility.

1. Input that is Fortran-ordered, a strided view, read-only, a view into a
   larger buffer, or of the other float dtype gives exactly the result of
   its C-contiguous copy (converted once), and the caller's arrays are never
   written through.
2. No NaN/inf from softmax, the cross-entropies, sigmoid, batch norm
   (constant input, a batch of one in training) or Adam with zero gradients.
3. The same seed gives bit-identical weights after N training steps, run to
   run and with 1 or 2 threads (subprocesses), for TwoLayerNet,
   MultiLayerNetExtend with Dropout and BatchNorm, and a small SimpleConvNet;
   Dropout masks come from the seeded generator.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastnn import functions as F
from fastnn.layers import Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid, SoftmaxWithLoss
from fastnn.optimizer import Adam
from fastnn.util import col2im, im2col

# --------------------------------------------------------------------------------------------
# 1. layouts
# --------------------------------------------------------------------------------------------

LAYOUTS = ["fortran", "strided", "readonly", "offset_view", "other_float"]


def relayout(arr, how):
    """``arr``'s values in another layout; 'other_float' gives the other float dtype (exactly representable)."""
    if how == "fortran":
        out = np.asfortranarray(arr)
        assert arr.ndim < 2 or not out.flags.c_contiguous
        return out
    if how == "strided":
        big = np.full(arr.shape[:-1] + (arr.shape[-1] * 3,), 7.0, dtype=arr.dtype)
        big[..., 1::3] = arr
        out = big[..., 1::3]
        assert not out.flags.c_contiguous
        return out
    if how == "readonly":
        out = arr.copy()
        out.flags.writeable = False
        return out
    if how == "offset_view":
        flat = np.full(arr.size + 5, 7.0, dtype=arr.dtype)
        flat[2:-3] = arr.ravel()
        return flat[2:-3].reshape(arr.shape)
    if how == "other_float":
        return arr.astype(np.float64 if arr.dtype == np.float32 else np.float32)
    raise AssertionError(how)


def exact_values(rng, shape, dtype, scale=1.0):
    """Random values exactly representable in float32 (so a dtype round trip keeps them), as ``dtype``."""
    return (rng.standard_normal(shape) * scale).astype(np.float32).astype(dtype)


def _frozen(*arrays):
    return [(a, a.copy()) for a in arrays]


def _assert_untouched(frozen):
    for a, before in frozen:
        np.testing.assert_array_equal(a, before, err_msg="the caller's array was written through")


def _assert_identical(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def _layer_cases(rng, dtype):
    """(name, make_layer, x, dout, forward kwargs, param dtype or None) for every layer."""
    W = exact_values(rng, (12, 5), dtype)
    b = exact_values(rng, (5,), dtype)
    Wc = exact_values(rng, (3, 2, 3, 3), dtype)
    bc = exact_values(rng, (3,), dtype)
    g4 = exact_values(rng, (2,), dtype)
    return [
        ("Relu", Relu, exact_values(rng, (4, 6), dtype), exact_values(rng, (4, 6), dtype), {}, None),
        ("Sigmoid", Sigmoid, exact_values(rng, (4, 6), dtype, 5), exact_values(rng, (4, 6), dtype), {}, None),
        ("Affine", lambda: Affine(W.copy(), b.copy()), exact_values(rng, (4, 3, 4), dtype),
         exact_values(rng, (4, 5), dtype), {}, dtype),
        ("BatchNorm2d", lambda: BatchNormalization(g4[:1].repeat(6) + 1, np.zeros(6, dtype)),
         exact_values(rng, (5, 6), dtype), exact_values(rng, (5, 6), dtype), {"train_flg": True}, dtype),
        ("BatchNormChannel", lambda: BatchNormalization(g4 + 1, np.zeros(2, dtype)),
         exact_values(rng, (3, 2, 4, 5), dtype), exact_values(rng, (3, 2, 4, 5), dtype), {"train_flg": True},
         dtype),
        ("Dropout", lambda: Dropout(0.4, seed=3), exact_values(rng, (4, 6), dtype),
         exact_values(rng, (4, 6), dtype), {"train_flg": True}, None),
        ("Convolution", lambda: Convolution(Wc.copy(), bc.copy(), stride=2, pad=1),
         exact_values(rng, (2, 2, 7, 6), dtype), exact_values(rng, (2, 3, 4, 3), dtype), {}, dtype),
        ("Pooling-max", lambda: Pooling(3, 2, stride=2, pad=1), exact_values(rng, (2, 3, 7, 6), dtype),
         exact_values(rng, (2, 3, 4, 4), dtype), {}, None),
        ("Pooling-avg", lambda: Pooling(2, 3, stride=1, mode="avg"), exact_values(rng, (2, 3, 5, 6), dtype),
         exact_values(rng, (2, 3, 4, 4), dtype), {}, None),
    ]


def _run_layer(make, x, dout, kwargs):
    layer = make()
    y = layer.forward(x, **kwargs)
    dx = layer.backward(dout)
    grads = [getattr(layer, "d" + p) for p in getattr(layer, "param_names", ())]
    return [y, dx] + grads


@pytest.mark.parametrize("how", LAYOUTS)
@pytest.mark.parametrize("which", ["x", "dout"])
def test_layers_give_the_contiguous_result_and_leave_inputs_alone(how, which, dtype):
    rng = np.random.default_rng(7)
    for name, make, x, dout, kwargs, param_dtype in _layer_cases(rng, dtype):
        want_x = x
        want_dout = dout
        x_in = relayout(x, how) if which == "x" else x
        dout_in = relayout(dout, how) if which == "dout" else dout
        if how == "other_float":
            if which == "x" and param_dtype is None:
                # a parameter-free layer computes in its input's dtype: the reference is the input's C copy
                want_x = x_in
                want_dout = dout.astype(x_in.dtype)
        frozen = _frozen(x_in, dout_in)
        try:
            got = _run_layer(make, x_in, dout_in, kwargs)
        except Exception as exc:  # pragma: no cover - a failure message that says which layer
            raise AssertionError(f"{name} refused a {how} {which}: {exc}") from exc
        want = _run_layer(make, np.ascontiguousarray(want_x), np.ascontiguousarray(want_dout), kwargs)
        _assert_untouched(frozen)
        try:
            _assert_identical(got, want)
        except AssertionError as exc:
            raise AssertionError(f"{name} with a {how} {which}: {exc}") from exc


def test_parameter_free_layers_keep_a_float_input_dtype():
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    for layer in (Relu(), Sigmoid(), Dropout(0.5, seed=1), Pooling(2, 2)):
        xx = x.reshape(1, 1, 3, 4) if isinstance(layer, Pooling) else x
        assert layer.forward(xx).dtype == np.float32


def test_layers_with_parameters_compute_in_their_dtype():
    rng = np.random.default_rng(0)
    layer = Affine(rng.standard_normal((4, 3)).astype(np.float32), np.zeros(3, np.float32))
    y = layer.forward(rng.standard_normal((2, 4)))  # float64 in
    assert y.dtype == np.float32
    assert layer.backward(np.ones((2, 3))).dtype == np.float32
    assert layer.dW.dtype == np.float32


@pytest.mark.parametrize("how", LAYOUTS)
def test_softmax_with_loss_and_functions_on_other_layouts(how, dtype):
    rng = np.random.default_rng(3)
    x = exact_values(rng, (5, 4), dtype, 3)
    t = rng.integers(0, 4, 5)
    onehot = np.eye(4, dtype=dtype)[t]
    x_in = relayout(x, how)
    t_in = relayout(onehot, how)
    ref_x = np.ascontiguousarray(x_in)
    frozen = _frozen(x_in, t_in)
    for fn in (F.softmax, F.sigmoid, F.relu, F.step_function, F.relu_grad, F.sigmoid_grad):
        _assert_identical([fn(x_in)], [fn(ref_x)])
    _assert_identical([F.softmax_loss(x_in, t_in)], [F.softmax_loss(ref_x, onehot.astype(ref_x.dtype))])
    probs = F.softmax(ref_x)
    p_in = relayout(probs, how)
    _assert_identical([F.cross_entropy_error(p_in, t)], [F.cross_entropy_error(np.ascontiguousarray(p_in), t)])
    layer, ref_layer = SoftmaxWithLoss(), SoftmaxWithLoss()
    loss = layer.forward(x_in, t_in)
    ref_loss = ref_layer.forward(ref_x, onehot)
    assert loss == ref_loss
    _assert_identical([layer.backward(), layer.y], [ref_layer.backward(), ref_layer.y])
    _assert_untouched(frozen)


@pytest.mark.parametrize("how", ["fortran", "strided", "readonly", "offset_view"])
def test_im2col_col2im_on_other_layouts(how, dtype):
    rng = np.random.default_rng(5)
    x = exact_values(rng, (2, 3, 6, 5), dtype)
    x_in = relayout(x, how)
    col = im2col(x, 3, 2, 2, 1)
    col_in = relayout(col, how)
    frozen = _frozen(x_in, col_in)
    _assert_identical([im2col(x_in, 3, 2, 2, 1)], [col])
    _assert_identical([col2im(col_in, x.shape, 3, 2, 2, 1)], [col2im(col, x.shape, 3, 2, 2, 1)])
    _assert_untouched(frozen)


def test_a_layer_does_not_write_into_the_input_it_keeps():
    """Affine and Convolution keep (a view of) the input for backward; backward must not write into it."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 5, 5))
    keep = x.copy()
    conv = Convolution(rng.standard_normal((4, 2, 3, 3)), np.zeros(4), pad=1)
    conv.backward(np.ones_like(conv.forward(x)))
    aff = Affine(rng.standard_normal((50, 3)), np.zeros(3))
    aff.backward(np.ones_like(aff.forward(x)))
    np.testing.assert_array_equal(x, keep)


@pytest.mark.parametrize("how", ["fortran", "strided", "offset_view"])
def test_optimizers_update_strided_parameters_in_place(how):
    """A parameter that is a view (of a larger buffer, or Fortran-ordered) is updated where it lives."""
    from fastnn.optimizer import SGD
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    p = relayout(p0, how)
    g_in = relayout(g, how)
    g_keep = g_in.copy()
    params = {"W": p}
    SGD(lr=0.5).update(params, {"W": g_in})
    assert params["W"] is p
    np.testing.assert_array_equal(p, p0 - 0.5 * g)
    np.testing.assert_array_equal(g_in, g_keep)


def test_optimizers_refuse_read_only_parameters_and_change_nothing():
    from fastnn.optimizer import Momentum
    p = np.ones(3)
    ro = np.ones(2)
    ro.flags.writeable = False
    opt = Momentum()
    with pytest.raises(ValueError, match="read-only"):
        opt.update({"a": p, "b": ro}, {"a": np.ones(3), "b": np.ones(2)})
    np.testing.assert_array_equal(p, 1.0)
    assert opt.v == {}


# --------------------------------------------------------------------------------------------
# 2. numerics
# --------------------------------------------------------------------------------------------

def test_softmax_and_losses_stay_finite_at_extreme_logits(dtype):
    big = np.finfo(dtype).max / 4
    x = np.array([[big, -big, 0.0], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4], [0.0, 0.0, 0.0]], dtype=dtype)
    t = np.array([1, 2, 0, 2])
    with np.errstate(all="raise"):
        y = F.softmax(x)
        assert np.all(np.isfinite(y))
        np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)
        loss = F.softmax_loss(x[1:], t[1:])
        layer = SoftmaxWithLoss()
        loss2 = layer.forward(x[1:], t[1:])
        dx = layer.backward()
    assert np.isfinite(loss) and np.isfinite(loss2)
    assert np.all(np.isfinite(dx))
    # a probability of exactly 0: the book's +1e-7 keeps cross-entropy finite
    ce = F.cross_entropy_error(np.array([[1.0, 0.0]], dtype=dtype), np.array([1]))
    assert np.isfinite(ce) and ce > 10


def test_sigmoid_is_finite_and_silent_at_extremes(dtype):
    x = np.array([-np.finfo(dtype).max, -1e4, -100, 0, 100, 1e4, np.finfo(dtype).max], dtype=dtype)
    with np.errstate(all="raise"):
        y = F.sigmoid(x)
        layer = Sigmoid()
        y2 = layer.forward(x)
        dx = layer.backward(np.ones_like(x))
        g = F.sigmoid_grad(x)
    for a in (y, y2, dx, g):
        assert np.all(np.isfinite(a))
    assert y[0] == 0 and y[-1] == 1


@pytest.mark.parametrize("shape,size", [((1, 5), 5), ((6, 5), 5), ((1, 2, 3, 3), 2), ((4, 2, 3, 3), 2),
                                        ((1, 2, 3, 3), 18), ((4, 2, 3, 3), 18)])
def test_batchnorm_constant_input_and_batch_of_one_stay_finite(shape, size, dtype):
    gamma = np.linspace(0.5, 2, size).astype(dtype)
    beta = np.linspace(-1, 1, size).astype(dtype)
    layer = BatchNormalization(gamma, beta)
    for x in (np.full(shape, 3.0, dtype), np.random.default_rng(0).standard_normal(shape).astype(dtype)):
        with np.errstate(all="raise"):
            y = layer.forward(x, train_flg=True)
            dx = layer.backward(np.ones(shape, dtype))
        for a in (y, dx, layer.dgamma, layer.dbeta, layer.running_mean, layer.running_var):
            assert np.all(np.isfinite(a))
        if shape[0] == 1 or x.min() == x.max():
            # zero variance in every statistic: the output is beta, the input gradient 0
            per_channel = size != np.prod(shape[1:])
            if x.min() == x.max() or not per_channel:
                b = beta.reshape((1, size, 1, 1) if per_channel else (1,) + shape[1:])
                np.testing.assert_allclose(y, np.broadcast_to(b, shape), atol=1e-6)
                np.testing.assert_allclose(dx, 0, atol=1e-6)
        y_inf = layer.forward(x, train_flg=False)
        assert np.all(np.isfinite(y_inf))


def test_adam_with_zero_gradients_is_finite_and_still(dtype):
    p = np.linspace(-1, 1, 7).astype(dtype)
    keep = p.copy()
    opt = Adam()
    with np.errstate(all="raise"):
        for _ in range(5):
            opt.update({"p": p}, {"p": np.zeros_like(p)})
    np.testing.assert_array_equal(p, keep)
    assert np.all(np.isfinite(opt.m["p"])) and np.all(np.isfinite(opt.v["p"]))


def test_adam_after_many_steps_has_no_overflow_in_its_bias_correction():
    p = np.ones(3)
    opt = Adam(lr=1e-3, beta1=0.9, beta2=0.999)
    opt.iter = 10 ** 6  # beta ** iter underflows to 0: lr_t must be the plain lr
    with np.errstate(all="raise"):
        opt.update({"p": p}, {"p": np.full(3, 1e-3)})
    assert np.all(np.isfinite(p))


# --------------------------------------------------------------------------------------------
# 3. reproducibility
# --------------------------------------------------------------------------------------------

TRAIN_SCRIPT = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    from fastnn import nets, optimizer
    steps = int(sys.argv[1])
    if len(sys.argv) > 2:
        import fastnn
        fastnn.set_num_threads(int(sys.argv[2]))

    def train(kind, dtype):
        data = np.random.default_rng(11)
        if kind == "TwoLayerNet":
            net = nets.TwoLayerNet(20, 16, 5, dtype=dtype, seed=4)
            x = data.standard_normal((32, 20))
        elif kind == "MultiLayerNetExtend":
            net = nets.MultiLayerNetExtend(20, [16, 12], 5, use_dropout=True, dropout_ration=0.3,
                                           use_batchnorm=True, dtype=dtype, seed=4)
            x = data.standard_normal((32, 20))
        else:
            net = nets.SimpleConvNet((2, 10, 10), {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 1},
                                     hidden_size=12, output_size=5, dtype=dtype, seed=4)
            x = data.standard_normal((32, 2, 10, 10))
        x = x.astype(dtype)
        t = data.integers(0, 5, 32)
        opt = optimizer.Adam(lr=0.01)
        for step in range(steps):
            idx = np.arange(step * 8, step * 8 + 8) % 32
            opt.update(net.params, net.gradient(x[idx], t[idx]))
        h = hashlib.sha256()
        for k in sorted(net.params):
            h.update(k.encode()); h.update(np.ascontiguousarray(net.params[k]).tobytes())
        return {"sha": h.hexdigest(), "loss": float(net.loss(x, t))}

    out = {f"{kind}/{dt}": train(kind, np.dtype(dt))
           for kind in ("TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet") for dt in ("float32", "float64")}
    print(json.dumps(out))
""")

NETS = ["TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet"]
STEPS = 6


def _train_in_subprocess(threads=None, env_threads=None):
    env = dict(os.environ)
    if env_threads is not None:
        env["NUMBA_NUM_THREADS"] = str(env_threads)
    cmd = [sys.executable, "-c", TRAIN_SCRIPT, str(STEPS)]
    if threads is not None:
        cmd.append(str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def training_runs():
    """Each net trained STEPS Adam steps from seed 4, in four fresh processes."""
    return {
        "1 numba thread": _train_in_subprocess(env_threads=1),
        "2 numba threads": _train_in_subprocess(env_threads=2),
        "2 numba threads, again": _train_in_subprocess(env_threads=2),
        "set_num_threads(1): numba and BLAS": _train_in_subprocess(threads=1, env_threads=2),
    }


@pytest.mark.parametrize("kind", NETS)
def test_same_seed_gives_bit_identical_weights_run_to_run_and_with_1_or_2_threads(kind, dtype, training_runs):
    key = f"{kind}/{np.dtype(dtype).name}"
    results = {run: r[key] for run, r in training_runs.items()}
    assert len({r["sha"] for r in results.values()}) == 1, results
    assert np.isfinite(results["1 numba thread"]["loss"])


def test_different_seeds_give_different_weights():
    from fastnn import nets
    a = nets.TwoLayerNet(5, 4, 3, seed=1, weight_init_std=1.0)
    b = nets.TwoLayerNet(5, 4, 3, seed=2, weight_init_std=1.0)
    assert not np.array_equal(a.params["W1"], b.params["W1"])


def test_dropout_masks_come_from_the_seeded_generator():
    x = np.ones((50, 40))
    a, b, c = Dropout(0.5, seed=9), Dropout(0.5, seed=9), Dropout(0.5, seed=10)
    masks_a = [a.forward(x).astype(bool) for _ in range(3)]
    masks_b = [b.forward(x).astype(bool) for _ in range(3)]
    for ma, mb in zip(masks_a, masks_b):
        np.testing.assert_array_equal(ma, mb)
    assert not np.array_equal(masks_a[0], masks_a[1])  # a fresh mask each forward
    assert not np.array_equal(masks_a[0], c.forward(x).astype(bool))
    # a shared Generator: the layer draws from it, so the caller's stream decides the masks
    g1, g2 = np.random.default_rng(4), np.random.default_rng(4)
    np.testing.assert_array_equal(Dropout(0.3, seed=g1).forward(x), Dropout(0.3, seed=g2).forward(x))
    # no seed: NumPy's global generator, as the book (np.random.seed reproduces the masks)
    np.random.seed(123)
    m1 = Dropout(0.5).forward(x)
    np.random.seed(123)
    m2 = Dropout(0.5).forward(x)
    np.testing.assert_array_equal(m1, m2)
    np.random.seed(123)
    np.testing.assert_array_equal(m1 != 0, np.random.rand(*x.shape) > 0.5)


def test_seeded_net_does_not_touch_numpys_global_generator():
    from fastnn import nets
    np.random.seed(5)
    expected = np.random.rand(3)
    np.random.seed(5)
    net = nets.MultiLayerNetExtend(6, [5], 3, use_dropout=True, use_batchnorm=True, seed=1)
    net.gradient(np.ones((4, 6)), np.array([0, 1, 2, 0]))
    np.testing.assert_array_equal(np.random.rand(3), expected)
