"""Convolution: layer against fastnn.reference (random geometries, both dtypes), numerical gradients, bad input."""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn import reference as ref
from fastnn.layers import Convolution
from fastnn.testing import assert_allclose_dtype, layer_gradient_errors


@st.composite
def conv_geometry(draw):
    """(N, C, H, W, FN, FH, FW, stride, pad) with the filter fitting the padded input."""
    fh = draw(st.integers(1, 7))
    fw = draw(st.integers(1, 7))
    pad = draw(st.integers(0, 3))
    stride = draw(st.integers(1, 3))
    h = draw(st.integers(max(1, fh - 2 * pad), 12))
    w = draw(st.integers(max(1, fw - 2 * pad), 12))
    n = draw(st.integers(1, 3))
    c = draw(st.sampled_from([1, 2, 3, 5]))
    fn = draw(st.integers(1, 4))
    return n, c, h, w, fn, fh, fw, stride, pad


def _check_against_reference(geometry, dtype, seed):
    n, c, h, w, fn, fh, fw, stride, pad = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    W = rng.standard_normal((fn, c, fh, fw)).astype(dtype)
    b = rng.standard_normal(fn).astype(dtype)
    layer = Convolution(W, b, stride=stride, pad=pad)
    out = layer.forward(x)
    out_ref, _, _ = ref.conv_forward(x, W, b, stride, pad)
    assert_allclose_dtype(out, out_ref)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = layer.backward(dout)
    dx_ref, dW_ref, db_ref = ref.conv_backward(dout, x, W, stride, pad)
    assert_allclose_dtype(dx, dx_ref)
    assert_allclose_dtype(layer.dW, dW_ref)
    assert_allclose_dtype(layer.db, db_ref)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geometry=conv_geometry(), seed=st.integers(0, 2 ** 16))
def test_matches_reference_random_geometry(geometry, seed):
    for dtype in (np.float32, np.float64):
        _check_against_reference(geometry, dtype, seed)


@pytest.mark.parametrize("geometry", [
    (1, 1, 28, 28, 30, 5, 5, 1, 0),    # SimpleConvNet's layer, batch 1
    (2, 16, 14, 14, 32, 3, 3, 1, 1),   # DeepConvNet-like
    (2, 3, 9, 6, 4, 7, 7, 3, 3),       # big filter, big pad, H != W, stride that does not divide
    (3, 2, 5, 8, 2, 1, 1, 2, 0),       # 1x1 filter, stride 2
])
def test_matches_reference_fixed_geometries(geometry, dtype):
    _check_against_reference(geometry, dtype, seed=7)


def test_output_shape_floors_like_the_book():
    layer = Convolution(np.ones((2, 1, 3, 3)), np.zeros(2), stride=2, pad=0)
    assert layer.forward(np.ones((1, 1, 8, 9))).shape == (1, 2, 3, 4)


@pytest.mark.parametrize("stride,pad", [(1, 0), (2, 1), (1, 2), (3, 1)])
def test_backprop_matches_numerical_gradient(stride, pad, rng):
    x = rng.standard_normal((2, 3, 6, 5))
    W = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    errors = layer_gradient_errors(Convolution(W, b, stride=stride, pad=pad), x)
    assert max(errors.values()) < 1e-7, errors


def test_keeps_the_parameter_arrays_and_sees_in_place_updates(rng):
    W = rng.standard_normal((2, 1, 3, 3))
    b = np.zeros(2)
    layer = Convolution(W, b)
    x = rng.standard_normal((1, 1, 5, 5))
    before = layer.forward(x)
    W *= 2          # what an optimizer does
    b += 1
    assert layer.W is W and layer.b is b
    after = layer.forward(x)
    np.testing.assert_allclose(after, 2 * before + 1, rtol=1e-12, atol=1e-12)


def test_buffers_reused_but_outputs_and_gradients_fresh(rng):
    layer = Convolution(rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), pad=1)
    x = rng.standard_normal((2, 2, 6, 6))
    y1 = layer.forward(x)
    y1_copy = y1.copy()
    dx1 = layer.backward(np.ones_like(y1))
    dW1, db1 = layer.dW, layer.db
    dW1_copy = dW1.copy()
    y2 = layer.forward(2 * x)
    layer.backward(np.ones_like(y2) * 3)
    np.testing.assert_array_equal(y1, y1_copy)          # not overwritten by the second call
    np.testing.assert_array_equal(dW1, dW1_copy)
    assert y2 is not y1 and layer.dW is not dW1 and layer.db is not db1
    assert dx1.shape == x.shape
    # another batch size, then the first again: still right
    _check_layer_once(layer, rng.standard_normal((5, 2, 6, 6)))
    _check_layer_once(layer, x)


def _check_layer_once(layer, x):
    out = layer.forward(x)
    out_ref, _, _ = ref.conv_forward(x, layer.W, layer.b, layer.stride, layer.pad)
    assert_allclose_dtype(out, out_ref)


