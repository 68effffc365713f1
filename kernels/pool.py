"""Pooling kernels: max and average pooling, forward and backward, computed directly (no im2col).

Arrays are planes: ``x`` (N*C, H, W), ``out`` (N*C, OH, OW) with
``OH = (H + 2*pad - PH) // stride + 1`` (likewise OW); the caller reshapes
NCHW arrays (free for contiguous ones). Each parallel iteration owns whole
planes, so results do not depend on the number of threads.

The caller guarantees ``1 <= PH <= H + 2*pad``, ``pad < PH`` (likewise for
the width) and ``stride >= 1``: then every window holds at least one cell of
the image, and no index leaves the plane.

Max pooling treats padding as -inf (it never wins) and stores, per output
cell, the flat index y*W + x of the winning input cell. Ties go to the first
maximum in row-major window order (the scan keeps a cell only if it is
strictly greater). NaN is not propagated: comparisons with NaN are false, so
which cell a window with NaN picks is unspecified (checking for NaN in the
scan made it three times slower; a net whose activations hold NaN has
diverged anyway).
Average pooling divides by PH*PW whatever the padding (padded cells count as
0, PyTorch's ``count_include_pad=True``).

Each pooling kernel is built twice (``fastnn.kernels._twins``): serial,
and ``<name>_parallel`` over the planes; the Pooling layer takes the
parallel build from ``fastnn._runtime.ELEMENTWISE_PARALLEL_ELEMENTS`` cells on.

``relu_max_pool`` and ``max_pool_forward_2x2(..., relu=True)`` do ReLU then
max pooling in one pass, for the fused Convolution → Relu → Pooling stage
(``fastnn.layers.fused``), which calls their serial builds on a few images
at a time from threads of its own (no GIL). Their output is max(0, window
maximum) and their ``argmax`` the flat index of the window's first maximum
where that maximum is positive, else -1 ("no gradient"): ``max_pool_backward`` skips negative indices, so it serves
both. The results are bit-identical to ReLU then max pooling.
"""
import numpy as np
from numba import prange

from ._jit import njit
from ._twins import serial_and_parallel


@njit(cache=True, inline="always")
def _window_max(plane, i, j, ph, pw, stride, pad):
    """(maximum, flat index y*W + x of its first occurrence) of window (i, j) of plane (H, W)."""
    h, w = plane.shape
    y0 = i * stride - pad
    ya = max(y0, 0)
    yb = min(y0 + ph, h)
    x0 = j * stride - pad
    xa = max(x0, 0)
    xb = min(x0 + pw, w)
    best = plane[ya, xa]
    best_idx = ya * w + xa
    for y in range(ya, yb):
        row = plane[y]
        for xx in range(xa, xb):
            v = row[xx]
            if v > best:
                best = v
                best_idx = y * w + xx
    return best, best_idx


def max_pool_forward(x, ph, pw, stride, pad, out, argmax):
    """out[p, i, j] = max of the window; argmax[p, i, j] = its flat index in plane p.

    x : (P, H, W); out : (P, OH, OW) same dtype; argmax : (P, OH, OW) int32 or int64.
    """
    n_planes = x.shape[0]
    _, oh_n, ow_n = out.shape
    for p in prange(n_planes):
        plane = x[p]
        for i in range(oh_n):
            for j in range(ow_n):
                out[p, i, j], argmax[p, i, j] = _window_max(plane, i, j, ph, pw, stride, pad)


def relu_max_pool(x, ph, pw, stride, pad, out, argmax):
    """``max_pool_forward`` of max(x, 0), argmax -1 where the window's maximum is <= 0 (see the module doc).

    A kernel of its own rather than a ``relu`` flag of ``max_pool_forward``
    (as ``max_pool_forward_2x2`` has): the flag's test in every window made
    the general kernel's plain pooling 5-10% slower.
    """
    n_planes = x.shape[0]
    _, oh_n, ow_n = out.shape
    zero = x.dtype.type(0)
    for p in prange(n_planes):
        plane = x[p]
        for i in range(oh_n):
            for j in range(ow_n):
                best, best_idx = _window_max(plane, i, j, ph, pw, stride, pad)
                alive = best > zero
                out[p, i, j] = best if alive else zero
                argmax[p, i, j] = best_idx if alive else -1


@njit(cache=True, inline="always")
def _max_2x2(r0, r1, j, zero, one, below):
    """(maximum, offset of its first occurrence: 0, 1, W or W+1, as a float) of the 2x2 window
    at columns 2j, 2j+1 of rows r0, r1; ``below`` is W in the rows' dtype."""
    a = r0[2 * j]
    b = r0[2 * j + 1]
    c = r1[2 * j]
    d = r1[2 * j + 1]
    top = b > a
    m_top = b if top else a
    off_top = one if top else zero
    bottom = d > c
    m_bottom = d if bottom else c
    off_bottom = below + one if bottom else below
    low = m_bottom > m_top
    return (m_bottom if low else m_top), (off_bottom if low else off_top)


def max_pool_forward_2x2(x, relu, out, argmax):
    """``max_pool_forward`` for the common case 2x2 windows, stride 2, no padding; with ``relu``,
    of max(x, 0) (argmax -1 where the window's maximum is <= 0, see the module docstring).

    Same results (ties to the first cell in row-major order); written as
    selects so that LLVM vectorises it. The winner's index is selected as a
    float of x's dtype and converted at the end: selecting integers under
    float64 masks kept LLVM from vectorising (benchmark:
    ``bench_layers.Pooling``). x : (P, H,
    W) with H*W <= 2**24 (every index exact in float32); out, argmax :
    (P, H // 2, W // 2).
    """
    n_planes, h, w = x.shape
    _, oh_n, ow_n = out.shape
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    below = x.dtype.type(w)
    no_cell = x.dtype.type(-1)
    for p in prange(n_planes):
        plane = x[p]
        for i in range(oh_n):
            r0 = plane[2 * i]
            r1 = plane[2 * i + 1]
            orow = out[p, i]
            arow = argmax[p, i]
            base = x.dtype.type(2 * i * w)
            for j in range(ow_n):
                m, off = _max_2x2(r0, r1, j, zero, one, below)
                alive = not relu or m > zero
                orow[j] = m if alive else zero
                arow[j] = np.int32(base + x.dtype.type(2 * j) + off if alive else no_cell)


