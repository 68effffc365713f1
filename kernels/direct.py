"""Direct convolution on a channel-blocked layout, with register-tiled microkernels (``fastnn.kernels.simd``).

Layouts (all C-contiguous, one float dtype, ``L`` = the vector lanes of
that dtype on this CPU, ``CX`` = the channels of one input block):

* ``xb`` (N, CB, HP, WP, CX): an input, zero-padded. Channel c of the
  book's NCHW array lies in block c // CX, lane c % CX; the spatial halo
  (``top``/``left`` rows and columns, and whatever lies right of and below
  the data) and any channels past C are zeros, so the microkernel never
  tests a border.
* ``wb`` (G, CB, FH, FW*CX, OB*L): a filter bank for output-channel groups
  of OB blocks of L filters; entry [g, ib, kh, kw*CX + ci, o*L + l] is
  W[(g*OB + o)*L + l, ib*CX + ci, kh, kw] (zero past FN or C).
* ``db`` (N, FNB, DH, DW, L): an output gradient, blocked by L filters and
  zero-padded the same way (backward-data reads it as the input of a
  convolution with the flipped filters).

The inner loop of every kernel is ``tile_fma``: an RW x OB tile of
accumulator vectors (RW output pixels of one row x OB blocks of L output
channels, or for the weight gradient RW consecutive (kw, ci) taps x OB
filter blocks) kept in registers across a whole filter row.

Only stride 1. Kernels run without the GIL over a range [lo, hi) of work
items so that the caller can split them over threads
(``fastnn._runtime.split_over_threads``); every item writes outputs no other
item writes and sums in a fixed order, so results do not depend on the
split. Nothing is checked here: the layer (``fastnn.layers.conv_direct``)
sizes every buffer so that each index is in range.

The tile shape (``rw``, ``ob``, ``cx``, ``lanes``) is a compile-time
constant of the microkernel: ``forward_rows(rw, ob, cx, lanes)`` and
``weight_grad(rw, ob, cx, lanes)`` return the kernel for one tile shape,
made once per process and cached on disk by numba like every other kernel
(numba keys a closure's cache entry by the values it closes over).
"""
import numpy as np

from ._jit import njit
from .simd import tile_fma

__all__ = ["to_blocked", "stack_rows", "forward_rows", "weight_grad", "forward_rows_body", "weight_grad_body"]


@njit(nogil=True, cache=True)
def to_blocked(x, top, left, out):
    """out (N, CB, HP, WP, CX) = x (N, C, H, W) placed at rows top.., columns left.., zeros elsewhere.

    Written in out's order (each pixel's CX lanes together, read from CX
    planes of x at once); only the halo and the lanes past C are zeroed.
    """
    n_, c_, h_, w_ = x.shape
    _, cb, hp, wp, cx = out.shape
    zero = out.dtype.type(0)
    for n in range(n_):
        for ib in range(cb):
            lanes = min(cx, c_ - ib * cx)
            for hh in range(hp):
                h = hh - top
                if h < 0 or h >= h_:
                    out[n, ib, hh, :, :] = zero
                    continue
                out[n, ib, hh, :left, :] = zero
                out[n, ib, hh, left + w_:, :] = zero
                for w in range(w_):
                    for ci in range(lanes):
                        out[n, ib, hh, left + w, ci] = x[n, ib * cx + ci, h, w]
                    for ci in range(lanes, cx):
                        out[n, ib, hh, left + w, ci] = zero


@njit(nogil=True, cache=True)
def stack_rows(x, top, left, fh, out):
    """The rows of a few-channel input stacked as channels: out[n, 0, h, left + w, kh*C + c] = xpad[n, c, h + kh, w].

    x (N, C, H, W), xpad its zero padding by ``top`` rows above and below
    and ``left`` columns on each side; out (N, 1, OH, WP, CX) with
    CX >= FH*C, zeros elsewhere. A convolution with FH x FW filters on x is
    one with 1 x FW filters on out: one filter row of FW*FH*C taps instead
    of FH rows of FW*C (a first layer of one channel gets long microkernel
    loops instead of loops of FW steps).
    """
    n_, c_, h_, w_ = x.shape
    oh_ = out.shape[2]
    out[...] = 0
    for n in range(n_):
        for kh in range(fh):
            for c in range(c_):
                lane = kh * c_ + c
                for oh in range(oh_):
                    h = oh + kh - top
                    if 0 <= h < h_:
                        for w in range(w_):
                            out[n, 0, oh, left + w, lane] = x[n, c, h, w]


_made = {}   # (kind, rw, ob, cx, lanes) -> dispatcher: each tile shape's kernel made once per process


def forward_rows(rw, ob, cx, lanes):
    """The forward kernel ``rows(xb, wb, bias, out, n_base, lo, hi, fh)`` of one tile shape (see below)."""
    kernel = _made.get(("rows", rw, ob, cx, lanes))
    if kernel is None:
        @njit(nogil=True, cache=True)
        def rows(xb, wb, bias, out, n_base, lo, hi, fh):
            forward_rows_body(xb, wb, bias, out, n_base, lo, hi, fh, rw, ob, cx, lanes)

        kernel = _made[("rows", rw, ob, cx, lanes)] = rows
    return kernel


