"""The Convolution layer's direct strategy: channel-blocked layouts and register-tiled microkernels.

``fastnn.kernels.direct`` computes a stride-1 convolution straight from a
zero-padded, channel-blocked copy of the input (no im2col columns, no
GEMM library): each output row is covered by tiles of RW pixels x OB
blocks of L filters whose accumulators stay in vector registers across
the input channels and the filter window. This module makes the blocked
copies, packs the filters, asks ``fastnn._runtime`` for the tile shapes and
the thread split, and hands NCHW results back, so that the layer's public
contract (NCHW in, NCHW out, the book's (FN, C, FH, FW) weights) does not
move.

- forward: a few images at a time, x -> a blocked, padded copy in cache,
  then their output rows (over the threads by images, or by rows when the
  batch is smaller than the threads); with an epilogue (the fused
  Convolution -> Relu -> Pooling stage) each chunk's output is handed over
  while in cache. Nothing is kept but the layer's own x.
- backward: dout -> blocked ``db``, padded by FH-1-pad; dx is the forward
  kernel run on ``db`` with the filters flipped and their channel axes
  swapped; dW sums blocked taps x blocked gradients per (filter block,
  input block, filter row, run of taps), each in a fixed order, over blocks
  of images whose blocked input is made again in cache.
- a layer with few input channels (C*FH <= L: a net's first layer) stacks
  its FH input rows as channels (``stack_rows``), so its microkernel loops
  run over FH*FW*C taps at once.

Results do not depend on the thread count: every output and every partial
sum belongs to one work item, summed in a fixed order; they differ from the
im2col path's in the last bits (another order of the same sums).
``benchmarks/tools/microkernel.py`` measures the microkernels' fraction of
the FMA peak, ``bench_layers.Convolution`` the layer.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import _runtime
from .._validate import describe_value
from ..kernels import direct as direct_kernels

__all__ = ["forward", "backward", "checked_chunk", "pack_filters", "unpack_filters", "stacks", "filters_for",
           "blocked_input", "fill_blocked"]


def _blocks(count: int, size: int) -> int:
    return -(-count // size)


def pack_filters(W, cx: int, lanes: int, ob: int) -> np.ndarray:
    """W (FN, C, FH, FW) as (G, CB, FH, FW*CX, OB*L), zero past FN and C (``fastnn.kernels.direct``'s wb)."""
    fn, c, fh, fw = W.shape
    fnb, cb = _blocks(fn, lanes), _blocks(c, cx)
    g = fnb // ob
    padded = np.zeros((fnb * lanes, cb * cx, fh, fw), dtype=W.dtype)
    padded[:fn, :c] = W
    packed = padded.reshape(g, ob * lanes, cb, cx, fh, fw).transpose(0, 2, 4, 5, 3, 1)
    return np.ascontiguousarray(packed).reshape(g, cb, fh, fw * cx, ob * lanes)


def unpack_filters(dwb, fn: int, c: int, fw: int, cx: int) -> np.ndarray:
    """The inverse of ``pack_filters``: (FN, C, FH, FW) from (G, CB, FH, FW*CX, OB*L)."""
    g, cb, fh, _, obl = dwb.shape
    full = dwb.reshape(g, cb, fh, fw, cx, obl).transpose(0, 5, 1, 4, 2, 3).reshape(g * obl, cb * cx, fh, fw)
    return np.ascontiguousarray(full[:fn, :c])


def stacks(c: int, fh: int, lanes: int) -> bool:
    return fh > 1 and c * fh <= lanes


def filters_for(W, stacked: bool) -> np.ndarray:
    """The filters as the forward kernel sees them: stacked rows make FH x FW filters 1 x FW ones."""
    if not stacked:
        return W
    fn, c, fh, fw = W.shape
    return W.transpose(0, 2, 1, 3).reshape(fn, fh * c, 1, fw)


def _tile_width(ow: int, rw: int) -> int:
    return _blocks(ow, rw) * rw


def _image_shape(c: int, h: int, w: int, pad: int, oh: int, ow: int, fh: int, fw: int, rw: int, lanes: int,
                 stacked: bool) -> tuple:
    """One image's blocked, padded copy (CB, HP, WP, CX), wide enough that every tile's reads stay inside it."""
    wp = max(w + 2 * pad, _tile_width(ow, rw) + fw - 1)
    if stacked:
        return (1, oh, wp, c * fh)
    cx = min(c, lanes)
    return (_blocks(c, cx), h + 2 * pad, wp, cx)


def blocked_input(x, pad: int, oh: int, ow: int, fh: int, fw: int, rw: int, lanes: int, stacked: bool):
    """An empty buffer for x's blocked copy, sized so that every tile's reads stay inside it."""
    n, c, h, w = x.shape
    return np.empty((n,) + _image_shape(c, h, w, pad, oh, ow, fh, fw, rw, lanes, stacked), dtype=x.dtype)


def fill_blocked(x, pad: int, fh: int, xb, stacked: bool) -> None:
    if stacked:
        direct_kernels.stack_rows(x, pad, pad, fh, xb)
    else:
        direct_kernels.to_blocked(x, pad, pad, xb)


def _run_rows(xb, wb, bias, out, fh: int, rw: int, ob: int, lanes: int, n_base: int, lo: int, hi: int) -> None:
    direct_kernels.forward_rows(rw, ob, xb.shape[4], lanes)(xb, wb, bias, out, n_base, lo, hi, fh)


class _Plan(NamedTuple):
    """How one layer's direct pass runs on an input of a given shape."""
    lanes: int
    stacked: bool
    fnb: int          # filter blocks
    rw: int           # forward tile: pixels
    ob: int           # forward tile: filter blocks
    kfh: int          # filter rows the kernel sees (1 for stacked rows)
    image: tuple      # one image's blocked, padded copy (CB, HP, WP, CX)


def _plan(W, x_shape, pad: int, oh: int, ow: int, dtype) -> _Plan:
    _, c, h, w = x_shape
    fn, _, fh, fw = W.shape
    lanes = _runtime.vector_lanes(dtype)
    stacked = stacks(c, fh, lanes)
    fnb = _blocks(fn, lanes)
    rw, ob = _runtime.direct_forward_tile(fnb, ow, dtype)
    image = _image_shape(c, h, w, pad, oh, ow, fh, fw, rw, lanes, stacked)
    return _Plan(lanes, stacked, fnb, rw, ob, 1 if stacked else fh, image)


def forward(W, b, x, pad: int, oh: int, ow: int, out, epilogue, scratch) -> None:
    """The convolution of x (N, C, H, W) into ``out`` (N, FN, OH, OW), or chunk by chunk to ``epilogue``.

    ``scratch(name, shape, dtype)`` gives this thread's work arrays. Nothing
    is kept: backward makes the blocked copies again, a few images at a time
    (as cheap as reading kept ones back from memory, and the net holds no
    second copy of every activation).
    """
    n, c, _, _ = x.shape
    fn, _, fh, fw = W.shape
    dtype = x.dtype
    p = _plan(W, x.shape, pad, oh, ow, dtype)
    wb = pack_filters(filters_for(W, p.stacked), p.image[3], p.lanes, p.ob)
    bias = np.zeros(p.fnb * p.lanes, dtype=dtype)
    bias[:fn] = b
    work = n * fn * c * fh * fw * oh * ow
    if n >= _runtime.threads():
        # a few images at a time: their blocked copy is still in cache when the kernel reads it, their output
        # when the epilogue does
        step = _runtime.conv_chunk((math.prod(p.image) + fn * oh * ow) * dtype.itemsize)

        def by_images(lo, hi):
            for s in range(lo, hi, step):
                e = min(s + step, hi)
                xb = scratch("direct_x", (e - s,) + p.image, dtype)
                fill_blocked(x[s:e], pad, fh, xb, p.stacked)
                if epilogue is None:
                    _run_rows(xb, wb, bias, out, p.kfh, p.rw, p.ob, p.lanes, -s, 0, (e - s) * oh)
                    continue
                chunk = scratch("conv", (e - s, fn, oh, ow), dtype)
                _run_rows(xb, wb, bias, chunk, p.kfh, p.rw, p.ob, p.lanes, 0, 0, (e - s) * oh)
                epilogue(s, e, chunk.reshape(e - s, fn, oh * ow))

        _runtime.split_over_threads(n, work, by_images, _runtime.DIRECT_SPLIT_MACS)
        return
    # fewer images than threads: their rows over the threads, then the epilogue once
    xb = np.empty((n,) + p.image, dtype=dtype)
    fill_blocked(x, pad, fh, xb, p.stacked)
    whole = out if epilogue is None else scratch("conv", (n, fn, oh, ow), dtype)
    _runtime.split_over_threads(
        n * oh, work, lambda lo, hi: _run_rows(xb, wb, bias, whole, p.kfh, p.rw, p.ob, p.lanes, 0, lo, hi),
        _runtime.DIRECT_SPLIT_MACS)
    if epilogue is not None:
        epilogue(0, n, whole.reshape(n, fn, oh * ow))


def backward(W, x, pad: int, oh: int, ow: int, dout, prologue, input_grad: bool):
    """(dx or None, dW, db) from the forward input x and the output gradient: ``dout`` (N, FN, OH*OW) or chunks
    from ``prologue``."""
    n, c, h, w = x.shape
    fn, _, fh, fw = W.shape
    dtype = x.dtype
    p = _plan(W, x.shape, pad, oh, ow, dtype)
    lanes, fnb = p.lanes, p.fnb
    # backward-data reads the gradient padded by FH-1-pad; the weight gradient alone needs no halo
    qh, qw = (fh - 1 - pad, fw - 1 - pad) if input_grad else (0, 0)
    dx_rw, dx_ob = _runtime.direct_forward_tile(_blocks(c, lanes), w, dtype)
    dw = max(ow + 2 * qw, _tile_width(w, dx_rw) + fw - 1) if input_grad else ow
    db = np.empty((n, fnb, oh + 2 * qh, dw, lanes), dtype=dtype)
    bias_parts = np.empty((n, fn), dtype=dtype)
    step = _runtime.conv_chunk((db[0].size + c * h * w) * dtype.itemsize)
    work = n * fn * c * fh * fw * oh * ow

    dx = np.empty(x.shape, dtype=dtype) if input_grad else None
    if dx is not None:
        flipped = np.ascontiguousarray(W.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
        wbt = pack_filters(flipped, lanes, lanes, dx_ob)
        zero_bias = np.zeros(_blocks(c, lanes) * lanes, dtype=dtype)
    dx_by_images = dx is not None and n >= _runtime.threads()

    def gradients_in(lo, hi):
        # a few images at a time: blocked, their bias gradient summed, and (backward-data) their dx computed
        # while the blocked gradient is in cache
        for s in range(lo, hi, step):
            e = min(s + step, hi)
            d = dout[s:e] if prologue is None else checked_chunk(prologue, s, e, fn, oh * ow, dtype)
            direct_kernels.to_blocked(d.reshape(e - s, fn, oh, ow), qh, qw, db[s:e])
            np.sum(d, axis=2, out=bias_parts[s:e])
            if dx_by_images:
                _run_rows(db, wbt, zero_bias, dx, fh, dx_rw, dx_ob, lanes, 0, s * h, e * h)

    _runtime.split_over_threads(n, work, gradients_in, _runtime.DIRECT_SPLIT_MACS)
    if dx is not None and not dx_by_images:   # fewer images than threads: dx's rows over the threads
        _runtime.split_over_threads(
            n * h, work, lambda lo, hi: _run_rows(db, wbt, zero_bias, dx, fh, dx_rw, dx_ob, lanes, 0, lo, hi),
            _runtime.DIRECT_SPLIT_MACS)

    cb, cx = p.image[0], p.image[3]
    taps = fw * cx
    rw, ob = _runtime.direct_weight_tile(fnb, taps, dtype)
    dwb = np.empty((fnb // ob, cb, p.kfh, taps, ob * lanes), dtype=dtype)
    items = (fnb // ob) * cb * p.kfh * (taps // rw)
    grad = direct_kernels.weight_grad(rw, ob, cx, lanes)
    # the batch a block of images at a time: the block's blocked input made again (in cache), every item
    # over it, partial sums in dwb (the same order for any split over threads)
    images = _runtime.conv_chunk((math.prod(p.image) + db[0].size) * dtype.itemsize)
    xb_block = np.empty((min(images, n),) + p.image, dtype=dtype)
    for n0 in range(0, n, images):
        n1 = min(n, n0 + images)
        xb = xb_block[:n1 - n0]
        fill_blocked(x[n0:n1], pad, fh, xb, p.stacked)
        d_block = db[n0:n1]
        _runtime.split_over_threads(
            items, work,
            lambda lo, hi: grad(xb, d_block, qh, qw, oh, ow, dwb, lo, hi, n0 > 0), _runtime.DIRECT_SPLIT_MACS)
    if p.stacked:
        dW = unpack_filters(dwb, fn, c * fh, fw, cx).reshape(fn, fh, c, fw).transpose(0, 2, 1, 3)
        dW = np.ascontiguousarray(dW)
    else:
        dW = unpack_filters(dwb, fn, c, fw, cx)
    return dx, dW, bias_parts.sum(axis=0)


def checked_chunk(prologue, lo, hi, fn, cells, dtype):
    """``prologue(lo, hi)``, checked: a C-contiguous array (hi - lo, FN, OH*OW) of the forward's dtype (the
    fusion hook's contract, for every strategy of the Convolution)."""
    d = prologue(lo, hi)
    if not isinstance(d, np.ndarray) or d.shape != (hi - lo, fn, cells) or d.dtype != dtype \
            or not d.flags.c_contiguous:
        raise ValueError(f"the prologue must return a C-contiguous {dtype} array of shape "
                         f"{(hi - lo, fn, cells)}, got {describe_value(d)}")
    return d
