"""The Convolution layer on numba kernels (NCHW, the book's signature)."""
from __future__ import annotations

import math
import numbers
import threading

import numpy as np

from .._batched_gemm import split_over_threads
from .._validate import FLOAT_DTYPES, _describe, check_scalar
from ..util import _window_geometry
from .base import Layer

__all__ = ["Convolution"]

_scratch = threading.local()

#: Bytes of column blocks handled at a time by one thread (patches, then their GEMMs, while in cache).
CHUNK_BYTES = 1 << 20


def _chunk(image_bytes: int) -> int:
    """Images per chunk: as many as fit in CHUNK_BYTES, at least one."""
    return max(1, CHUNK_BYTES // max(1, image_bytes))


def _scratch_array(name, shape, dtype):
    """A work array that lives only during one call, shared by all layers of this thread.

    A chunk of images' columns is dead once its GEMMs ran, backward's dcols
    once folded into dx, a fused stage's chunk of convolution output once
    pooled; one growing buffer per thread, ``name`` and dtype serves every
    layer, instead of one per layer.
    """
    size = math.prod(shape)
    try:
        pool = _scratch.buffers
    except AttributeError:
        pool = _scratch.buffers = {}
    key = (name, dtype)
    buf = pool.get(key)
    if buf is None or buf.size < size:
        buf = pool[key] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


def _bias_for_every_filter(b, W):
    """``b`` unchanged, or a scalar bias as one (FN,) array of W's dtype (``_check_params`` judges the rest)."""
    scalar = isinstance(b, numbers.Real) and not isinstance(b, (bool, np.bool_)) \
        or isinstance(b, np.ndarray) and b.ndim == 0 and b.dtype.kind in "iuf"
    if scalar and isinstance(W, np.ndarray) and W.dtype in FLOAT_DTYPES and W.ndim == 4:
        return np.full(W.shape[0], b, dtype=W.dtype)
    return b


class Convolution(Layer):
    """2-D convolution (cross-correlation, as the book), NCHW.

    Parameters
    ----------
    W : ndarray (FN, C, FH, FW), float32 or float64
        The filters. Kept as the very array given (optimizers update it in
        place; the layer never rebinds it).
    b : ndarray (FN,), same dtype as W; or a number
        The biases, kept likewise. A number (a Python int or float, or a 0-d
        array) is one bias for every filter, as the book's layer broadcasts
        it (``ch07/apply_filter.py`` passes ``b = 0``): the layer then holds
        it as a new (FN,) array of W's dtype.
    stride : int >= 1
    pad : int >= 0
        Zero padding on every side.

    ``forward(x)`` takes x (N, C, H, W) (converted to W's dtype if it is
    another float dtype) and returns (N, FN, OH, OW) with
    OH = (H + 2*pad - FH) // stride + 1 (floor, as the book's im2col; likewise
    OW). ``backward(dout)`` returns dx (N, C, H, W) and sets ``dW`` (the shape
    of W) and ``db`` (FN,).

    The work: each image's patches go into a column block ``cols[n]``
    (C*FH*FW + 1, OH*OW) (the book's ``col`` transposed, image by image, plus
    a row of ones); the forward pass is then a GEMM ``[W | b] @ cols[n]``
    per image whose result is already the NCHW output, bias included.
    Backward: ``[dW | db] = sum_n dout[n] @ cols[n].T`` and
    ``dcols[n] = W.T @ dout[n]`` (GEMMs again, no transposes), then
    ``col2im`` folds dcols into dx. The batch is cut into one slice of whole
    images per thread (``fastnn._batched_gemm.split_over_threads``: Python
    threads, each BLAS call on one thread, numba kernels without the GIL);
    each thread works through its slice a few images at a time (about
    CHUNK_BYTES of columns), patches then GEMMs (and in backward, GEMMs
    then the fold), so that the columns are still in cache when they are
    read back. Results do not depend on the thread count.

    Unlike the book's layer, the columns are not kept from forward to
    backward: backward makes each chunk's patches again from ``x`` (the
    input as forward saw it — like ``Affine``, the caller's array when it
    needed no conversion, so it must not be changed in between). Measured
    on the 2-core machine: as fast (reading back columns written to memory
    in forward cost as much as making them again in cache), and a
    DeepConvNet step at batch 100 holds 104 MB less in float32, 211 MB
    less in float64 (peak RSS 333 -> 229 MB, 494 -> 283 MB). The chunks'
    columns, output and dcols live in scratch buffers per thread that all
    Convolution layers share.

    Attribute ``input_grad`` (default True): set it to False on a net's first
    layer, whose dx nobody uses; ``backward`` then computes only ``dW`` and
    ``db`` (skipping the dcols GEMM and col2im, about half its work) and
    returns None.
    """

    param_names = ("W", "b")

    def __init__(self, W, b, stride=1, pad=0):
        self.W = W
        self.b = _bias_for_every_filter(b, W)
        self.stride = check_scalar(stride, "stride", integer=True, positive=True)
        self.pad = check_scalar(pad, "pad", integer=True, nonnegative=True)
        self._check_params()  # again at every forward/backward: W, b, stride, pad are public attributes
        self.dW = None
        self.db = None
        self.input_grad = True   # False: backward skips dx (for a net's first layer)
        self.x = None            # the last forward input (as the book keeps it)
        self._geometry = None    # what the last forward saw, for backward
        self._buffers = {}

    def _check_params(self):
        """Validate W and b (they may have been replaced since __init__); return W as (FN, C*FH*FW)."""
        W, b = self.W, self.b
        if not isinstance(W, np.ndarray) or W.dtype not in FLOAT_DTYPES:
            raise TypeError(f"W must be a float32 or float64 array, got {_describe(W)}")
        if W.ndim != 4 or W.size == 0:
            raise ValueError(f"W must be a non-empty 4-D array (FN, C, FH, FW), got shape {W.shape}")
        if not isinstance(b, np.ndarray) or b.dtype != W.dtype:
            raise TypeError(f"b must be an array of W's dtype {W.dtype}, got {_describe(b)}")
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape ({W.shape[0]},) (one bias per filter), got {b.shape}")
        return np.ascontiguousarray(W).reshape(W.shape[0], -1)

    def _buffer(self, name, shape, dtype):
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype)
            self._buffers[name] = buf
        return buf

    def forward(self, x):
        return self._forward(x)

    def backward(self, dout):
        return self._backward(dout)

    def _forward(self, x, epilogue=None):
        """Forward pass; with ``epilogue``, the output goes chunk by chunk to it instead.

        ``epilogue(lo, hi, conv)`` receives images [lo, hi) of the output as
        conv (hi - lo, FN, OH*OW), a per-thread scratch array valid only
        during the call, and the method returns None (a fused stage,
        ``fastnn.layers.fused``, makes its own output from them).
        """
        from ..kernels import conv as K

        w_rows = self._check_params()
        x = self._check_input(x, ndim=4)
        fn, c, fh, fw = self.W.shape
        if x.shape[1] != c:
            raise ValueError(
                f"x has {x.shape[1]} channels but the filters W {self.W.shape} expect {c} "
                f"(x must be (N, C, H, W))")
        stride, pad, oh, ow = _window_geometry(x.shape, fh, fw, self.stride, self.pad)
        n = x.shape[0]
        k = c * fh * fw
        dtype = x.dtype
        w_aug = self._buffer("w_aug", (fn, k + 1), dtype)
        w_aug[:, :k] = w_rows
        w_aug[:, k] = self.b
        out = np.empty((n, fn, oh, ow), dtype=dtype) if epilogue is None else None
        step = _chunk((k + 1) * oh * ow * dtype.itemsize)

        def task(lo, hi):
            # patches of a few images, then their GEMMs while the patches are still in cache
            for s in range(lo, hi, step):
                e = min(s + step, hi)
                cols = _scratch_array("cols", (e - s, k + 1, oh * ow), dtype)
                K.im2col_images(x[s:e], fh, fw, stride, pad, oh, ow, cols)
                if epilogue is None:
                    np.matmul(w_aug, cols, out=out.reshape(n, fn, oh * ow)[s:e])
                else:
                    conv = _scratch_array("conv", (e - s, fn, oh * ow), dtype)
                    np.matmul(w_aug, cols, out=conv)
                    epilogue(s, e, conv)

        split_over_threads(n, n * (k + 1) * oh * ow * fn, task)
        self.x = x
        # everything backward needs, as forward saw it (stride, pad and W are public and may change)
        self._geometry = (x.shape, dtype, self.W.shape, stride, pad, oh, ow)
        return out

    def _backward(self, dout, prologue=None):
        """Backward pass; with ``prologue``, dout is None and comes chunk by chunk from it.

        ``prologue(lo, hi)`` returns the gradient of images [lo, hi) of the
        output as (hi - lo, FN, OH*OW) (it may be a per-thread scratch array
        of ``_scratch_array``; it is read before the next call).
        """
        from ..kernels import conv as K

        if self._geometry is None:
            raise RuntimeError("Convolution.backward called before forward")
        w_rows = self._check_params()
        x_shape, dtype, w_shape, stride, pad, oh, ow = self._geometry
        if self.W.shape != w_shape or w_rows.dtype != dtype:
            raise RuntimeError("Convolution.W changed shape or dtype between forward and backward")
        n, c, _, _ = x_shape
        fn, _, fh, fw = w_shape
        if prologue is None:
            dout = self._check_dout(dout, (n, fn, oh, ow), dtype).reshape(n, fn, oh * ow)
        k = c * fh * fw
        x = self.x
        # the weight-gradient GEMM per image as cols @ dout.T (K+1, FN) rather than dout @ cols.T:
        # measured 5-12% faster steps in float32, not in float64 (DeepConvNet 6% slower)
        cols_first = dtype == np.float32
        per_image = self._buffer("grad_per_image", (n, k + 1, fn) if cols_first else (n, fn, k + 1), dtype)
        dx = np.empty(x_shape, dtype=dtype) if self.input_grad else None
        w_cols = w_rows.T
        step = _chunk((k + 1) * oh * ow * dtype.itemsize)

        def task(lo, hi):
            for s in range(lo, hi, step):
                e = min(s + step, hi)
                # the patches again, into cache: cheaper than keeping them all from forward and reading
                # them back from memory
                cols = _scratch_array("cols", (e - s, k + 1, oh * ow), dtype)
                K.im2col_images(x[s:e], fh, fw, stride, pad, oh, ow, cols)
                d = dout[s:e] if prologue is None else prologue(s, e)
                if cols_first:
                    np.matmul(cols, d.transpose(0, 2, 1), out=per_image[s:e])
                else:
                    np.matmul(d, cols.transpose(0, 2, 1), out=per_image[s:e])
                if dx is not None:
                    dcols = _scratch_array("dcols", (e - s, k, oh * ow), dtype)   # this thread's
                    np.matmul(w_cols, d, out=dcols)
                    K.col2im_images(dcols, fh, fw, stride, pad, oh, ow, dx[s:e])

        split_over_threads(n, n * (k + 1) * oh * ow * fn, task)
        grad = per_image.sum(axis=0)                      # (FN, K+1): [dW | db]
        if cols_first:
            grad = grad.T
        self.dW = np.ascontiguousarray(grad[:, :k]).reshape(self.W.shape)
        self.db = np.ascontiguousarray(grad[:, k])
        return dx