def test_non_contiguous_input_and_weights(rng):
    base = rng.standard_normal((2, 6, 8, 3))
    x = base.transpose(0, 3, 1, 2)[:, :, ::2, :]      # (2, 3, 4, 6), strided
    W = rng.standard_normal((3, 3, 2, 4)).transpose(1, 0, 2, 3)  # (3, 3, 2, 4), not contiguous
    b = rng.standard_normal(6)[::2]
    layer = Convolution(W, b, pad=1)
    out = layer.forward(x)
    out_ref, _, _ = ref.conv_forward(np.ascontiguousarray(x), np.ascontiguousarray(W), b.copy(), 1, 1)
    assert_allclose_dtype(out, out_ref)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    dx_ref, dW_ref, db_ref = ref.conv_backward(dout, np.ascontiguousarray(x), np.ascontiguousarray(W), 1, 1)
    assert_allclose_dtype(dx, dx_ref)
    assert_allclose_dtype(layer.dW, dW_ref)
    assert_allclose_dtype(layer.db, db_ref)


def test_input_converted_to_the_parameters_dtype(rng):
    layer = Convolution(np.ones((1, 1, 2, 2), np.float32), np.zeros(1, np.float32))
    out = layer.forward(rng.standard_normal((1, 1, 3, 3)))
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    assert layer.dW.dtype == np.float32 and layer.db.dtype == np.float32


@pytest.mark.parametrize("bias", [0, 0.5, -2, np.float64(0.25), np.array(1.5), np.array(3, dtype=np.int32)],
                         ids=repr)
def test_scalar_bias_is_broadcast_to_every_filter(dtype, rng, bias):
    """As the book's layer (ch07/apply_filter.py passes b = 0): one bias for every filter."""
    W = rng.standard_normal((3, 2, 2, 2)).astype(dtype)
    layer = Convolution(W, bias)
    assert layer.b.shape == (3,) and layer.b.dtype == dtype and np.all(layer.b == dtype.type(bias))
    x = rng.standard_normal((2, 2, 4, 4)).astype(dtype)
    full = Convolution(W.copy(), np.full(3, bias, dtype=dtype))
    np.testing.assert_array_equal(layer.forward(x), full.forward(x))
    dout = rng.standard_normal((2, 3, 3, 3)).astype(dtype)
    layer.backward(dout)
    full.backward(dout)
    np.testing.assert_array_equal(layer.db, full.db)


def test_bias_that_does_not_fit_is_refused():
    W = np.ones((3, 1, 2, 2))
    with pytest.raises(ValueError, match=r"b must have shape \(3,\) \(one bias per filter\), got \(2,\)"):
        Convolution(W, np.zeros(2))
    with pytest.raises(ValueError, match=r"b must have shape \(3,\) \(one bias per filter\), got \(1, 3\)"):
        Convolution(W, np.zeros((1, 3)))
    with pytest.raises(TypeError, match="b must be an array of W's dtype float64, got a bool"):
        Convolution(W, True)
    with pytest.raises(TypeError, match="b must be an array of W's dtype float64, got a str"):
        Convolution(W, "0")
    with pytest.raises(TypeError, match="b must be an array of W's dtype float64, got a list"):
        Convolution(W, [0.0, 0.0, 0.0])
    with pytest.raises(TypeError, match="W must be"):
        Convolution(np.ones((1, 1, 2, 2), dtype=int), 0)


