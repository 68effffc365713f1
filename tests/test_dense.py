"""Affine, MulLayer and AddLayer: kernels and layers against fastnn.reference, backprop against numerical gradients."""
import numpy as np
import pytest
from fastnn.kernels import dense as dense_kernels
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn import reference as ref
from fastnn.layers import AddLayer, Affine, MulLayer
from fastnn.testing import assert_allclose_dtype, layer_gradient_errors

SHAPES = [(1, 1, 1), (1, 7, 3), (5, 3, 2), (17, 13, 11), (100, 784, 50), (100, 100, 100)]


def make_affine(rng, d, m, dtype):
    return (rng.standard_normal((d, m)).astype(dtype), rng.standard_normal(m).astype(dtype))


@pytest.mark.parametrize("n, d, m", SHAPES)
def test_kernels_match_reference(n, d, m, dtype, rng):
    x = rng.standard_normal((n, d)).astype(dtype)
    W, b = make_affine(rng, d, m, dtype)
    dout = rng.standard_normal((n, m)).astype(dtype)
    out = np.empty((n, m), dtype)
    dense_kernels.affine_forward(x, W, b, out)
    assert_allclose_dtype(out, ref.affine_forward(x, W, b))
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty_like(b)
    dense_kernels.affine_backward(x, W, dout, dx, dW, db)
    for got, want in zip((dx, dW, db), ref.affine_backward(x, W, dout)):
        assert_allclose_dtype(got, want)


@pytest.mark.parametrize("n, d, m", SHAPES[:4])
def test_layer_matches_reference(n, d, m, dtype, rng):
    x = rng.standard_normal((n, d)).astype(dtype)
    W, b = make_affine(rng, d, m, dtype)
    dout = rng.standard_normal((n, m)).astype(dtype)
    layer = Affine(W, b)
    assert_allclose_dtype(layer.forward(x), ref.affine_forward(x, W, b))
    dx = layer.backward(dout)
    want = ref.affine_backward(x, W, dout)
    for got, w in zip((dx, layer.dW, layer.db), want):
        assert_allclose_dtype(got, w)


def test_nd_input_is_flattened_and_dx_reshaped(dtype, rng):
    x = rng.standard_normal((4, 3, 5, 2)).astype(dtype)
    W, b = make_affine(rng, 30, 7, dtype)
    layer = Affine(W, b)
    out = layer.forward(x)
    assert out.shape == (4, 7)
    assert layer.original_x_shape == (4, 3, 5, 2) and layer.x.shape == (4, 30)
    assert_allclose_dtype(out, ref.affine_forward(x.reshape(4, -1), W, b))
    dout = rng.standard_normal((4, 7)).astype(dtype)
    dx = layer.backward(dout)
    assert dx.shape == x.shape
    assert_allclose_dtype(dx, ref.affine_backward(x.reshape(4, -1), W, dout)[0].reshape(x.shape))


def test_non_contiguous_input_and_parameters(dtype, rng):
    x = rng.standard_normal((9, 16)).astype(dtype)[::2, ::2]  # (5, 8) strided view
    Wf = np.asfortranarray(rng.standard_normal((8, 3)).astype(dtype))
    b = rng.standard_normal(6).astype(dtype)[::2]
    layer = Affine(Wf, b)
    assert layer.W is Wf and layer.b is b
    assert_allclose_dtype(layer.forward(x), ref.affine_forward(x, Wf, b))
    dout = rng.standard_normal((5, 6)).astype(dtype)[:, ::2]
    dx = layer.backward(dout)
    for got, want in zip((dx, layer.dW, layer.db), ref.affine_backward(x, Wf, dout)):
        assert_allclose_dtype(got, want)


def test_keeps_parameter_arrays_and_sees_in_place_updates(rng):
    W, b = make_affine(rng, 4, 3, np.float64)
    layer = Affine(W, b)
    x = rng.standard_normal((2, 4))
    layer.forward(x)
    layer.backward(np.ones((2, 3)))
    W -= 0.1 * layer.dW  # what an optimizer does
    b -= 0.1 * layer.db
    assert layer.W is W and layer.b is b and layer.params["W"] is W
    np.testing.assert_allclose(layer.forward(x), x @ W + b, rtol=1e-12)


