"""Softmax kernels and SoftmaxWithLoss against fastnn.reference, exactness at the extremes, backprop vs numerical gradient."""
import numpy as np
import pytest
from fastnn.kernels import softmax as softmax_kernels
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn import reference as ref
from fastnn.gradient import numerical_gradient
from fastnn.layers import SoftmaxWithLoss
from fastnn.testing import assert_allclose_dtype, relative_error

SHAPES = [(1, 1), (1, 2), (1, 10), (7, 3), (100, 10), (13, 257)]


def logits(rng, shape, dtype, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def soft_targets(rng, n, c, dtype):
    t = rng.random((n, c))
    t[rng.random((n, c)) < 0.3] = 0  # some exact zeros
    t[:, 0] += 1e-3  # no all-zero rows
    return (t / t.sum(axis=1, keepdims=True)).astype(dtype)


def assert_loss_close(got, want, dtype):
    rtol = 1e-12 if np.dtype(dtype) == np.float64 else 1e-5
    assert got == pytest.approx(want, rel=rtol, abs=rtol)


@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_kernel_matches_reference(shape, dtype, rng):
    x = logits(rng, shape, dtype)
    out = np.empty_like(x)
    softmax_kernels.softmax_forward(x, out)
    assert_allclose_dtype(out, ref.softmax_forward(x))


@pytest.mark.parametrize("shape", SHAPES)
def test_fused_loss_kernels_match_reference(shape, dtype, rng):
    n, c = shape
    x = logits(rng, shape, dtype)
    t = rng.integers(0, c, n).astype(np.intp)
    grad = np.empty_like(x)
    loss = softmax_kernels.softmax_loss_labels(x, t, grad)
    want_loss, want_grad = ref.softmax_loss_labels(x, t)
    assert_loss_close(loss, want_loss, dtype)
    assert_allclose_dtype(grad, want_grad)

    tp = soft_targets(rng, n, c, dtype)
    loss = softmax_kernels.softmax_loss_probs(x, tp, grad)
    want_loss, want_grad = ref.softmax_loss_probs(x, tp)
    assert_loss_close(loss, want_loss, dtype)
    assert_allclose_dtype(grad, want_grad)


@pytest.mark.parametrize("shape", SHAPES)
def test_cross_entropy_kernels_match_reference(shape, dtype, rng):
    n, c = shape
    y = ref.softmax_forward(logits(rng, shape, dtype))
    t = rng.integers(0, c, n).astype(np.intp)
    assert_loss_close(softmax_kernels.cross_entropy_labels(y, t), ref.cross_entropy_labels(y, t), dtype)
    tp = soft_targets(rng, n, c, dtype)
    assert_loss_close(softmax_kernels.cross_entropy_probs(y, tp), ref.cross_entropy_probs(y, tp), dtype)


def test_probs_kernel_equals_labels_kernel_on_one_hot(dtype, rng):
    x = logits(rng, (6, 5), dtype)
    t = rng.integers(0, 5, 6).astype(np.intp)
    g1, g2 = np.empty_like(x), np.empty_like(x)
    l1 = softmax_kernels.softmax_loss_labels(x, t, g1)
    l2 = softmax_kernels.softmax_loss_probs(x, np.eye(5, dtype=dtype)[t], g2)
    assert_loss_close(l2, l1, dtype)
    assert_allclose_dtype(g2, g1)


def test_loss_is_exact_where_the_probability_underflows(dtype):
    layer = SoftmaxWithLoss()
    x = np.array([[0.0, -1e4]], dtype=dtype)
    assert layer.forward(x, np.array([1])) == 1e4  # the book's +1e-7 would give 16.1
    assert layer.forward(x, np.array([0])) == 0.0
    dx = layer.backward()
    assert np.all(np.isfinite(dx))
    x = np.array([[1e4, -1e4, 0.0]], dtype=dtype)
    assert layer.forward(x, 2) == 1e4
    np.testing.assert_array_equal(layer.y, np.array([[1, 0, 0]], dtype=dtype))


@pytest.mark.parametrize("shape", SHAPES)
def test_layer_matches_reference(shape, dtype, rng):
    n, c = shape
    x = logits(rng, shape, dtype)
    t = rng.integers(0, c, n)
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    assert isinstance(loss, float)
    want_loss, want_grad = ref.softmax_loss_labels(x, t)
    assert_loss_close(loss, want_loss, dtype)
    assert layer.loss == loss and layer.t is t
    assert_allclose_dtype(layer.y, ref.softmax_forward(x))
    assert_allclose_dtype(layer.backward(), want_grad)
    assert_allclose_dtype(layer.backward(1), want_grad)


def test_two_step_reference_agrees_with_layer(dtype, rng):
    x = logits(rng, (9, 6), dtype)
    t = rng.integers(0, 6, 9)
    layer = SoftmaxWithLoss()
    loss, y = ref.softmax_loss_forward(x, t)
    assert_loss_close(layer.forward(x, t), loss, dtype)
    assert_allclose_dtype(layer.y, y)
    assert_allclose_dtype(layer.backward(0.5), ref.softmax_loss_backward(y, t, 0.5))


def test_label_forms_agree(dtype, rng):
    x = logits(rng, (5, 4), dtype)
    labels = rng.integers(0, 4, 5)
    forms = [labels, labels.reshape(5, 1), labels.astype(np.float64), np.eye(4)[labels],
             np.eye(4, dtype=np.int64)[labels], np.eye(4, dtype=bool)[labels], list(labels)]
    layer = SoftmaxWithLoss()
    want = layer.forward(x, labels)
    want_dx = layer.backward()
    for t in forms:
        assert layer.forward(x, t) == want
        np.testing.assert_array_equal(layer.backward(), want_dx)


def test_single_sample_forms(dtype, rng):
    x = logits(rng, (1, 4), dtype)
    layer = SoftmaxWithLoss()
    want = layer.forward(x, np.array([2]))
    want_dx = layer.backward()
    for t in (2, np.array([[2]]), np.eye(4)[2], np.eye(4)[[2]]):  # (1, 1) labels as in ch07/gradient_check.py
        assert layer.forward(x, t) == want
    assert layer.forward(x[0], 2) == want  # 1-D logits: one sample
    dx = layer.backward()
    assert dx.shape == (4,)
    np.testing.assert_array_equal(dx, want_dx[0])
    assert layer.y.shape == (4,)


def test_soft_targets(dtype, rng):
    x = logits(rng, (6, 5), dtype)
    t = soft_targets(rng, 6, 5, np.float64)
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    want_loss, want_grad = ref.softmax_loss_probs(x, t.astype(dtype))
    assert_loss_close(loss, want_loss, dtype)
    assert_allclose_dtype(layer.backward(), want_grad)


def test_backward_honours_dout(rng):
    x = logits(rng, (4, 3), np.float64)
    layer = SoftmaxWithLoss()
    layer.forward(x, np.array([0, 1, 2, 1]))
    g = layer.backward()
    np.testing.assert_allclose(layer.backward(2.5), 2.5 * g, rtol=1e-15)
    np.testing.assert_allclose(layer.backward(np.array(0.5)), 0.5 * g, rtol=1e-15)
    np.testing.assert_allclose(layer.backward(np.array([[3.0]])), 3 * g, rtol=1e-15)
    np.testing.assert_array_equal(layer.backward(0), np.zeros_like(g))


@pytest.mark.parametrize("targets", ["labels", "soft"])
def test_backprop_matches_numerical_gradient(targets, rng):
    x = logits(rng, (5, 4), np.float64)
    t = rng.integers(0, 4, 5) if targets == "labels" else soft_targets(rng, 5, 4, np.float64)
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward(1.7)
    num = numerical_gradient(lambda z: 1.7 * layer.forward(z, t), x.copy(), h=1e-5)
    assert relative_error(dx, num) < 1e-8


def test_y_does_not_follow_later_edits_of_the_input(rng):
    x = logits(rng, (3, 4), np.float64)
    layer = SoftmaxWithLoss()
    layer.forward(x, np.array([0, 1, 2]))
    want = ref.softmax_forward(x)
    x[:] = 0
    np.testing.assert_allclose(layer.y, want, rtol=1e-14)


def test_non_contiguous_logits(dtype, rng):
    base = logits(rng, (8, 10), dtype)
    x = base[::2, ::3]  # (4, 4) strided
    t = np.array([0, 3, 1, 2])
    layer = SoftmaxWithLoss()
    want_loss, want_grad = ref.softmax_loss_labels(np.ascontiguousarray(x), t)
    assert_loss_close(layer.forward(x, t), want_loss, dtype)
    assert_allclose_dtype(layer.backward(), want_grad)
    assert_loss_close(layer.forward(x.T, t), ref.softmax_loss_labels(np.ascontiguousarray(x.T), t)[0], dtype)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 12), c=st.integers(1, 12), scale=st.sampled_from([0.1, 3.0, 100.0, 1e4]),
       f32=st.booleans(), seed=st.integers(0, 2**16))
