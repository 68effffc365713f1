"""Convolution kernels: im2col / col2im in the book's layout and in the per-image layout of the conv GEMMs.

Layout is NCHW throughout. ``x`` is (N, C, H, W); a filter bank is
(FN, C, FH, FW); the output is (N, FN, OH, OW) with
``OH = (H + 2*pad - FH) // stride + 1`` (likewise OW). Padding is zero padding,
applied implicitly (nothing padded is ever allocated).

Two column layouts:

* the book's, ``col`` (N*OH*OW, C*FH*FW): rows ordered (n, oh, ow), columns
  (c, fh, fw) — ``im2col`` / ``col2im``, what ``fastnn.util`` exposes;
* per image and transposed, ``cols`` (N, C*FH*FW [+1], OH*OW) —
  ``im2col_images`` / ``col2im_images``, what the Convolution layer uses.
  Each row of an image's block is a run of OH*OW output positions, so patch
  extraction copies contiguous runs of an input row (for stride 1), and
  the convolution is a stack of GEMMs ``[W | b] (FN, K+1) @ cols[n]
  (K+1, OH*OW)`` (one ``np.matmul`` call) whose results are already the
  NCHW output: an optional row of ones carries the bias into the GEMM, so
  there is no transpose and no separate bias pass. Backward is the same
  without transposes: ``dW|db = sum_n dout[n] @ cols[n].T`` and
  ``dcols[n] = W.T @ dout[n]``, folded by ``col2im_images``.

``im2col_images`` / ``col2im_images`` run on the calling thread without
the GIL: the Convolution layer spreads the batch over threads of its own,
interleaving them with its GEMMs chunk by chunk.

The book-layout kernels are built serial and parallel over images
(``fastnn.kernels._twins``); each parallel iteration owns
whole images (their rows of ``col``/``cols``, their planes of ``dx``), so the
results do not depend on the number of threads. Kernels do not check
bounds: the caller guarantees shapes agree and ``FH <= H + 2*pad``,
``FW <= W + 2*pad``, ``stride >= 1``, ``pad >= 0``.
"""
import numpy as np
from numba import prange, uintp

from ._jit import njit
from ._twins import serial_and_parallel


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


def im2col(x, fh, fw, stride, pad, oh_n, ow_n, col):
    """The book's im2col: write the patches of ``x`` into ``col``.

    x : (N, C, H, W); col : (N*OH*OW, C*FH*FW), same dtype, fully overwritten;
    OH, OW = oh_n, ow_n (the caller's floor formula).
    Row n*OH*OW + oh*OW + ow, column (c*FH + i)*FW + j holds
    x[n, c, oh*stride + i - pad, ow*stride + j - pad] (0 outside the image).

    Each image's block is first made transposed, (C*FH*FW, OH*OW), by
    ``_im2col_image`` (long runs of an input row: vectorised copies), then
    transposed into its rows of ``col`` tile by tile (``_transpose_into``).
    Writing the book's layout directly goes position by position in runs
    of FW cells, too short to vectorise (``bench_layers.Im2col`` times it).
    """
    n_img, n_ch = x.shape[0], x.shape[1]
    p_size = oh_n * ow_n
    k_size = n_ch * fh * fw
    for n in prange(n_img):
        block = np.empty((1, k_size, p_size), dtype=x.dtype)
        _im2col_image(x, n, fh, fw, stride, pad, oh_n, ow_n, block, 0)
        _transpose_into(block.reshape(-1), k_size, p_size, col.reshape(-1), n * p_size * k_size)


@njit(cache=True)
def _transpose_into(src, rows, cols, dst, offset):
    """dst[offset + c*rows + r] = src[r*cols + c] for r < rows, c < cols: a (rows, cols) block transposed,
    in square tiles so that both sides stay in cache lines already loaded. Flat arrays, unsigned offsets."""
    tile = 32
    for r0 in range(0, rows, tile):
        r1 = min(r0 + tile, rows)
        for c0 in range(0, cols, tile):
            c1 = min(c0 + tile, cols)
            for c in range(c0, c1):
                out = uintp(offset + c * rows)
                for r in range(r0, r1):
                    dst[out + uintp(r)] = src[uintp(r * cols + c)]


