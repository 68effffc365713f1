"""fastnn._batched_gemm.stacked_matmul: np.matmul's results, bit for bit, for any thread count."""
import numba
import numpy as np
import pytest

import fastnn.layers  # noqa: F401  (the thread policy: BLAS on one thread)
from fastnn import _batched_gemm as G


@pytest.fixture
def always_split(monkeypatch):
    monkeypatch.setattr(G, "SPLIT_WORK_LIMIT", 0)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
@pytest.mark.parametrize("form", ["2d@3d", "3d@3d_t", "2d_t@3d"])
def test_stacked_matmul_matches_matmul(dtype, rng, always_split, n, form):
    m, k, p = 5, 9, 11
    if form == "2d@3d":
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((n, k, p)).astype(dtype)
    elif form == "3d@3d_t":        # the weight gradient: dout @ cols.T, a transposed view
        a = rng.standard_normal((n, m, k)).astype(dtype)
        b = rng.standard_normal((n, p, k)).astype(dtype).transpose(0, 2, 1)
    else:                          # the input gradient: W.T @ dout
        a = rng.standard_normal((k, m)).astype(dtype).T
        b = rng.standard_normal((n, k, p)).astype(dtype)
    expected = np.matmul(a, b)
    out = np.full((n, m, p), np.nan, dtype=dtype)
    threads = numba.get_num_threads()
    for t in sorted({1, threads}):
        numba.set_num_threads(t)
        try:
            got = G.stacked_matmul(a, b, out)
        finally:
            numba.set_num_threads(threads)
        assert got is out
        np.testing.assert_array_equal(out, expected)


def test_stacked_matmul_small_work_runs_inline(dtype, rng):
    a = rng.standard_normal((2, 3)).astype(dtype)
    b = rng.standard_normal((4, 3, 2)).astype(dtype)
    out = np.empty((4, 2, 2), dtype=dtype)
    np.testing.assert_array_equal(G.stacked_matmul(a, b, out), np.matmul(a, b))


@pytest.mark.parametrize("geometry", [
    (5, 3, 9, 7, 4, 3, 3, 1, 1),       # odd batch over the threads, one image a chunk
    (4, 2, 10, 8, 3, 4, 2, 2, 2),      # stride 2, pad, H != W
])
@pytest.mark.parametrize("input_grad", [True, False])
def test_convolution_split_over_threads_gives_the_same_bits(dtype, rng, monkeypatch, geometry, input_grad):
    """The Convolution layer's threaded, chunked path equals its one-call path bit for bit, and the reference."""
    from fastnn import reference as ref
    from fastnn.layers import Convolution
    from fastnn.layers import conv as conv_module
    from fastnn.testing import assert_allclose_dtype

    n, c, h, w, fn, fh, fw, stride, pad = geometry
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    W = rng.standard_normal((fn, c, fh, fw)).astype(dtype)
    b = rng.standard_normal(fn).astype(dtype)
    dout = None
    results = []
    for split in (False, True):
        with monkeypatch.context() as m:
            if split:
                m.setattr(G, "SPLIT_WORK_LIMIT", 0)
                m.setattr(conv_module, "CHUNK_BYTES", 1)
            layer = Convolution(W, b, stride=stride, pad=pad)
            layer.input_grad = input_grad
            out = layer.forward(x)
            if dout is None:
                dout = rng.standard_normal(out.shape).astype(dtype)
            dx = layer.backward(dout)
            results.append((out, dx, layer.dW, layer.db))
    (out0, dx0, dW0, db0), (out1, dx1, dW1, db1) = results
    np.testing.assert_array_equal(out1, out0)
    np.testing.assert_array_equal(dW1, dW0)
    np.testing.assert_array_equal(db1, db0)
    if input_grad:
        np.testing.assert_array_equal(dx1, dx0)
    else:
        assert dx0 is None and dx1 is None
    out_ref, _, _ = ref.conv_forward(x, W, b, stride, pad)
    dx_ref, dW_ref, db_ref = ref.conv_backward(dout, x, W, stride, pad)
    assert_allclose_dtype(out1, out_ref)
    assert_allclose_dtype(dW1, dW_ref)
    assert_allclose_dtype(db1, db_ref)
    if input_grad:
        assert_allclose_dtype(dx1, dx_ref)
