"""BatchNormalization: kernels and layer against fastnn.reference, running statistics,
both 4-D layouts, backprop against numerical gradients, bad input."""
import numba
import numpy as np
import pytest
from fastnn.kernels import norm as norm_kernels
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn import reference as ref
from fastnn.layers import BatchNormalization
from fastnn.layers.norm import DEFAULT_EPS
from fastnn.testing import assert_allclose_dtype, layer_gradient_errors

SHAPES_2D = [(1, 1), (1, 7), (2, 1), (5, 3), (17, 13)]
SHAPES_4D = [(1, 1, 1, 1), (2, 3, 4, 5), (1, 3, 5, 2), (3, 1, 7, 3), (4, 5, 1, 6)]


def _spread(x):
    """Make every feature and channel of a batch span at least [-1, 1]: random data with N = 3
    sometimes has three nearly equal values in a column, which normalisation amplifies past
    float32's tolerance (an ill-conditioned input, not a kernel error)."""
    if x.shape[0] >= 2:
        x[0] = np.abs(x[0]) + 1
        x[-1] = -np.abs(x[-1]) - 1
    return x


def _layer(size, dtype, rng, **kwargs):
    gamma = (1 + 0.5 * rng.standard_normal(size)).astype(dtype)
    beta = rng.standard_normal(size).astype(dtype)
    return BatchNormalization(gamma, beta, **kwargs)


def _check_against_reference(x, layer, per_channel, rng, steps=3):
    """Several training steps, then inference, forward and backward each time, against the twins."""
    dt = layer.gamma.dtype
    if per_channel:
        xr = x.reshape(x.shape[0], x.shape[1], -1)
        f_train, f_infer = ref.batchnorm_channel_forward_train, ref.batchnorm_channel_forward_infer
        b_train, b_infer = ref.batchnorm_channel_backward_train, ref.batchnorm_channel_backward_infer
    else:
        xr = x.reshape(x.shape[0], -1)
        f_train, f_infer = ref.batchnorm_forward_train, ref.batchnorm_forward_infer
        b_train, b_infer = ref.batchnorm_backward_train, ref.batchnorm_backward_infer
    rmean, rvar = layer.running_mean.copy(), layer.running_var.copy()
    for step in range(steps + 1):
        train = step < steps
        xs = xr * dt.type(1 + step)  # a different batch each step
        dout = rng.standard_normal(x.shape).astype(dt)
        y = layer.forward(xs.reshape(x.shape), train_flg=train)
        dx = layer.backward(dout)
        if train:
            y_ref, xhat, inv_std, rmean, rvar = f_train(xs, layer.gamma, layer.beta, layer.eps, layer.momentum,
                                                        rmean, rvar)
            dx_ref, dg_ref, db_ref = b_train(dout.reshape(xs.shape), xhat, layer.gamma, inv_std)
        else:
            y_ref, xhat, inv_std = f_infer(xs, layer.gamma, layer.beta, layer.eps, rmean, rvar)
            dx_ref, dg_ref, db_ref = b_infer(dout.reshape(xs.shape), xhat, layer.gamma, inv_std)
        msg = f"step {step}, train={train}"
        assert_allclose_dtype(y, y_ref.reshape(x.shape), err_msg=msg)
        assert_allclose_dtype(layer.running_mean, rmean, err_msg=msg)
        assert_allclose_dtype(layer.running_var, rvar, err_msg=msg)
        assert_allclose_dtype(dx, dx_ref.reshape(x.shape), err_msg=msg)
        assert_allclose_dtype(layer.dgamma, dg_ref, err_msg=msg)
        assert_allclose_dtype(layer.dbeta, db_ref, err_msg=msg)


@pytest.mark.parametrize("shape", SHAPES_2D)
def test_2d_matches_reference(shape, dtype, rng):
    x = (3 * _spread(rng.standard_normal(shape)) + 2).astype(dtype)
    _check_against_reference(x, _layer(shape[1], dtype, rng), False, rng)


@pytest.mark.parametrize("shape", SHAPES_4D)
def test_4d_per_activation_matches_reference(shape, dtype, rng):
    x = (3 * _spread(rng.standard_normal(shape)) - 1).astype(dtype)
    _check_against_reference(x, _layer(int(np.prod(shape[1:])), dtype, rng), False, rng)