def test_input_is_converted_to_parameter_dtype(rng):
    W, b = make_affine(rng, 4, 3, np.float32)
    out = Affine(W, b).forward(rng.standard_normal((2, 4)))  # float64 input
    assert out.dtype == np.float32


def test_backprop_matches_numerical_gradient(rng):
    W, b = make_affine(rng, 12, 5, np.float64)
    errors = layer_gradient_errors(Affine(W, b), rng.standard_normal((3, 2, 6)))
    assert max(errors.values()) < 1e-8, errors


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 9), d=st.integers(1, 9), m=st.integers(1, 9), f32=st.booleans())
def test_any_shape_matches_reference(n, d, m, f32):
    dtype = np.float32 if f32 else np.float64
    rng = np.random.default_rng(n * 100 + d * 10 + m)
    x = rng.standard_normal((n, d)).astype(dtype)
    W, b = make_affine(rng, d, m, dtype)
    layer = Affine(W, b)
    assert_allclose_dtype(layer.forward(x), ref.affine_forward(x, W, b))
    dout = rng.standard_normal((n, m)).astype(dtype)
    for got, want in zip((layer.backward(dout), layer.dW, layer.db), ref.affine_backward(x, W, dout)):
        assert_allclose_dtype(got, want)


def test_rejects_bad_parameters(rng):
    W, b = make_affine(rng, 4, 3, np.float64)
    with pytest.raises(TypeError, match="W must be a float32 or float64 array"):
        Affine(W.astype(np.int64), b)
    with pytest.raises(TypeError, match="W must be"):
        Affine(W.tolist(), b)
    with pytest.raises(TypeError, match="b must be an array of W's dtype float64"):
        Affine(W, b.astype(np.float32))
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        Affine(W, b[:2])
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        Affine(W, b.reshape(1, 3))
    with pytest.raises(ValueError, match="W must be a non-empty 2-D"):
        Affine(W.ravel(), b)


def test_rejects_bad_input(rng):
    W, b = make_affine(rng, 4, 3, np.float64)
    layer = Affine(W, b)
    with pytest.raises(ValueError, match="x must have 4 features"):
        layer.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="at least 2 dimension"):
        layer.forward(np.zeros(4))
    with pytest.raises(TypeError, match="x must be"):
        layer.forward(np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((2, 3)))
    layer.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="dout must have the shape"):
        layer.backward(np.zeros((3, 2)))


def test_mul_and_add_layers_as_in_the_book():
    # the book's apple-and-orange example (chapter 5)
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    apple = mul_apple.forward(100, 2)
    orange = mul_orange.forward(150, 3)
    total = add.forward(apple, orange)
    price = mul_tax.forward(total, 1.1)
    assert apple == 200 and orange == 450 and price == pytest.approx(715.0)
    dtotal, dtax = mul_tax.backward(1)
    dapple_price, dorange_price = add.backward(dtotal)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    dorange, dorange_num = mul_orange.backward(dorange_price)
    assert dtax == 650
    assert dapple_num == pytest.approx(110.0) and dapple == pytest.approx(2.2)
    assert dorange_num == pytest.approx(165.0) and dorange == pytest.approx(3.3)


def test_mul_and_add_layers_on_arrays_sum_broadcast_gradients(rng):
    x = rng.standard_normal((3, 4))
    y = rng.standard_normal(4)
    dout = rng.standard_normal((3, 4))
    mul = MulLayer()
    np.testing.assert_array_equal(mul.forward(x, y), x * y)
    dx, dy = mul.backward(dout)
    np.testing.assert_allclose(dx, dout * y)
    np.testing.assert_allclose(dy, (dout * x).sum(axis=0))
    add = AddLayer()
    add.forward(x, 2.0)
    dx, ds = add.backward(dout)
    np.testing.assert_array_equal(dx, dout)
    assert np.ndim(ds) == 0 and ds == pytest.approx(dout.sum())


def test_mul_and_add_layers_reject_bad_input():
    with pytest.raises(TypeError, match="x must be a number"):
        MulLayer().forward("a", 2)
    with pytest.raises(RuntimeError, match="before forward"):
        AddLayer().backward(1)
    with pytest.raises(RuntimeError, match="before forward"):
        MulLayer().backward(1)