def col2im(col, fh, fw, stride, pad, oh_n, ow_n, dx):
    """The book's col2im, the adjoint of ``im2col``: sum the patches in ``col`` back into ``dx``.

    col : (N*OH*OW, C*FH*FW); dx : (N, C, H, W), same dtype, fully overwritten
    (zeroed, then every patch entry that falls inside the image is added;
    entries that fall in the padding are dropped). Flat arrays and unsigned
    offsets, as ``_im2col_image``.
    """
    n_img, n_ch, h, w = dx.shape
    p_size = oh_n * ow_n
    k_size = n_ch * fh * fw
    src = col.reshape(-1)
    dst = dx.reshape(-1)
    zero = dx.dtype.type(0)
    image = n_ch * h * w
    for n in prange(n_img):
        for q in range(image):
            dst[uintp(n * image + q)] = zero
        for oh in range(oh_n):
            for ow in range(ow_n):
                r = ((n * p_size + oh * ow_n + ow) * k_size)
                x0 = ow * stride - pad
                jlo = max(0, -x0)
                jhi = min(fw, w - x0)
                for c in range(n_ch):
                    for i in range(fh):
                        y = oh * stride + i - pad
                        if y < 0 or y >= h:
                            continue
                        inp = r + (c * fh + i) * fw
                        start = ((n * n_ch + c) * h + y) * w + x0   # dx offset of j = 0
                        for j in range(jlo, jhi):
                            dst[uintp(start + j)] += src[uintp(inp + j)]


@njit(cache=True)
def _copy_rows_as_one_run(src, dst, source, row, ylo, yhi, xlo, xhi, oh_n, ow_n):
    """One patch row of ``_im2col_image`` where output and input rows are equally long (stride 1, "same" width).

    dst[row + oh*OW + ow] = src[source + oh*OW + ow] for oh in [ylo, yhi),
    ow in [xlo, xhi), and 0 elsewhere in the patch row's OH*OW entries.
    Input and output advance by the same row length, so rows ylo..yhi are
    one contiguous run in both: copied whole (one long vectorised loop
    instead of one short loop per row), then the columns that fall in the
    padding, which the run filled from the neighbouring input row, are
    zeroed. The run is clipped so that it reads only rows ylo..yhi of the
    input plane (source + ylo*OW + xlo to source + (yhi-1)*OW + xhi - 1,
    within the plane: the caller's valid ranges guarantee it).
    """
    zero = dst.dtype.type(0)
    if ylo >= yhi or xlo >= xhi:                             # the patch row lies wholly in the padding
        for t in range(row, row + oh_n * ow_n):
            dst[uintp(t)] = zero
        return
    run_lo = ylo * ow_n + xlo
    run_hi = (yhi - 1) * ow_n + xhi
    for t in range(row, row + run_lo):                       # rows above, and the left padding of the first
        dst[uintp(t)] = zero
    for t in range(run_lo, run_hi):
        dst[uintp(row + t)] = src[uintp(source + t)]
    for t in range(row + run_hi, row + oh_n * ow_n):         # the right padding of the last, rows below
        dst[uintp(t)] = zero
    for oh in range(ylo, yhi - 1):                           # padding columns between consecutive rows
        out = row + oh * ow_n
        for ow in range(xhi, ow_n):
            dst[uintp(out + ow)] = zero
        for ow in range(xlo):
            dst[uintp(out + ow_n + ow)] = zero


@njit(cache=True)
def _im2col_image(x, n, fh, fw, stride, pad, oh_n, ow_n, cols, m):
    """Write image ``x[n]``'s column block into ``cols[m]`` (see ``im2col_images``).

    Works on the flat arrays with unsigned offsets: with signed indices numba
    adds a negative-index wrap-around test to every access, which kept LLVM
    from vectorising the row copies (same bits either way). Where input and
    output rows are equally long (stride 1, "same" padding: every
    DeepConvNet layer) a patch row is copied as one run
    (``_copy_rows_as_one_run``; same bits). Benchmark: ``bench_layers.Im2col``
    and ``bench_layers.Convolution``.
    """
    _, n_ch, h, w = x.shape
    k_rows = cols.shape[1]
    n_pos = oh_n * ow_n
    k_size = n_ch * fh * fw
    src = x.reshape(-1)
    dst = cols.reshape(-1)  # reshape, not ravel: it refuses (rather than copies) a non-contiguous array
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    for c in range(n_ch):
        plane = ((n * n_ch + c) * h) * w
        for i in range(fh):
            ylo, yhi = _valid_range(oh_n, h, i - pad, stride)
            for j in range(fw):
                xlo, xhi = _valid_range(ow_n, w, j - pad, stride)
                row = (m * k_rows + (c * fh + i) * fw + j) * n_pos
                if stride == 1 and ow_n == w:
                    _copy_rows_as_one_run(src, dst, plane + (i - pad) * w + j - pad, row, ylo, yhi, xlo, xhi,
                                          oh_n, ow_n)
                    continue
                for oh in range(oh_n):
                    out = uintp(row + oh * ow_n)
                    if oh < ylo or oh >= yhi:
                        for ow in range(ow_n):
                            dst[out + uintp(ow)] = zero
                        continue
                    start = plane + (oh * stride + i - pad) * w + j - pad  # input offset of ow = 0
                    for ow in range(xlo):
                        dst[out + uintp(ow)] = zero
                    if stride == 1:
                        for ow in range(xlo, xhi):
                            dst[out + uintp(ow)] = src[uintp(start + ow)]
                    else:
                        for ow in range(xlo, xhi):
                            dst[out + uintp(ow)] = src[uintp(start + ow * stride)]
                    for ow in range(xhi, ow_n):
                        dst[out + uintp(ow)] = zero
    for k in range(k_size, k_rows):
        row = uintp((m * k_rows + k) * n_pos)
        for p in range(n_pos):
            dst[row + uintp(p)] = one