@pytest.mark.parametrize("shape", SHAPES_4D)
def test_4d_per_channel_matches_reference(shape, dtype, rng):
    x = (3 * _spread(rng.standard_normal(shape)) + 0.5).astype(dtype)
    _check_against_reference(x, _layer(shape[1], dtype, rng), True, rng)


@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)),
       per_channel=st.booleans(), seed=st.integers(0, 2**16))
def test_4d_random_shapes(shape, per_channel, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    size = shape[1] if per_channel else int(np.prod(shape[1:]))
    _check_against_reference(x, _layer(size, np.float64, rng), per_channel, rng, steps=1)


def test_book_flattening_equals_2d(rng):
    """Per activation on (N, C, H, W) is the 2-D layer on x.reshape(N, -1), as in the book."""
    x = rng.standard_normal((4, 2, 3, 3))
    a = _layer(18, np.float64, np.random.default_rng(1))
    b = _layer(18, np.float64, np.random.default_rng(1))
    np.testing.assert_array_equal(a.forward(x).reshape(4, -1), b.forward(x.reshape(4, -1)))
    dout = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(a.backward(dout).reshape(4, -1), b.backward(dout.reshape(4, -1)))
    np.testing.assert_array_equal(a.dgamma, b.dgamma)


def test_non_contiguous_input(dtype, rng):
    base = (rng.standard_normal((8, 12, 6, 10)) + 1).astype(dtype)
    x = base[::2, ::3, :, ::2]  # strided view, shape (4, 4, 6, 5)
    for size in (4, 4 * 6 * 5):  # per channel, per activation
        y = _layer(size, dtype, np.random.default_rng(0)).forward(x)
        y_c = _layer(size, dtype, np.random.default_rng(0)).forward(np.ascontiguousarray(x))
        np.testing.assert_array_equal(y, y_c)
    x2 = base[:, :, 0, 0].T  # (12, 8), Fortran order
    layer = _layer(8, dtype, rng)
    y_ref = ref.batchnorm_forward_train(np.ascontiguousarray(x2), layer.gamma, layer.beta, layer.eps,
                                        layer.momentum, layer.running_mean.copy(), layer.running_var.copy())[0]
    assert_allclose_dtype(layer.forward(x2), y_ref)


def test_running_statistics_follow_the_books_update(rng):
    layer = _layer(3, np.float64, rng, momentum=0.8)
    np.testing.assert_array_equal(layer.running_mean, np.zeros(3))
    np.testing.assert_array_equal(layer.running_var, np.ones(3))
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(5):
        x = rng.standard_normal((10, 3)) * [1, 2, 3] + [0, 5, -5]
        layer.forward(x)
        mean = 0.8 * mean + 0.2 * x.mean(axis=0)
        var = 0.8 * var + 0.2 * x.var(axis=0)
    np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, var, rtol=1e-12)
    before = layer.running_mean.copy()
    y = layer.forward(x, train_flg=False)
    np.testing.assert_array_equal(layer.running_mean, before)  # inference leaves them alone
    expected = layer.gamma * (x - mean) / np.sqrt(var + DEFAULT_EPS) + layer.beta
    np.testing.assert_allclose(y, expected, rtol=1e-10)


def test_per_channel_running_statistics(rng):
    layer = _layer(2, np.float64, rng, momentum=0.5)
    x = rng.standard_normal((3, 2, 4, 4)) + [[[[1.0]], [[-2.0]]]]
    layer.forward(x)
    np.testing.assert_allclose(layer.running_mean, 0.5 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, 0.5 + 0.5 * x.var(axis=(0, 2, 3)), rtol=1e-12)


def test_given_running_statistics_are_used_in_place(rng):
    rm, rv = np.full(4, 2.0), np.full(4, 3.0)
    layer = BatchNormalization(np.ones(4), np.zeros(4), running_mean=rm, running_var=rv)
    assert layer.running_mean is rm and layer.running_var is rv
    x = rng.standard_normal((6, 4))
    np.testing.assert_allclose(layer.forward(x, train_flg=False), (x - 2) / np.sqrt(3 + DEFAULT_EPS))
    layer.forward(x)
    np.testing.assert_allclose(rm, 0.9 * 2 + 0.1 * x.mean(axis=0))