def test_affine_can_skip_the_input_gradient(dtype, rng):
    x = rng.standard_normal((7, 5)).astype(dtype)
    W = rng.standard_normal((5, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    dout = rng.standard_normal((7, 3)).astype(dtype)
    full = Affine(W, b)
    full.forward(x)
    full.backward(dout)
    lean = Affine(W, b)
    lean.input_grad = False
    lean.forward(x)
    assert lean.backward(dout) is None
    np.testing.assert_array_equal(lean.dW, full.dW)
    np.testing.assert_array_equal(lean.db, full.db)


@pytest.mark.parametrize("n, d, m", [(2, 1, 1), (3, 7, 5), (17, 13, 11), (100, 784, 50)])
def test_split_kernels_match_reference(n, d, m, dtype, rng):
    """The two-thread kernels: rows in halves, dx beside dW, dW as two half-batch sums."""
    x = rng.standard_normal((n, d)).astype(dtype)
    W, b = make_affine(rng, d, m, dtype)
    dout = rng.standard_normal((n, m)).astype(dtype)
    out = np.full((n, m), np.nan, dtype)
    dense_kernels.affine_forward_split(x, W, b, out)
    assert_allclose_dtype(out, ref.affine_forward(x, W, b))
    want_dx, want_dW, want_db = ref.affine_backward(x, W, dout)
    dx, dW, db = (np.full_like(a, np.nan) for a in (x, W, b))
    dense_kernels.affine_backward_split(x, W, dout, dx, dW, db)
    for got, want in zip((dx, dW, db), (want_dx, want_dW, want_db)):
        assert_allclose_dtype(got, want)
    dW, db = np.full_like(W, np.nan), np.full_like(b, np.nan)
    dense_kernels.affine_param_grads_split(x, dout, dW, db, np.full_like(W, np.nan))
    assert_allclose_dtype(dW, want_dW)
    assert_allclose_dtype(db, want_db)


@pytest.mark.parametrize("input_grad", [True, False])
def test_layer_split_path_matches_serial_path(monkeypatch, input_grad, dtype, rng):
    """Above AFFINE_SPLIT_WORK the layer runs the split kernels: same results as the one-thread path."""
    from fastnn import _runtime

    x = rng.standard_normal((9, 12)).astype(dtype)
    W, b = make_affine(rng, 12, 5, dtype)
    dout = rng.standard_normal((9, 5)).astype(dtype)
    results = []
    for limit in (10**18, 1):
        monkeypatch.setattr(_runtime, "AFFINE_SPLIT_WORK", limit)
        monkeypatch.setattr(_runtime, "threads", lambda: 2)   # the split kernels run on any thread count
        layer = Affine(W, b)
        layer.input_grad = input_grad
        out = layer.forward(x)
        dx = layer.backward(dout)
        results.append((out, dx, layer.dW, layer.db))
    assert (results[1][1] is None) == (not input_grad)
    for serial, split in zip(*results):
        if serial is not None:
            assert_allclose_dtype(split, serial)
    np.testing.assert_array_equal(results[1][0], results[0][0])  # rows computed alike: bit-identical


def test_a_bad_w_or_b_gives_one_error_in_init_and_after_rebinding(rng):
    W, b = make_affine(rng, 4, 3, np.float64)
    bad = [(W.ravel(), b, ValueError, r"Affine.W must be a non-empty 2-D array \(D, M\), got shape \(12,\)"),
           (W.astype(np.int64), b, TypeError, "Affine.W must be a float32 or float64 array, got an array"),
           (W, b.astype(np.float32), TypeError, "Affine.b must be an array of W's dtype float64"),
           (W, b[:2], ValueError, r"Affine.b must have shape \(3,\) to match W \(4, 3\), got \(2,\)")]
    for W_bad, b_bad, error, message in bad:
        with pytest.raises(error, match=message):
            Affine(W_bad, b_bad)
        layer = Affine(W, b)
        layer.W, layer.b = W_bad, b_bad
        with pytest.raises(error, match=message):
            layer.forward(np.ones((2, 4)))
