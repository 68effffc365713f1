"""Pooling (max and avg): layer against fastnn.reference, numerical gradients, tie rule, bad input."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn import reference as ref
from fastnn.layers import AvgPooling, Pooling
from fastnn.testing import assert_allclose_dtype, layer_gradient_errors


@st.composite
def pool_geometry(draw):
    """(N, C, H, W, pool_h, pool_w, stride, pad) with pad < pool size and the window fitting."""
    ph = draw(st.integers(1, 5))
    pw = draw(st.integers(1, 5))
    pad = draw(st.integers(0, min(ph, pw) - 1))
    stride = draw(st.integers(1, 3))
    h = draw(st.integers(max(1, ph - 2 * pad), 11))
    w = draw(st.integers(max(1, pw - 2 * pad), 11))
    n = draw(st.integers(1, 3))
    c = draw(st.integers(1, 4))
    return n, c, h, w, ph, pw, stride, pad


def _reference(mode, x, dout, ph, pw, stride, pad):
    if mode == "max":
        out, arg_max = ref.max_pool_forward(x, ph, pw, stride, pad)
        return out, ref.max_pool_backward(dout, arg_max, x.shape, ph, pw, stride, pad)
    out = ref.avg_pool_forward(x, ph, pw, stride, pad)
    return out, ref.avg_pool_backward(dout, x.shape, ph, pw, stride, pad)


def _check_against_reference(geometry, mode, dtype, seed, ties=False):
    n, c, h, w, ph, pw, stride, pad = geometry
    rng = np.random.default_rng(seed)
    if ties:   # few distinct values: many tied maxima
        x = rng.integers(-2, 3, size=(n, c, h, w)).astype(dtype)
    else:
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
    layer = Pooling(ph, pw, stride=stride, pad=pad, mode=mode)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape).astype(dtype)
    out_ref, dx_ref = _reference(mode, x, dout, ph, pw, stride, pad)
    assert_allclose_dtype(out, out_ref)
    assert_allclose_dtype(layer.backward(dout), dx_ref)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geometry=pool_geometry(), seed=st.integers(0, 2 ** 16), ties=st.booleans())
def test_matches_reference_random_geometry(geometry, seed, ties):
    for mode in ("max", "avg"):
        for dtype in (np.float32, np.float64):
            _check_against_reference(geometry, mode, dtype, seed, ties)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("geometry", [
    (2, 30, 24, 24, 2, 2, 2, 0),   # SimpleConvNet's pooling
    (1, 1, 7, 7, 2, 2, 2, 0),      # odd size: the last row/column dropped (floor)
    (2, 3, 5, 9, 3, 3, 1, 1),      # overlapping windows, padding, H != W
    (1, 2, 6, 4, 4, 2, 3, 1),      # non-square window, stride 3
])
def test_matches_reference_fixed_geometries(geometry, mode, dtype):
    _check_against_reference(geometry, mode, dtype, seed=3)
    _check_against_reference(geometry, mode, dtype, seed=4, ties=True)


def test_output_size_counts_padding():
    assert Pooling(2, 2, stride=2, pad=1).forward(np.ones((1, 1, 4, 6))).shape == (1, 1, 3, 4)
    assert Pooling(3, 3, stride=2).forward(np.ones((1, 1, 7, 8))).shape == (1, 1, 3, 3)


def test_max_padding_never_wins_and_avg_counts_it():
    x = -np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(Pooling(2, 2, stride=1, pad=1).forward(x), -np.ones((1, 1, 3, 3)))
    avg = Pooling(2, 2, stride=1, pad=1, mode="avg").forward(x)
    np.testing.assert_allclose(avg[0, 0], [[-0.25, -0.5, -0.25], [-0.5, -1, -0.5], [-0.25, -0.5, -0.25]])


def test_tie_routes_gradient_to_first_maximum():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = x[0, 0, 1, 1] = 5.0   # three tied maxima in the first window
    layer = Pooling(2, 2)
    layer.forward(x)
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    assert dx[0, 0, 0, 1] == 1.0 and dx[0, 0, 1, 0] == 0.0 and dx[0, 0, 1, 1] == 0.0
    # all-equal windows: the top-left cell of each window
    np.testing.assert_array_equal(dx[0, 0, 2:, 2:], [[1, 0], [0, 0]])
    assert dx.sum() == 4.0
    np.testing.assert_array_equal(layer.argmax[0, 0], [[1, 2], [8, 10]])
    with pytest.raises(ValueError, match="read-only"):
        layer.argmax[0, 0, 0, 0] = 10 ** 6      # backward scatters through it: not writable


def test_tie_rule_is_deterministic_across_runs(rng):
    x = rng.integers(0, 2, size=(4, 3, 9, 9)).astype(np.float32)
    dout = rng.standard_normal((4, 3, 4, 4)).astype(np.float32)
    results = []
    for _ in range(3):
        layer = Pooling(3, 3, stride=2)
        layer.forward(x)
        results.append(layer.backward(dout))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("ph,pw,stride,pad", [(2, 2, 2, 0), (3, 2, 1, 1), (3, 3, 2, 2)])
def test_backprop_matches_numerical_gradient(mode, ph, pw, stride, pad):
    # distinct values far apart: no ties, no argmax switching under a 1e-5 nudge
    n, c, h, w = 2, 2, 6, 5
    x = np.random.default_rng(1).permutation(n * c * h * w).reshape(n, c, h, w) * 0.1
    errors = layer_gradient_errors(Pooling(ph, pw, stride=stride, pad=pad, mode=mode), x)
    assert errors["x"] < 1e-7, errors


def test_avg_pooling_class(rng):
    x = rng.standard_normal((2, 3, 6, 6))
    a = AvgPooling(2, 3, stride=1, pad=1)
    b = Pooling(2, 3, stride=1, pad=1, mode="avg")
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    assert a.mode == "avg" and "AvgPooling" in repr(a)


def test_dtype_kept_and_non_contiguous_input(rng):
    base = rng.standard_normal((2, 8, 6, 3)).astype(np.float32)
    x = base.transpose(0, 3, 1, 2)[:, :, ::2, :]          # (2, 3, 3, 6), strided
    layer = Pooling(2, 2, stride=1)
    out = layer.forward(x)
    assert out.dtype == np.float32
    out_ref, _ = ref.max_pool_forward(np.ascontiguousarray(x), 2, 2, 1, 0)
    assert_allclose_dtype(out, out_ref)
    assert layer.backward(np.ones_like(out)).dtype == np.float32


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="pad must be smaller than the pool size"):
        Pooling(2, 2, pad=2)
    with pytest.raises(ValueError, match="mode must be 'max' or 'avg'"):
        Pooling(2, 2, mode="min")
    with pytest.raises(ValueError, match="pool_h must be > 0"):
        Pooling(0, 2)
    with pytest.raises(TypeError, match="stride must be an integer"):
        Pooling(2, 2, stride=2.0)
    layer = Pooling(3, 3, stride=1)
    with pytest.raises(ValueError, match="x must be 4-D"):
        layer.forward(np.ones((4, 4)))
    with pytest.raises(TypeError, match="x must be"):
        layer.forward(np.ones((1, 1, 4, 4), dtype=np.int32))
    with pytest.raises(ValueError, match="pooling window .* is larger than the padded input"):
        layer.forward(np.ones((1, 1, 2, 5)))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((1, 1, 2, 2)))
    layer.forward(np.ones((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="dout must have the shape"):
        layer.backward(np.ones((1, 1, 3, 2)))


def test_small_work_runs_serially_and_restores_threads(rng):
    import numba
    before = numba.get_num_threads()
    layer = Pooling(2, 2)
    x = rng.standard_normal((1, 1, 4, 4))
    out = layer.forward(x)
    layer.backward(np.ones_like(out))
    assert numba.get_num_threads() == before
