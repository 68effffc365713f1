"""fastnn.util: im2col/col2im against the book's algorithm (fastnn.reference), the adjoint identity, helpers."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layouts import _assert_identical, _assert_untouched, _frozen, exact_values, relayout

from fastnn import reference as ref
from fastnn.testing import assert_allclose_dtype
from fastnn.util import col2im, conv_output_size, im2col, shuffle_dataset, smooth_curve


@st.composite
def geometry(draw):
    fh = draw(st.integers(1, 7))
    fw = draw(st.integers(1, 7))
    pad = draw(st.integers(0, 3))
    stride = draw(st.integers(1, 3))
    h = draw(st.integers(max(1, fh - 2 * pad), 11))
    w = draw(st.integers(max(1, fw - 2 * pad), 11))
    return draw(st.integers(1, 3)), draw(st.sampled_from([1, 2, 4])), h, w, fh, fw, stride, pad


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=geometry(), seed=st.integers(0, 2 ** 16))
def test_im2col_col2im_match_the_book_and_are_adjoint(g, seed):
    n, c, h, w, fh, fw, stride, pad = g
    rng = np.random.default_rng(seed)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        col = im2col(x, fh, fw, stride, pad)
        col_ref = ref.im2col(x, fh, fw, stride, pad)
        np.testing.assert_array_equal(col, col_ref)        # a pure copy: exact
        assert col.dtype == dtype
        c_in = rng.standard_normal(col.shape).astype(dtype)
        img = col2im(c_in, x.shape, fh, fw, stride, pad)
        assert_allclose_dtype(img, ref.col2im(c_in, x.shape, fh, fw, stride, pad))
        # adjoint: <im2col(x), c> = <x, col2im(c)>
        lhs = np.sum(col.astype(np.float64) * c_in)
        rhs = np.sum(x.astype(np.float64) * img)
        scale = np.sum(np.abs(col.astype(np.float64) * c_in)) + 1.0
        assert abs(lhs - rhs) <= (1e-12 if dtype == np.float64 else 1e-5) * scale


def test_column_layout_is_the_books():
    # 1 image, 2 channels, 3x3, 2x2 filter: row = (oh, ow), columns = (c, i, j)
    x = np.arange(18, dtype=np.float64).reshape(1, 2, 3, 3)
    col = im2col(x, 2, 2)
    assert col.shape == (4, 8)
    np.testing.assert_array_equal(col[0], [0, 1, 3, 4, 9, 10, 12, 13])
    np.testing.assert_array_equal(col[3], [4, 5, 7, 8, 13, 14, 16, 17])
    col = im2col(x[:, :1], 3, 3, stride=1, pad=1)          # padding shows as zeros
    np.testing.assert_array_equal(col[0], [0, 0, 0, 0, 0, 1, 0, 3, 4])


def test_col2im_accumulates_overlaps():
    img = col2im(np.ones((4, 4)), (1, 1, 3, 3), 2, 2)
    np.testing.assert_array_equal(img[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_im2col_non_contiguous_input(rng):
    x = rng.standard_normal((3, 5, 6, 2)).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(im2col(x, 3, 2, 2, 1), ref.im2col(np.ascontiguousarray(x), 3, 2, 2, 1))


def test_im2col_col2im_reject_bad_input():
    x = np.ones((1, 1, 4, 4))
    with pytest.raises(ValueError, match="input_data must be 4-D"):
        im2col(np.ones((4, 4)), 2, 2)
    with pytest.raises(TypeError, match="input_data must be"):
        im2col(np.ones((1, 1, 4, 4), dtype=int), 2, 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        im2col(x, 5, 2)
    with pytest.raises(ValueError, match="stride must be > 0"):
        im2col(x, 2, 2, stride=0)
    with pytest.raises(ValueError, match="pad must be >= 0"):
        im2col(x, 2, 2, pad=-1)
    with pytest.raises(TypeError, match="filter_h must be an integer"):
        im2col(x, 2.0, 2)
    with pytest.raises(ValueError, match=r"col must have shape \(9, 4\)"):
        col2im(np.ones((9, 5)), (1, 1, 4, 4), 2, 2)
    with pytest.raises(ValueError, match="col must be 2-D"):
        col2im(np.ones(9), (1, 1, 4, 4), 2, 2)
    with pytest.raises(ValueError, match="input_shape must have 4 entries"):
        col2im(np.ones((9, 4)), (1, 4, 4), 2, 2)
    with pytest.raises(ValueError, match="input_shape entry must be > 0"):
        col2im(np.ones((9, 4)), (1, 0, 4, 4), 2, 2)


def test_conv_output_size():
    assert conv_output_size(28, 5) == 24
    assert conv_output_size(28, 3, 1, 1) == 28
    assert conv_output_size(7, 3, stride=2) == 3
    assert isinstance(conv_output_size(28, 5), int)
    with pytest.raises(ValueError, match="stride 2 does not divide .* 3.5"):
        conv_output_size(6, 1, stride=2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_output_size(3, 6, pad=1)
    with pytest.raises(ValueError, match="stride must be > 0"):
        conv_output_size(5, 3, stride=0)
    with pytest.raises(TypeError, match="input_size must be an integer"):
        conv_output_size(5.0, 3)


def test_shuffle_dataset_permutes_pairs_together():
    x = np.arange(20).reshape(10, 2)
    t = np.arange(10)
    xs, ts = shuffle_dataset(x, t, seed=0)
    np.testing.assert_array_equal(xs[:, 0] // 2, ts)        # pairs kept together
    assert sorted(ts.tolist()) == list(range(10)) and not np.array_equal(ts, t)
    xs2, ts2 = shuffle_dataset(x, t, seed=np.random.default_rng(0))
    np.testing.assert_array_equal(ts, ts2)                  # seed and Generator agree
    np.testing.assert_array_equal(t, np.arange(10))         # inputs untouched
    x4 = np.zeros((10, 1, 2, 2))
    assert shuffle_dataset(x4, t)[0].shape == x4.shape
    with pytest.raises(ValueError, match="same number of samples"):
        shuffle_dataset(x, t[:5])
    with pytest.raises(TypeError, match="seed must be None, a non-negative int"):
        shuffle_dataset(x, t, seed="seed")


def test_shuffle_dataset_none_follows_numpy_global_seed_as_the_book():
    x, t = np.arange(30).reshape(15, 2), np.arange(15)
    np.random.seed(7)
    first = shuffle_dataset(x, t)[1]
    np.random.seed(7)
    np.testing.assert_array_equal(first, np.random.permutation(15))   # the book's own call


def test_shuffle_dataset_rng_is_a_deprecated_alias_of_seed():
    x, t = np.arange(20).reshape(10, 2), np.arange(10)
    with pytest.warns(DeprecationWarning, match=r"rng=.*deprecated; pass seed="):
        old = shuffle_dataset(x, t, rng=3)[1]
    np.testing.assert_array_equal(old, shuffle_dataset(x, t, seed=3)[1])
    with pytest.raises(TypeError, match="both seed= and its deprecated alias rng="):
        shuffle_dataset(x, t, seed=1, rng=1)
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="rng must be None"):
        shuffle_dataset(x, t, rng="seed")


def test_smooth_curve_is_the_books():
    x = np.random.default_rng(0).standard_normal(50)
    window_len = 11
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    np.testing.assert_allclose(smooth_curve(x), y[5:len(y) - 5], rtol=0, atol=0)
    assert smooth_curve(list(range(11))).shape == (11,)
    np.testing.assert_allclose(smooth_curve(np.full(20, 3.0)), np.full(20, 3.0))
    with pytest.raises(ValueError, match="at least 11 values"):
        smooth_curve(np.ones(10))
    with pytest.raises(ValueError, match="x must be 1-D"):
        smooth_curve(np.ones((3, 5)))


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
