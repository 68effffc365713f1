"""Dropout: the book's (non-inverted) behaviour, kernels against fastnn.reference, seeding,
mask statistics, fixed masks for gradient checks, bad input."""
import numpy as np
import pytest

from fastnn import reference as ref
from fastnn.layers import Dropout
from fastnn.testing import assert_allclose_dtype, layer_gradient_errors

SHAPES = [(1, 1), (1, 7), (5, 3), (3, 4, 5), (2, 3, 4, 5), (17,), (4, 70_000)]   # the last: the parallel builds


@pytest.mark.parametrize("shape", SHAPES)
def test_matches_reference_and_the_books_draw(shape, dtype, rng):
    """With seed=None the uniforms are the book's np.random.rand(*x.shape)."""
    x = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    layer = Dropout(0.3)
    np.random.seed(42)
    y = layer.forward(x)
    np.random.seed(42)
    u = np.random.rand(*shape)
    y_ref, mask = ref.dropout_forward_train(x, u, 0.3)
    np.testing.assert_array_equal(layer.mask, mask)
    assert_allclose_dtype(y, y_ref)
    assert_allclose_dtype(layer.backward(dout), ref.dropout_backward(dout, mask))
    y = layer.forward(x, train_flg=False)
    assert_allclose_dtype(y, ref.dropout_forward_infer(x, 0.3))
    assert_allclose_dtype(layer.backward(dout), ref.dropout_forward_infer(dout, 0.3))


def test_inference_scales_by_keep_probability(dtype):
    x = np.arange(12, dtype=dtype).reshape(3, 4)
    for ratio in (0.0, 0.25, 0.5, 0.9):
        y = Dropout(ratio).forward(x, train_flg=False)
        assert y.dtype == dtype
        np.testing.assert_allclose(y, x * (1 - ratio), rtol=1e-6)


def test_training_output_is_not_rescaled(rng):
    x = rng.standard_normal((50, 40)) + 3
    layer = Dropout(0.5, seed=0)
    y = layer.forward(x)
    np.testing.assert_array_equal(y[layer.mask], x[layer.mask])
    assert np.all(y[~layer.mask] == 0)


@pytest.mark.parametrize("ratio", [0.1, 0.5, 0.8])
def test_fraction_kept(ratio):
    n = 200_000
    layer = Dropout(ratio, seed=123)
    layer.forward(np.ones(n))
    kept = layer.mask.mean()
    sigma = np.sqrt(ratio * (1 - ratio) / n)
    assert abs(kept - (1 - ratio)) < 5 * sigma, (kept, 1 - ratio)


def test_ratio_zero_keeps_everything(rng):
    x = rng.standard_normal((30, 30))
    np.testing.assert_array_equal(Dropout(0.0, seed=1).forward(x), x)


def test_int_seed_is_reproducible(rng):
    x = rng.standard_normal((20, 30))
    a, b, c = Dropout(0.5, seed=7), Dropout(0.5, seed=7), Dropout(0.5, seed=8)
    masks_a = [a.forward(x) for _ in range(3)]
    masks_b = [b.forward(x) for _ in range(3)]
    for ya, yb in zip(masks_a, masks_b):
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(masks_a[0], masks_a[1])  # a fresh mask every call
    assert not np.array_equal(masks_a[0], c.forward(x))
    np.testing.assert_array_equal(Dropout(0.5, seed=7).forward(x) != 0,
                                  np.random.default_rng(7).random(x.shape) > 0.5)


def test_generator_seed_is_used(rng):
    x = np.ones((10, 10))
    gen = np.random.default_rng(99)
    layer = Dropout(0.4, seed=gen)
    layer.forward(x)
    np.testing.assert_array_equal(layer.mask, np.random.default_rng(99).random((10, 10)) > 0.4)
    state = gen.bit_generator.state
    layer.forward(x)
    assert gen.bit_generator.state != state  # shares the caller's generator


def test_global_seed_makes_runs_reproducible(rng):
    x = rng.standard_normal((8, 9)).astype(np.float32)
    np.random.seed(2024)
    first = [Dropout(0.5).forward(x) for _ in range(2)]
    np.random.seed(2024)
    second = [Dropout(0.5).forward(x) for _ in range(2)]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_non_contiguous_input(rng):
    base = rng.standard_normal((10, 12))
    x = base[::2, ::3]
    layer = Dropout(0.5, seed=3)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, x * layer.mask)
    np.testing.assert_array_equal(Dropout(0.5).forward(x.T, train_flg=False), x.T * 0.5)