def max_pool_infer(x, ph, pw, stride, pad, relu, out):
    """Inference: out[p, i, j] = the window's maximum (of max(x, 0) with ``relu``), no argmax kept.

    x : (P, H, W); out : (P, OH, OW). The same values as ``max_pool_forward`` / ``relu_max_pool``.
    """
    n_planes = x.shape[0]
    _, oh_n, ow_n = out.shape
    zero = x.dtype.type(0)
    for p in prange(n_planes):
        plane = x[p]
        for i in range(oh_n):
            for j in range(ow_n):
                best, _ = _window_max(plane, i, j, ph, pw, stride, pad)
                out[p, i, j] = zero if relu and not best > zero else best


def max_pool_infer_2x2(x, relu, out):
    """Inference for 2x2 windows, stride 2, no padding: ``max_pool_forward_2x2``'s values, no argmax.

    x : (P, H, W); out : (P, H // 2, W // 2).
    """
    n_planes = x.shape[0]
    _, oh_n, ow_n = out.shape
    zero = x.dtype.type(0)
    for p in prange(n_planes):
        plane = x[p]
        for i in range(oh_n):
            r0 = plane[2 * i]
            r1 = plane[2 * i + 1]
            orow = out[p, i]
            for j in range(ow_n):
                a = r0[2 * j]
                b = r0[2 * j + 1]
                c = r1[2 * j]
                d = r1[2 * j + 1]
                m_top = b if b > a else a
                m_bottom = d if d > c else c
                m = m_bottom if m_bottom > m_top else m_top
                orow[j] = m if not relu or m > zero else zero


def max_pool_backward(dout, argmax, dx):
    """dx[p] = sum over output cells k of dout[p, k] at flat index argmax[p, k], skipping argmax < 0.

    dout, argmax : (P, OH*OW); dx : (P, H*W), fully overwritten.
    """
    n_planes, m = dout.shape
    hw = dx.shape[1]
    zero = dx.dtype.type(0)
    for p in prange(n_planes):
        dst = dx[p]
        for k in range(hw):
            dst[k] = zero
        src = dout[p]
        idx = argmax[p]
        for k in range(m):
            cell = idx[k]
            if cell >= 0:
                dst[cell] += src[k]


def avg_pool_forward(x, ph, pw, stride, pad, out):
    """out[p, i, j] = (sum of the window's cells inside the image) / (PH*PW).

    x : (P, H, W); out : (P, OH, OW), same dtype.
    """
    n_planes, h, w = x.shape
    _, oh_n, ow_n = out.shape
    inv = x.dtype.type(1.0 / (ph * pw))
    zero = x.dtype.type(0)
    for p in prange(n_planes):
        plane = x[p]
        for i in range(oh_n):
            y0 = i * stride - pad
            ya = max(y0, 0)
            yb = min(y0 + ph, h)
            for j in range(ow_n):
                x0 = j * stride - pad
                xa = max(x0, 0)
                xb = min(x0 + pw, w)
                s = zero
                for y in range(ya, yb):
                    row = plane[y]
                    for xx in range(xa, xb):
                        s += row[xx]
                out[p, i, j] = s * inv


def avg_pool_backward(dout, ph, pw, stride, pad, dx):
    """dx = adjoint of ``avg_pool_forward``: each window adds dout/(PH*PW) to its cells.

    dout : (P, OH, OW); dx : (P, H, W), fully overwritten.
    """
    n_planes, h, w = dx.shape
    _, oh_n, ow_n = dout.shape
    inv = dx.dtype.type(1.0 / (ph * pw))
    zero = dx.dtype.type(0)
    for p in prange(n_planes):
        plane = dx[p]
        for y in range(h):
            for xx in range(w):
                plane[y, xx] = zero
        for i in range(oh_n):
            y0 = i * stride - pad
            ya = max(y0, 0)
            yb = min(y0 + ph, h)
            for j in range(ow_n):
                x0 = j * stride - pad
                xa = max(x0, 0)
                xb = min(x0 + pw, w)
                g = dout[p, i, j] * inv
                for y in range(ya, yb):
                    row = plane[y]
                    for xx in range(xa, xb):
                        row[xx] += g


# nogil: the fused stage calls the max-pooling serial builds from several threads at once
max_pool_forward, max_pool_forward_parallel = serial_and_parallel(max_pool_forward)
relu_max_pool, relu_max_pool_parallel = serial_and_parallel(relu_max_pool, nogil=True)
max_pool_forward_2x2, max_pool_forward_2x2_parallel = serial_and_parallel(max_pool_forward_2x2, nogil=True)
max_pool_backward, max_pool_backward_parallel = serial_and_parallel(max_pool_backward, nogil=True)
max_pool_infer, max_pool_infer_parallel = serial_and_parallel(max_pool_infer, nogil=True)
max_pool_infer_2x2, max_pool_infer_2x2_parallel = serial_and_parallel(max_pool_infer_2x2, nogil=True)
avg_pool_forward, avg_pool_forward_parallel = serial_and_parallel(avg_pool_forward)
avg_pool_backward, avg_pool_backward_parallel = serial_and_parallel(avg_pool_backward)