@njit(cache=True)
def _col2im_image(cols, m, fh, fw, stride, pad, oh_n, ow_n, dx, n):
    """Fold ``cols[m]`` into ``dx[n]``, overwriting it (see ``col2im_images``).

    Flat arrays and unsigned offsets, as ``_im2col_image`` (benchmark:
    ``bench_layers.Im2col.time_backward``).
    """
    _, n_ch, h, w = dx.shape
    k_rows = cols.shape[1]
    n_pos = oh_n * ow_n
    src = cols.reshape(-1)
    dst = dx.reshape(-1)
    zero = dx.dtype.type(0)
    for c in range(n_ch):
        plane = ((n * n_ch + c) * h) * w
        for q in range(h * w):
            dst[uintp(plane + q)] = zero
        for i in range(fh):
            ylo, yhi = _valid_range(oh_n, h, i - pad, stride)
            for j in range(fw):
                xlo, xhi = _valid_range(ow_n, w, j - pad, stride)
                row = (m * k_rows + (c * fh + i) * fw + j) * n_pos
                for oh in range(ylo, yhi):
                    inp = uintp(row + oh * ow_n)
                    start = plane + (oh * stride + i - pad) * w + j - pad  # dx offset of ow = 0
                    if stride == 1:
                        for ow in range(xlo, xhi):
                            dst[uintp(start + ow)] += src[inp + uintp(ow)]
                    else:
                        for ow in range(xlo, xhi):
                            dst[uintp(start + ow * stride)] += src[inp + uintp(ow)]


@njit(nogil=True, cache=True)
def im2col_images(x, fh, fw, stride, pad, oh_n, ow_n, cols):
    """Per-image transposed im2col: cols[n, (c*FH + i)*FW + j, oh*OW + ow] = x[n, c, oh*s+i-pad, ow*s+j-pad].

    x : (N, C, H, W); cols : (N, KC, OH*OW), same dtype, with KC = C*FH*FW
    or C*FH*FW + 1; fully overwritten (0 where the patch lies in the
    padding). With KC = C*FH*FW + 1 the last row of each image's block is all
    ones, so that ``[W | b] @ cols[n]`` adds the bias inside the GEMM.

    Runs on the calling thread without the GIL: the Convolution layer spreads
    the batch over threads of its own, interleaving these with its GEMMs.
    """
    for n in range(x.shape[0]):
        _im2col_image(x, n, fh, fw, stride, pad, oh_n, ow_n, cols, n)


@njit(nogil=True, cache=True)
def col2im_images(cols, fh, fw, stride, pad, oh_n, ow_n, dx):
    """Adjoint of ``im2col_images``: dx (N, C, H, W) = sum of the patches in cols (N, KC, OH*OW).

    Only the first C*FH*FW rows of each block are read (a bias row is
    ignored). ``dx`` is fully overwritten; patch entries in the padding are
    dropped.

    Runs on the calling thread without the GIL: the Convolution layer spreads
    the batch over threads of its own, interleaving these with its GEMMs.
    """
    for n in range(dx.shape[0]):
        _col2im_image(cols, n, fh, fw, stride, pad, oh_n, ow_n, dx, n)


# the book-layout kernels, serial and parallel over images (fastnn.util takes the parallel build for large calls)
im2col, im2col_parallel = serial_and_parallel(im2col)
col2im, col2im_parallel = serial_and_parallel(col2im)
