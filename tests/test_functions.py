"""fastnn.functions: softmax and the losses, with the book's own numbers, extremes and bad input."""
import numpy as np
import pytest
from layouts import LAYOUTS, _assert_identical, _assert_untouched, _frozen, exact_values, relayout

from fastnn import functions as F
from fastnn import reference as ref
from fastnn.functions import cross_entropy_error, mean_squared_error, softmax, softmax_loss, sum_squared_error
from fastnn.layers import SoftmaxWithLoss
from fastnn.testing import assert_allclose_dtype

# the book's example (chapter 4): the network's output, and the label 2
Y_BOOK = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
Y_BOOK_WRONG = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
T_BOOK = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]


def test_softmax_book_example():
    np.testing.assert_allclose(softmax(np.array([0.3, 2.9, 4.0])),
                               [0.01821127, 0.24519181, 0.73659691], rtol=1e-6)
    assert softmax([1, 2, 3]).dtype == np.float64  # lists and ints are computed in float64


@pytest.mark.parametrize("shape", [(1,), (7,), (1, 1), (5, 3), (2, 3, 4)])
def test_softmax_matches_reference_over_the_last_axis(shape, dtype, rng):
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    y = softmax(x)
    c = shape[-1]
    assert_allclose_dtype(y, ref.softmax_forward(x.reshape(-1, c)).reshape(shape))


def test_softmax_never_overflows(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    with np.errstate(all="raise"):
        y = softmax(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=4 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(y[0], [1, 0, 0])
    np.testing.assert_allclose(y[2], [0.5, 0.5, 0])
    assert np.all(np.isfinite(softmax(np.array([1e4, -1e4]))))


def test_softmax_non_contiguous_and_empty(rng):
    x = rng.standard_normal((6, 8))[::2, ::3]
    assert_allclose_dtype(softmax(x), ref.softmax_forward(np.ascontiguousarray(x)))
    assert softmax(np.zeros((0, 3))).shape == (0, 3)


def test_sum_squared_error_book_example():
    assert sum_squared_error(np.array(Y_BOOK), np.array(T_BOOK)) == pytest.approx(0.0975)
    assert sum_squared_error(np.array(Y_BOOK_WRONG), np.array(T_BOOK)) == pytest.approx(0.5975)
    assert mean_squared_error is sum_squared_error


def test_sum_squared_error_dtype_and_shape(dtype, rng):
    y = rng.random((4, 3)).astype(dtype)
    t = rng.random((4, 3)).astype(dtype)
    got = sum_squared_error(y, t)
    assert got.dtype == dtype
    assert got == pytest.approx(0.5 * np.sum((y.astype(np.float64) - t) ** 2), rel=1e-5)
    with pytest.raises(ValueError, match="t must have the shape of y"):
        sum_squared_error(y, t[:2])


def test_cross_entropy_error_book_example():
    assert cross_entropy_error(np.array(Y_BOOK), np.array(T_BOOK)) == pytest.approx(0.510825457099338)
    assert cross_entropy_error(np.array(Y_BOOK_WRONG), np.array(T_BOOK)) == pytest.approx(2.302584092994546)
    assert cross_entropy_error(np.array(Y_BOOK), 2) == pytest.approx(0.510825457099338)


def test_cross_entropy_error_label_forms_agree(dtype, rng):
    y = ref.softmax_forward(rng.standard_normal((5, 4))).astype(dtype)
    labels = rng.integers(0, 4, 5)
    want = cross_entropy_error(y, labels)
    assert want.dtype == dtype
    assert want == pytest.approx(ref.cross_entropy_labels(y, labels), rel=1e-5)
    for t in (labels.reshape(5, 1), np.eye(4)[labels], list(labels), labels.astype(np.float32)):
        assert cross_entropy_error(y, t) == want
    assert cross_entropy_error(y[:1], np.array([[labels[0]]])) == cross_entropy_error(y[0], labels[0])


def test_cross_entropy_error_soft_targets(dtype, rng):
    y = ref.softmax_forward(rng.standard_normal((5, 4))).astype(dtype)
    t = ref.softmax_forward(rng.standard_normal((5, 4)))
    assert cross_entropy_error(y, t) == pytest.approx(ref.cross_entropy_probs(y, t.astype(dtype)), rel=1e-5)


def test_cross_entropy_error_zero_probability_is_finite(dtype):
    y = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=dtype)
    with np.errstate(all="raise"):
        loss = cross_entropy_error(y, np.array([1, 0]))
    assert np.isfinite(loss)
    assert loss == pytest.approx(-np.log(1e-7), rel=1e-5)  # the book's cap, about 16.1
    assert np.isfinite(cross_entropy_error(y, np.array([[0.5, 0.5], [0.5, 0.5]])))


def test_softmax_loss_is_exact_and_agrees_with_the_composition(dtype, rng):
    x = rng.standard_normal((6, 5)).astype(dtype)
    t = rng.integers(0, 5, 6)
    got = softmax_loss(x, t)
    assert got.dtype == dtype
    assert got == pytest.approx(cross_entropy_error(softmax(x), t), rel=1e-5)  # 1e-7 is tiny here
    assert got == pytest.approx(ref.softmax_loss_labels(x, t)[0], rel=1e-5)
    assert softmax_loss(np.array([0.0, -1e4], dtype=dtype), 1) == 1e4
    assert softmax_loss(np.array([[0.0, -1e4]], dtype=dtype), np.array([[0.0, 1.0]])) == 1e4


def test_losses_reject_bad_input():
    y = np.full((3, 4), 0.25)
    with pytest.raises(ValueError, match=r"labels in \[0, 4\)"):
        cross_entropy_error(y, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="t must be labels of shape"):
        cross_entropy_error(y, np.array([0, 1]))
    with pytest.raises(ValueError, match="y must hold probabilities"):
        cross_entropy_error(-y, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="y must be 1-D or 2-D"):
        cross_entropy_error(np.zeros((2, 2, 2)), np.array([0, 1]))
    with pytest.raises(TypeError, match="y must be"):
        cross_entropy_error(np.array(["a", "b"]), 0)
    with pytest.raises(ValueError, match=r"labels in \[0, 4\)"):
        softmax_loss(y, np.array([0, 1, -1]))
    with pytest.raises(TypeError, match="x must be"):
        softmax(np.array([None, 1]))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        softmax(np.float64(3.0))


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