def test_assigned_mask_is_honoured_by_backward(rng):
    layer = Dropout(0.5, seed=0)
    layer.forward(rng.standard_normal((3, 4)))
    layer.mask = np.array([[1, 0, 1, 0]] * 3)  # as one could with the book's layer
    dout = np.ones((3, 4))
    np.testing.assert_array_equal(layer.backward(dout), np.array([[1.0, 0, 1, 0]] * 3))


def test_fixed_mask(rng):
    x = rng.standard_normal((4, 6))
    layer = Dropout(0.5, seed=5)
    mask = rng.random((4, 6)) > 0.5
    layer.fix_mask(mask)
    for _ in range(3):
        np.testing.assert_array_equal(layer.forward(x), x * mask)
    mask[:] = True  # the layer holds its own copy
    np.testing.assert_array_equal(layer.forward(x), x * layer.fixed_mask)
    layer.unfix_mask()
    assert not np.array_equal(layer.forward(x), layer.forward(x))
    frozen = layer.fix_mask()  # freeze the last drawn mask
    np.testing.assert_array_equal(layer.forward(x), x * frozen)
    layer.fix_mask(np.ones((4, 6), dtype=np.float32))  # 0/1 numbers are accepted
    np.testing.assert_array_equal(layer.forward(x), x)


def test_backprop_matches_numerical_gradient(rng):
    x = rng.standard_normal((5, 7))
    layer = Dropout(0.5, seed=11)
    layer.forward(x)
    layer.fix_mask()
    errors = layer_gradient_errors(layer, x)
    assert errors["x"] < 1e-7, errors
    errors = layer_gradient_errors(Dropout(0.3), x, {"train_flg": False})
    assert errors["x"] < 1e-7, errors


def test_dtype_is_kept(dtype, rng):
    x = rng.standard_normal((3, 3)).astype(dtype)
    layer = Dropout(0.5, seed=0)
    assert layer.forward(x).dtype == dtype
    assert layer.backward(np.ones((3, 3), dtype=dtype)).dtype == dtype
    assert layer.forward(x, train_flg=False).dtype == dtype


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="dropout_ratio must be < 1"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="dropout_ratio must be >= 0"):
        Dropout(-0.1)
    with pytest.raises(TypeError, match="dropout_ratio must be a real number"):
        Dropout("0.5")
    with pytest.raises(TypeError, match="seed must be None, a non-negative int or a numpy.random.Generator"):
        Dropout(0.5, seed="x")
    with pytest.raises(TypeError, match="seed must be"):
        Dropout(0.5, seed=True)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        Dropout(0.5, seed=-1)
    layer = Dropout(0.5, seed=0)
    with pytest.raises(TypeError, match="x must be"):
        layer.forward(np.array([1, 2, 3]))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros(3))
    with pytest.raises(RuntimeError, match="needs a training forward first"):
        layer.fix_mask()
    layer.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="dout must have the shape"):
        layer.backward(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="mask must be bool or hold only 0 and 1"):
        layer.fix_mask(np.full((2, 3), 2.0))
    layer.fix_mask(np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="the fixed mask has shape"):
        layer.forward(np.zeros((2, 3)))
    layer.unfix_mask()
    layer.forward(np.zeros((2, 3)))
    layer.mask = np.ones((3, 2), dtype=bool)
    with pytest.raises(ValueError, match="mask must have the shape"):
        layer.backward(np.zeros((2, 3)))


def test_a_rebound_dropout_ratio_is_checked_again():
    layer = Dropout(0.5, seed=0)
    layer.dropout_ratio = 5
    with pytest.raises(ValueError, match="Dropout.dropout_ratio must be < 1.0, got 5"):
        layer.forward(np.ones((2, 3)))
    layer.dropout_ratio = "0.2"
    with pytest.raises(TypeError, match="Dropout.dropout_ratio must be a real number"):
        layer.forward(np.ones((2, 3)), train_flg=False)
    layer.dropout_ratio = 0.25
    np.testing.assert_array_equal(layer.forward(np.ones(2), train_flg=False), [0.75, 0.75])