@njit(nogil=True, cache=True)
def forward_rows_body(xb, wb, bias, out, n_base, lo, hi, fh, rw, ob, cx, lanes):
    """out[n, co, oh, :] = bias[co] + sum over (ci, kh, kw) of W * xb, for the output rows item in [lo, hi).

    Item = n * OH + oh; image n goes to out[n - n_base]. xb (N, CB, HP, WP, CX) with CX = ``cx``; wb (G, CB,
    FH, FW*CX, OB*L) with FH = ``fh``, OB = ``ob``, L = ``lanes``; bias
    (G*OB*L,); out (N, FN, OH, OW), NCHW. Each row is covered by tiles of
    ``rw`` pixels; the last tile may reach past OW (its extra pixels read
    the zero halo, WP >= ceil(OW / rw) * rw + FW - 1, and are not stored).
    """
    _, cb, hp, wp, _ = xb.shape
    g_n, _, _, taps, _ = wb.shape
    fn, oh_n, ow_n = out.shape[1], out.shape[2], out.shape[3]
    xf = xb.reshape(-1)
    wf = wb.reshape(-1)
    acc = np.empty(rw * ob * lanes, dtype=xb.dtype)
    tiles = (ow_n + rw - 1) // rw
    wrow = taps * ob * lanes
    for item in range(lo, hi):
        n = item // oh_n
        oh = item - n * oh_n
        for g in range(g_n):
            for t in range(tiles):
                ow0 = t * rw
                for r in range(rw):
                    for o in range(ob):
                        for lane in range(lanes):
                            acc[(r * ob + o) * lanes + lane] = bias[(g * ob + o) * lanes + lane]
                for ib in range(cb):
                    for kh in range(fh):
                        xoff = (((n * cb + ib) * hp + oh + kh) * wp + ow0) * cx
                        woff = ((g * cb + ib) * fh + kh) * wrow
                        tile_fma(acc, xf, xoff, cx, 1, wf, woff, ob * lanes, lanes, taps, rw, ob, lanes)
                valid = min(rw, ow_n - ow0)
                for o in range(ob):
                    for lane in range(lanes):
                        co = (g * ob + o) * lanes + lane
                        if co < fn:
                            for r in range(valid):
                                out[n - n_base, co, oh, ow0 + r] = acc[(r * ob + o) * lanes + lane]


def weight_grad(rw, ob, cx, lanes):
    """The weight-gradient kernel ``grad(xb, db, top, left, oh_n, ow_n, dwb, lo, hi, accumulate)`` of one tile
    shape; items are (filter group, input block, filter row, run of ``rw`` taps), see below."""

    kernel = _made.get(("grad", rw, ob, cx, lanes))
    if kernel is None:
        @njit(nogil=True, cache=True)
        def grad(xb, db, top, left, oh_n, ow_n, dwb, lo, hi, accumulate):
            weight_grad_body(xb, db, top, left, oh_n, ow_n, dwb, lo, hi, accumulate, rw, ob, cx, lanes)

        kernel = _made[("grad", rw, ob, cx, lanes)] = grad
    return kernel


@njit(nogil=True, cache=True)
def weight_grad_body(xb, db, top, left, oh_n, ow_n, dwb, lo, hi, accumulate, rw, ob, cx, lanes):
    """dwb[g, ib, kh, j, o*L + l] (+)= sum over (n, oh, ow) of db[n, g*OB + o, top + oh, left + ow, l]
    * xb[n, ib, oh + kh, ow*CX + j] for the items in [lo, hi).

    xb (N, CB, HP, WP, CX) the padded forward input; db (N, FNB, DH, DW, L)
    the blocked output gradient whose (OH, OW) interior starts at row
    ``top``, column ``left``; dwb (G, CB, FH, FW*CX, OB*L), each item's part
    overwritten, or added to with ``accumulate`` (the caller hands the batch
    over in blocks of images small enough to stay in cache, each block's
    partial sums kept in ``dwb``). Tap j = kw*CX + ci of an output pixel ow is
    xb[..., ow*CX + j] along the input row (stride 1). Each item sums its
    images and rows in order: the same bits however the items are split.
    """
    n_n, cb, hp, wp, _ = xb.shape
    fnb, dh, dw = db.shape[1], db.shape[2], db.shape[3]
    g_n, _, fh, taps, _ = dwb.shape
    runs = taps // rw
    xf = xb.reshape(-1)
    df = db.reshape(-1)
    acc = np.empty(rw * ob * lanes, dtype=xb.dtype)
    zero = xb.dtype.type(0)
    plane = dh * dw * lanes
    for item in range(lo, hi):
        run = item % runs
        rest = item // runs
        kh = rest % fh
        rest //= fh
        ib = rest % cb
        g = rest // cb
        j0 = run * rw
        if accumulate:
            for r in range(rw):
                for o in range(ob):
                    for lane in range(lanes):
                        acc[(r * ob + o) * lanes + lane] = dwb[g, ib, kh, j0 + r, o * lanes + lane]
        else:
            acc[:] = zero
        for n in range(n_n):
            for oh in range(oh_n):
                xoff = ((n * cb + ib) * hp + oh + kh) * wp * cx + j0
                doff = ((n * fnb + g * ob) * dh + top + oh) * dw * lanes + left * lanes
                tile_fma(acc, xf, xoff, 1, cx, df, doff, lanes, plane, ow_n, rw, ob, lanes)
        for r in range(rw):
            for o in range(ob):
                for lane in range(lanes):
                    dwb[g, ib, kh, j0 + r, o * lanes + lane] = acc[(r * ob + o) * lanes + lane]
