"""Relu and Sigmoid: kernels and layers against fastnn.reference, and backprop against numerical gradients."""
import numpy as np
import pytest

from fastnn import functions as F
from fastnn import reference as ref
from fastnn.layers import Relu, Sigmoid
from fastnn.testing import assert_allclose_dtype, layer_gradient_errors

# (3, 300, 300) is above fastnn._runtime.ELEMENTWISE_PARALLEL_ELEMENTS: the kernels run on all threads.
SHAPES = [(1, 1), (1, 7), (5, 3), (3, 4, 5), (2, 3, 4, 5), (17,), (3, 300, 300)]


@pytest.mark.parametrize("shape", SHAPES)
def test_relu_matches_reference(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    layer = Relu()
    y = layer.forward(x)
    y_ref, mask = ref.relu_forward(x)
    assert_allclose_dtype(y, y_ref)
    assert_allclose_dtype(layer.backward(dout), ref.relu_backward(dout, mask))


@pytest.mark.parametrize("shape", SHAPES)
def test_sigmoid_matches_reference(shape, dtype, rng):
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    layer = Sigmoid()
    y = layer.forward(x)
    assert_allclose_dtype(y, ref.sigmoid_forward(x))
    assert_allclose_dtype(layer.backward(dout), ref.sigmoid_backward(dout, ref.sigmoid_forward(x)))


def test_non_contiguous_input(rng):
    base = rng.standard_normal((6, 8))
    x = base[::2, ::3]  # a strided view
    y = Relu().forward(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    y = Sigmoid().forward(x.T)
    assert_allclose_dtype(y, ref.sigmoid_forward(np.ascontiguousarray(x.T)))


def test_sigmoid_extremes_are_finite_and_silent():
    x = np.array([-1e4, -800.0, 0.0, 800.0, 1e4])
    with np.errstate(all="raise"):
        y = Sigmoid().forward(x)
    assert np.all(np.isfinite(y))
    assert y[0] == 0.0 and y[2] == 0.5 and y[-1] == 1.0


def test_relu_backward_leaves_dout_alone(rng):
    layer = Relu()
    layer.forward(rng.standard_normal((4, 5)))
    dout = rng.standard_normal((4, 5))
    before = dout.copy()
    layer.backward(dout)
    np.testing.assert_array_equal(dout, before)


@pytest.mark.parametrize("layer_cls", [Relu, Sigmoid])
def test_backprop_matches_numerical_gradient(layer_cls, rng):
    x = rng.standard_normal((3, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU's kink away from the finite differences
    errors = layer_gradient_errors(layer_cls(), x)
    assert errors["x"] < 1e-7, errors


@pytest.mark.parametrize("layer_cls", [Relu, Sigmoid])
def test_rejects_bad_input(layer_cls):
    with pytest.raises(TypeError, match="x must be"):
        layer_cls().forward(np.array([1, 2, 3]))
    with pytest.raises(TypeError, match="x must be"):
        layer_cls().forward(np.array(["a"], dtype=object))
    layer = layer_cls()
    layer.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="dout must have the shape"):
        layer.backward(np.zeros((3, 2)))
    with pytest.raises(RuntimeError, match="before forward"):
        layer_cls().backward(np.zeros((2, 3)))


@pytest.mark.parametrize("module", ["activation", "softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vectorisable_exp_is_within_its_stated_error(module, dtype):
    """The kernels' own exp (no SVML here): within 1.5 ulp of exp above the smallest normal, 0 below."""
    import importlib

    from numba import njit

    exp_nonpositive = importlib.import_module(f"fastnn.kernels.{module}")._exp_nonpositive

    @njit
    def apply(a):
        out = np.empty_like(a)
        for i in range(a.size):
            out[i] = exp_nonpositive(a[i])
        return out

    x = -np.abs(np.random.default_rng(0).standard_normal(200_000) * 300).astype(dtype)
    x = np.concatenate([x, np.array([0, -1e-30, np.log(np.finfo(dtype).tiny), -1000], dtype=dtype)])
    got = apply(x)
    exact = np.exp(x.astype(np.float64))
    tiny = np.finfo(dtype).tiny
    normal = exact >= tiny
    ulps = np.abs(got[normal] - exact[normal]) / (exact[normal] * np.finfo(dtype).eps)
    assert ulps.max() <= 1.5
    assert np.all(got[~normal] <= tiny) and got[-1] == 0 and got[-4] == 1


def test_relu_keeps_nan_and_its_mask_is_the_books(dtype):
    x = np.array([-1.0, 0.0, 2.0, np.nan, -np.inf, np.inf], dtype=dtype)
    layer = Relu()
    out = layer.forward(x)
    np.testing.assert_array_equal(out, np.array([0, 0, 2, np.nan, 0, np.inf], dtype=dtype))   # NaN kept
    np.testing.assert_array_equal(layer.mask, x <= 0)                                        # the book's mask
    book = x.copy()
    book[x <= 0] = 0
    np.testing.assert_array_equal(out, book)
    dx = layer.backward(np.ones(6, dtype=dtype))
    np.testing.assert_array_equal(dx, [0, 0, 1, 1, 0, 1])    # as the book's dout[mask] = 0
    with pytest.raises(ValueError, match="assignment destination is read-only"):
        layer.mask[0] = False


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