def test_any_shape_and_scale_matches_reference(n, c, scale, f32, seed):
    dtype = np.float32 if f32 else np.float64
    rng = np.random.default_rng(seed)
    x = logits(rng, (n, c), dtype, scale)
    t = rng.integers(0, c, n)
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    want_loss, want_grad = ref.softmax_loss_labels(x, t)
    assert np.isfinite(loss)
    assert loss == pytest.approx(want_loss, rel=1e-5 if f32 else 1e-12, abs=1e-6)
    assert_allclose_dtype(layer.backward(), want_grad)
    assert_allclose_dtype(layer.y.sum(axis=1), np.ones(n, dtype))


def test_rejects_bad_input():
    layer = SoftmaxWithLoss()
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"labels in \[0, 4\)"):
        layer.forward(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"labels in \[0, 4\)"):
        layer.forward(x, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match="t must be labels of shape"):
        layer.forward(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="t must be labels of shape"):
        layer.forward(x, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        layer.forward(x, np.array([[0.5, 0.5, 0, 0]] * 2 + [[-1.0, 2, 0, 0]]))
    with pytest.raises(ValueError, match="finite"):
        layer.forward(x, np.array([[np.nan, 1, 0, 0]] * 3))
    with pytest.raises(TypeError, match="x must be"):
        layer.forward(np.zeros((3, 4), dtype=np.int64), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="x must be 1-D or 2-D"):
        layer.forward(np.zeros((3, 4, 2)), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="t must"):
        layer.forward(x, "abc")
    with pytest.raises(RuntimeError, match="before forward"):
        SoftmaxWithLoss().backward()
    layer.forward(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="dout must be a scalar"):
        layer.backward(np.ones((3, 4)))
    with pytest.raises(ValueError, match="dout must be finite"):
        layer.backward(np.nan)


def test_non_finite_logits_give_nan_not_an_exception():
    """inf or NaN logits (a diverged net) make the loss and softmax NaN, as NumPy's arithmetic does."""
    from fastnn.functions import sigmoid, softmax
    from fastnn.layers import SoftmaxWithLoss

    for dtype in (np.float32, np.float64):
        x = np.array([[np.inf, 0.0, 1.0], [np.nan, 1.0, 2.0]], dtype=dtype)
        assert np.isnan(SoftmaxWithLoss().forward(x, np.array([1, 0])))
        assert np.isnan(softmax(x)).all()
        np.testing.assert_array_equal(sigmoid(np.array([np.nan, -np.inf, np.inf], dtype=dtype)),
                                      np.array([np.nan, 0.0, 1.0], dtype=dtype))
