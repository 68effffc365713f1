"""Convolution kernels: im2col / col2im and the pieces around the convolution GEMMs.

Layout is NCHW throughout. ``x`` is (N, C, H, W); a filter bank is
(FN, C, FH, FW); the output is (N, FN, OH, OW) with
``OH = (H + 2*pad - FH) // stride + 1`` (likewise OW). Padding is zero padding,
applied implicitly (nothing padded is ever allocated).

Two column layouts:

* the book's, ``col`` (N*OH*OW, C*FH*FW): rows ordered (n, oh, ow), columns
  (c, fh, fw) — ``im2col`` / ``col2im``, what ``fastnn.util`` exposes;
* its transpose, ``colt`` (C*FH*FW, N*OH*OW) — ``im2col_t`` / ``col2im_t``,
  what the Convolution layer uses. Each row of ``colt`` is, image by image, a
  run of OH*OW output positions, so patch extraction copies contiguous runs of
  an input row (for stride 1) and the convolution is one large GEMM
  ``W (FN, K) @ colt (K, N*P)`` whose (FN, N*P) result is turned into NCHW by
  ``bias_to_nchw`` (bias add fused into the one transpose of the output).

All loops over images run in parallel (``prange``); each iteration owns
whole images (whole rows of the output or whole planes of ``dx``), so the
results do not depend on the number of threads. Kernels do not check
bounds: the caller guarantees shapes agree and ``FH <= H + 2*pad``,
``FW <= W + 2*pad``, ``stride >= 1``, ``pad >= 0``.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True)
def _valid_range(out_size, in_size, offset, stride):
    """Output indices j in [lo, hi) whose input index j*stride + offset lies in [0, in_size)."""
    # lo = ceil(-offset / stride), clamped to >= 0
    lo = 0
    if offset < 0:
        lo = (-offset + stride - 1) // stride
    # hi = floor((in_size - 1 - offset) / stride) + 1, clamped to [lo, out_size]
    last = in_size - 1 - offset
    hi = 0
    if last >= 0:
        hi = last // stride + 1
    if hi > out_size:
        hi = out_size
    if lo > out_size:
        lo = out_size
    if hi < lo:
        hi = lo
    return lo, hi


@njit(parallel=True, cache=True)
def im2col(x, fh, fw, stride, pad, oh_n, ow_n, col):
    """The book's im2col: write the patches of ``x`` into ``col``.

    x : (N, C, H, W); col : (N*OH*OW, C*FH*FW), same dtype, fully overwritten;
    OH, OW = oh_n, ow_n (the caller's floor formula).
    Row n*OH*OW + oh*OW + ow, column (c*FH + i)*FW + j holds
    x[n, c, oh*stride + i - pad, ow*stride + j - pad] (0 outside the image).
    """
    n_img, n_ch, h, w = x.shape
    p_size = oh_n * ow_n
    zero = x.dtype.type(0)
    for n in prange(n_img):
        for oh in range(oh_n):
            for ow in range(ow_n):
                r = n * p_size + oh * ow_n + ow
                for c in range(n_ch):
                    for i in range(fh):
                        y = oh * stride + i - pad
                        base = (c * fh + i) * fw
                        if y < 0 or y >= h:
                            for j in range(fw):
                                col[r, base + j] = zero
                        else:
                            x0 = ow * stride - pad
                            for j in range(fw):
                                xx = x0 + j
                                if xx >= 0 and xx < w:
                                    col[r, base + j] = x[n, c, y, xx]
                                else:
                                    col[r, base + j] = zero


@njit(parallel=True, cache=True)
def col2im(col, fh, fw, stride, pad, oh_n, ow_n, dx):
    """The book's col2im, the adjoint of ``im2col``: sum the patches in ``col`` back into ``dx``.

    col : (N*OH*OW, C*FH*FW); dx : (N, C, H, W), same dtype, fully overwritten
    (zeroed, then every patch entry that falls inside the image is added;
    entries that fall in the padding are dropped).
    """
    n_img, n_ch, h, w = dx.shape
    p_size = oh_n * ow_n
    zero = dx.dtype.type(0)
    for n in prange(n_img):
        for c in range(n_ch):
            for y in range(h):
                for xx in range(w):
                    dx[n, c, y, xx] = zero
        for oh in range(oh_n):
            for ow in range(ow_n):
                r = n * p_size + oh * ow_n + ow
                for c in range(n_ch):
                    for i in range(fh):
                        y = oh * stride + i - pad
                        if y < 0 or y >= h:
                            continue
                        base = (c * fh + i) * fw
                        x0 = ow * stride - pad
                        for j in range(fw):
                            xx = x0 + j
                            if xx >= 0 and xx < w:
                                dx[n, c, y, xx] += col[r, base + j]


@njit(parallel=True, cache=True)
def im2col_t(x, fh, fw, stride, pad, oh_n, ow_n, colt):
    """Transposed im2col: colt[(c*FH + i)*FW + j, n*OH*OW + oh*OW + ow] = x[n, c, oh*s+i-pad, ow*s+j-pad].

    x : (N, C, H, W); colt : (C*FH*FW, N*OH*OW), same dtype, fully overwritten
    (0 where the patch lies in the padding).
    """
    n_img, n_ch, h, w = x.shape
    p_size = oh_n * ow_n
    zero = x.dtype.type(0)
    for n in prange(n_img):
        for c in range(n_ch):
            for i in range(fh):
                ylo, yhi = _valid_range(oh_n, h, i - pad, stride)
                for j in range(fw):
                    k = (c * fh + i) * fw + j
                    xlo, xhi = _valid_range(ow_n, w, j - pad, stride)
                    row = colt[k]
                    for oh in range(oh_n):
                        off = n * p_size + oh * ow_n
                        if oh < ylo or oh >= yhi:
                            for ow in range(ow_n):
                                row[off + ow] = zero
                            continue
                        src = x[n, c, oh * stride + i - pad]
                        for ow in range(xlo):
                            row[off + ow] = zero
                        x0 = j - pad
                        for ow in range(xlo, xhi):
                            row[off + ow] = src[ow * stride + x0]
                        for ow in range(xhi, ow_n):
                            row[off + ow] = zero


@njit(parallel=True, cache=True)
def col2im_t(colt, fh, fw, stride, pad, oh_n, ow_n, dx):
    """Adjoint of ``im2col_t``: dx (N, C, H, W) = sum of the patches in colt (C*FH*FW, N*OH*OW).

    ``dx`` is fully overwritten; patch entries in the padding are dropped.
    """
    n_img, n_ch, h, w = dx.shape
    p_size = oh_n * ow_n
    zero = dx.dtype.type(0)
    for n in prange(n_img):
        for c in range(n_ch):
            plane = dx[n, c]
            for y in range(h):
                for xx in range(w):
                    plane[y, xx] = zero
            for i in range(fh):
                ylo, yhi = _valid_range(oh_n, h, i - pad, stride)
                for j in range(fw):
                    k = (c * fh + i) * fw + j
                    xlo, xhi = _valid_range(ow_n, w, j - pad, stride)
                    row = colt[k]
                    x0 = j - pad
                    for oh in range(ylo, yhi):
                        off = n * p_size + oh * ow_n
                        dst = plane[oh * stride + i - pad]
                        for ow in range(xlo, xhi):
                            dst[ow * stride + x0] += row[off + ow]


@njit(parallel=True, cache=True)
def bias_to_nchw(g, b, out):
    """out[n, f, p] = g[f, n*P + p] + b[f].

    g : (FN, N*P) (the GEMM result W @ colt); b : (FN,); out : (N, FN, P).
    """
    n_img, fn, p_size = out.shape
    for n in prange(n_img):
        for f in range(fn):
            bf = b[f]
            src = g[f]
            dst = out[n, f]
            off = n * p_size
            for p in range(p_size):
                dst[p] = src[off + p] + bf


@njit(parallel=True, cache=True)
def nchw_to_rows_and_sum(dout, dout_t, db):
    """dout_t[f, n*P + p] = dout[n, f, p] and db[f] = sum over n, p of dout[n, f, p].

    dout : (N, FN, P); dout_t : (FN, N*P); db : (FN,). Each f is one parallel
    iteration summing in a fixed order, so db does not depend on the thread
    count. The sum runs in float64 whatever the dtype: it adds N*P terms
    (57,600 for a batch of 100 MNIST images), enough for a float32 running sum
    to lose digits the reference (NumPy's pairwise sum) keeps.
    """
    n_img, fn, p_size = dout.shape
    for f in prange(fn):
        acc = 0.0
        dst = dout_t[f]
        for n in range(n_img):
            src = dout[n, f]
            off = n * p_size
            for p in range(p_size):
                v = src[p]
                dst[off + p] = v
                acc += v
        db[f] = acc