def test_gamma_and_beta_are_the_very_arrays(rng):
    gamma, beta = np.ones(3), np.zeros(3)
    layer = BatchNormalization(gamma, beta)
    assert layer.gamma is gamma and layer.beta is beta
    assert layer.params["gamma"] is gamma
    x = rng.standard_normal((5, 3))
    y1 = layer.forward(x)
    gamma *= 2  # an optimizer's in-place update reaches the layer
    beta += 1
    np.testing.assert_allclose(layer.forward(x), 2 * y1 + 1)
    layer.backward(np.ones((5, 3)))
    assert layer.dgamma.shape == layer.dbeta.shape == (3,)
    assert set(layer.grads) == {"gamma", "beta"}


@pytest.mark.parametrize("shape,per_channel", [((1, 5), False), ((1, 3, 2, 2), False), ((1, 3, 2, 2), True)])
def test_batch_of_one_is_finite(shape, per_channel, dtype, rng):
    size = shape[1] if per_channel else int(np.prod(shape[1:]))
    layer = _layer(size, dtype, rng)
    x = rng.standard_normal(shape).astype(dtype)
    if per_channel:
        x[:] = 0.7  # a constant channel: zero variance over N, H, W too
    y = layer.forward(x)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(layer.running_var))
    beta = layer.beta.reshape((1, -1) + (1,) * (len(shape) - 2)) if per_channel else layer.beta.reshape(1, *shape[1:])
    np.testing.assert_array_equal(y, np.broadcast_to(beta, shape))  # xhat = 0
    dx = layer.backward(rng.standard_normal(shape).astype(dtype))
    assert np.all(np.isfinite(dx))
    if not per_channel:  # one value per statistic: the output does not depend on x at all
        assert np.all(dx == 0)
    assert np.all(np.isfinite(layer.dgamma))


def test_constant_feature_is_finite(dtype, rng):
    x = rng.standard_normal((8, 3)).astype(dtype)
    x[:, 1] = 5.0
    layer = _layer(3, dtype, rng)
    y = layer.forward(x)
    assert np.all(np.isfinite(y))
    assert y[:, 1] == pytest.approx(np.full(8, layer.beta[1]))
    assert np.all(np.isfinite(layer.backward(np.ones_like(x))))


def test_variance_is_numerically_stable():
    """A large offset with small spread: a one-pass E[x²] − E[x]² would lose every digit in float32.

    The variance must come out right to float32 precision; the output is off by at most
    the rounding of the mean to float32 (|mean| · 2⁻²⁴ / std ≈ 3e-3 here), since the
    normalisation itself runs in float32.
    """
    rng = np.random.default_rng(3)
    for layout_size, shape in ((5, (400, 5)), (2, (50, 2, 8, 8))):
        x = (1000 + 0.01 * rng.standard_normal(shape)).astype(np.float32)
        layer = BatchNormalization(np.ones(layout_size, np.float32), np.zeros(layout_size, np.float32))
        y = layer.forward(x)
        x64 = x.astype(np.float64)
        axes = (0,) if len(shape) == 2 else (0, 2, 3)
        mean, var = x64.mean(axis=axes, keepdims=True), x64.var(axis=axes, keepdims=True)
        np.testing.assert_allclose(y, (x64 - mean) / np.sqrt(var + DEFAULT_EPS), atol=4e-3)
        np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * var.ravel(), rtol=1e-5)


@pytest.mark.parametrize("shape,size", [((4, 6), 6), ((3, 2, 3, 2), 12), ((3, 2, 3, 2), 2), ((1, 3, 2, 2), 3)])
@pytest.mark.parametrize("train_flg", [True, False])
def test_backprop_matches_numerical_gradient(shape, size, train_flg):
    rng = np.random.default_rng(7)
    layer = _layer(size, np.float64, rng)
    x = rng.standard_normal(shape) * 2 + 0.3
    layer.forward(x * 1.5)  # move the running statistics off their start
    errors = layer_gradient_errors(layer, x, {"train_flg": train_flg})
    assert max(errors.values()) < 1e-6, errors


def test_float32_layer_converts_float64_input(rng):
    layer = _layer(4, np.float32, rng)
    y = layer.forward(rng.standard_normal((3, 4)))
    assert y.dtype == np.float32
    dx = layer.backward(np.ones((3, 4)))
    assert dx.dtype == np.float32 and layer.dgamma.dtype == np.float32