def test_rejects_bad_parameters():
    with pytest.raises(TypeError, match="W must be"):
        Convolution(np.ones((1, 1, 2, 2), dtype=int), np.zeros(1))
    with pytest.raises(TypeError, match="W must be"):
        Convolution([[[[1.0]]]], np.zeros(1))
    with pytest.raises(ValueError, match="W must be a non-empty 4-D"):
        Convolution(np.ones((1, 2, 2)), np.zeros(1))
    with pytest.raises(TypeError, match="b must be an array of W's dtype"):
        Convolution(np.ones((1, 1, 2, 2)), np.zeros(1, np.float32))
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        Convolution(np.ones((3, 1, 2, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="stride must be > 0"):
        Convolution(np.ones((1, 1, 2, 2)), np.zeros(1), stride=0)
    with pytest.raises(TypeError, match="stride must be an integer"):
        Convolution(np.ones((1, 1, 2, 2)), np.zeros(1), stride=1.5)
    with pytest.raises(ValueError, match="pad must be >= 0"):
        Convolution(np.ones((1, 1, 2, 2)), np.zeros(1), pad=-1)


def test_rejects_bad_input():
    layer = Convolution(np.ones((2, 3, 3, 3)), np.zeros(2), pad=1)
    with pytest.raises(ValueError, match="x must be 4-D"):
        layer.forward(np.ones((3, 5, 5)))
    with pytest.raises(ValueError, match="x has 2 channels but the filters"):
        layer.forward(np.ones((1, 2, 5, 5)))
    with pytest.raises(TypeError, match="x must be"):
        layer.forward(np.ones((1, 3, 5, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="must not be empty"):
        layer.forward(np.ones((0, 3, 5, 5)))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((1, 2, 5, 5)))
    layer.forward(np.ones((1, 3, 5, 5)))
    with pytest.raises(ValueError, match="dout must have the shape"):
        layer.backward(np.ones((1, 2, 4, 5)))


def test_rejects_filter_larger_than_padded_input():
    layer = Convolution(np.ones((1, 1, 5, 3)), np.zeros(1), pad=1)
    layer.forward(np.ones((1, 1, 3, 1)))                # 5 <= 3 + 2 and 3 <= 1 + 2: fits
    with pytest.raises(ValueError, match="larger than the padded input"):
        layer.forward(np.ones((1, 1, 2, 4)))            # 5 > 2 + 2


def test_replaced_parameters_are_validated(rng):
    layer = Convolution(rng.standard_normal((2, 1, 2, 2)), np.zeros(2))
    layer.W = rng.standard_normal((2, 1, 2, 2)).astype(np.float32)
    with pytest.raises(TypeError, match="b must be an array of W's dtype"):
        layer.forward(np.ones((1, 1, 3, 3)))


def test_backward_uses_the_forward_geometry(rng):
    W = rng.standard_normal((2, 1, 3, 3))
    b = np.zeros(2)
    x = rng.standard_normal((1, 1, 7, 7))
    layer = Convolution(W, b, stride=1, pad=0)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx_ref, _, _ = ref.conv_backward(dout, x, W, 1, 0)
    layer.stride, layer.pad = 3, 2          # changed between forward and backward
    assert_allclose_dtype(layer.backward(dout), dx_ref)
    layer.W = rng.standard_normal((2, 1, 2, 2))
    with pytest.raises(RuntimeError, match="changed shape"):
        layer.backward(dout)


def test_input_grad_false_skips_dx_only(rng):
    x = rng.standard_normal((2, 2, 6, 5))
    W = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    dout = rng.standard_normal((2, 3, 4, 3))
    full = Convolution(W, b)
    full.forward(x)
    full.backward(dout)
    lean = Convolution(W, b)
    lean.input_grad = False
    lean.forward(x)
    assert lean.backward(dout) is None
    np.testing.assert_array_equal(lean.dW, full.dW)
    np.testing.assert_array_equal(lean.db, full.db)


def test_layers_sharing_scratch_give_their_own_results(rng):
    # two layers of different shapes, interleaved as in a net's forward/backward
    x = rng.standard_normal((2, 2, 9, 9))
    l1 = Convolution(rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), pad=1)
    l2 = Convolution(rng.standard_normal((4, 3, 5, 5)), rng.standard_normal(4), stride=2)
    h = l1.forward(x)
    y = l2.forward(h)
    dy = rng.standard_normal(y.shape)
    dh = l2.backward(dy)
    dx = l1.backward(dh)
    dh_ref, dW2_ref, _ = ref.conv_backward(dy, h, l2.W, 2, 0)
    dx_ref, dW1_ref, _ = ref.conv_backward(dh_ref, x, l1.W, 1, 1)
    assert_allclose_dtype(dh, dh_ref)
    assert_allclose_dtype(dx, dx_ref)
    assert_allclose_dtype(l1.dW, dW1_ref)
    assert_allclose_dtype(l2.dW, dW2_ref)


@pytest.mark.parametrize("stride", [1, 2])
def test_im2col_images_every_small_geometry_writes_every_entry(stride, dtype):
    """The per-image kernel against the reference im2col, exhaustively over small images, filters and pads
    (stride 1 with OW == W takes the one-run path): every entry written (the block starts as NaN)."""
    from fastnn.kernels import conv as conv_kernels
    for h, w, f, pad in itertools.product(range(1, 7), range(1, 7), range(1, 6), range(0, 4)):
        if f > h + 2 * pad or f > w + 2 * pad:
            continue
        oh, ow = (h + 2 * pad - f) // stride + 1, (w + 2 * pad - f) // stride + 1
        x = np.random.default_rng(h * 100 + w).standard_normal((2, 2, h, w)).astype(dtype)
        cols = np.full((2, 2 * f * f + 1, oh * ow), np.nan, dtype=dtype)
        conv_kernels.im2col_images(x, f, f, stride, pad, oh, ow, cols)
        mine = cols[:, :-1, :].transpose(0, 2, 1).reshape(-1, 2 * f * f)
        np.testing.assert_array_equal(mine, ref.im2col(x, f, f, stride, pad), err_msg=f"{h}x{w} f{f} p{pad}")
        assert np.all(cols[:, -1] == 1)