def test_per_channel_kernels_do_not_depend_on_thread_count(rng):
    x = rng.standard_normal((6, 5, 7, 9))
    layer = _layer(5, np.float64, rng)
    dout = rng.standard_normal(x.shape)
    results = []
    saved = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            rm, rv = layer.running_mean.copy(), layer.running_var.copy()
            out, xhat, inv_std = np.empty_like(x), np.empty_like(x), np.empty(5)
            xr = x.reshape(6, 5, -1)
            norm_kernels.batchnorm_channel_forward_train(xr, layer.gamma, layer.beta, 1e-6, 0.9, rm, rv,
                                              out.reshape(xr.shape), xhat.reshape(xr.shape), inv_std)
            dx, dg, db = np.empty_like(x), np.empty(5), np.empty(5)
            norm_kernels.batchnorm_channel_backward_train(dout.reshape(xr.shape), xhat.reshape(xr.shape), layer.gamma,
                                               inv_std, dx.reshape(xr.shape), dg, db)
            results.append((out, rm, rv, dx, dg, db))
    finally:
        numba.set_num_threads(saved)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_rejects_bad_input(rng):
    layer = BatchNormalization(np.ones(7), np.zeros(7))
    with pytest.raises(ValueError, match=r"C\*H\*W = 60.*C = 3"):
        layer.forward(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="gamma has 7 entries"):
        layer.forward(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="x must be 2-D or 4-D"):
        layer.forward(np.zeros((2, 7, 1)))
    with pytest.raises(TypeError, match="x must be"):
        layer.forward(np.zeros((2, 7), dtype=int))
    with pytest.raises(ValueError, match="x must not be empty"):
        layer.forward(np.zeros((0, 7)))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((2, 7)))
    layer.forward(np.zeros((2, 7)))
    with pytest.raises(ValueError, match="dout must have the shape"):
        layer.backward(np.zeros((7, 2)))


def test_rejects_bad_parameters():
    with pytest.raises(ValueError, match="beta must have gamma's shape"):
        BatchNormalization(np.ones(3), np.zeros(4))
    with pytest.raises(TypeError, match="beta must have gamma's dtype"):
        BatchNormalization(np.ones(3), np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="gamma must be a float32 or float64 array"):
        BatchNormalization(np.ones(3, int), np.zeros(3))
    with pytest.raises(ValueError, match="gamma must be a non-empty 1-D array"):
        BatchNormalization(np.ones((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="C-contiguous"):
        BatchNormalization(np.ones(6)[::2], np.zeros(3))
    with pytest.raises(ValueError, match="momentum must be < 1"):
        BatchNormalization(np.ones(3), np.zeros(3), momentum=1.0)
    with pytest.raises(ValueError, match="eps must be > 0"):
        BatchNormalization(np.ones(3), np.zeros(3), eps=0)
    with pytest.raises(ValueError, match="running_var must have gamma's shape"):
        BatchNormalization(np.ones(3), np.zeros(3), running_var=np.ones(2))
    with pytest.raises(ValueError, match="running_var must be >= 0"):
        BatchNormalization(np.ones(3), np.zeros(3), running_var=-np.ones(3))
    layer = BatchNormalization([1.0, 2.0], [0, 0])  # lists are converted (float64)
    assert layer.gamma.dtype == np.float64 and layer.beta.dtype == np.float64


@pytest.mark.parametrize("attr, value, message", [
    ("eps", 0.0, "BatchNormalization.eps must be > 0"),
    ("eps", -1e-6, "BatchNormalization.eps must be > 0"),
    ("momentum", 5, "BatchNormalization.momentum must be < 1.0"),
    ("running_var", -1e-6, r"BatchNormalization.running_var must be >= 0 \(a variance\)"),
])
def test_rebound_hyperparameters_and_a_negative_variance_are_a_clear_error(attr, value, message):
    bn = BatchNormalization(np.ones(3), np.zeros(3), eps=1e-6)
    if attr == "running_var":
        bn.running_var[:] = value          # with eps 1e-6: var + eps == 0, once a ZeroDivisionError in the kernel
    else:
        setattr(bn, attr, value)
    with pytest.raises(ValueError, match=message):
        bn.forward(np.ones((2, 3)), train_flg=False)
    with pytest.raises(ValueError, match="running_var must be >= 0"):
        BatchNormalization(np.ones(3), np.zeros(3), running_var=-np.ones(3))


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
