"""The Convolution layer on numba kernels (NCHW, the book's signature)."""
from __future__ import annotations

import math
import numbers
import threading

import numpy as np

from .. import _runtime
from .._validate import FLOAT_DTYPES, check_scalar, describe_value
from ..util import window_geometry
from . import conv_direct
from .base import Layer

__all__ = ["Convolution", "ALGORITHMS"]

#: The values of ``Convolution.algorithm``.
ALGORITHMS = ("auto", "direct", "winograd", "im2col")

_scratch = threading.local()

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


def weight_grad_cols_first(dtype) -> bool:
    """Whether the weight-gradient GEMM per image runs as cols @ dout.T (K+1, FN) rather than dout @ cols.T:
    in float32 only, where it is the faster order (bench_nets' conv-net steps show it)."""
    return dtype == np.float32


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
    images per thread (``fastnn._runtime.split_over_threads``: Python
    threads, each BLAS call on one thread, numba kernels without the GIL);
    each thread works through its slice a few images at a time (about
    ``fastnn._runtime.CONV_CHUNK_BYTES`` of columns), patches then GEMMs (and in backward, GEMMs
    then the fold), so that the columns are still in cache when they are
    read back. Results do not depend on the thread count.

    Unlike the book's layer, the columns are not kept from forward to
    backward: backward makes each chunk's patches again from the input
    (reading columns back from memory costs as much as making them again in
    cache, and a deep net holds far less memory; ``benchmarks/bench_layers.py``
    times the layer). The chunks' columns, output and dcols live in scratch
    buffers per thread that all Convolution layers share.

    ``x`` is the last forward input as the book keeps it: a view of the
    caller's array (or of its conversion) that fastnn owns, so reshaping the
    caller's array in place cannot change what backward reads. A user who
    assigns ``conv.x`` gets it checked (shape and dtype of the forward input)
    when ``backward`` runs.

    Fusion hook (how ``fastnn.layers.fused`` runs Convolution → Relu →
    Pooling as one pass): ``forward(x, epilogue=...)`` hands the output to
    ``epilogue`` chunk by chunk instead of writing it, and
    ``backward(prologue=...)`` takes the output gradient chunk by chunk from
    ``prologue``. See ``forward`` and ``backward``.

    Attribute ``algorithm`` (default 'auto'; the values in ``ALGORITHMS``):
    how the layer computes, one strategy module each. 'direct'
    (``fastnn.layers.conv_direct``: register-tiled microkernels on
    channel-blocked copies, no columns, no BLAS) covers stride 1 with a
    padding below the filter size; 'winograd' F(2x2, 3x3)
    (``fastnn.kernels.winograd``: input tiles transformed, 16 GEMMs per chunk
    of images, output transform; backward through the adjoint transforms)
    covers 3x3, stride 1, pad <= 2; 'im2col' (the GEMMs below) covers
    everything. 'auto' asks ``fastnn._runtime.conv_algorithm``; a strategy
    that does not cover the layer falls back to im2col. ``algorithm_for(x_shape)``
    says which one runs. The strategies give the convolution within rounding
    (``tests/test_direct.py`` and ``tests/test_winograd.py`` state the
    tolerances), not bit for bit; each gives the same bits for any thread
    count.

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
        self.algorithm = "auto"  # 'auto' (_runtime.conv_algorithm decides), 'direct', 'winograd' or 'im2col'
        self._x = None           # the last forward input (as the book keeps it), a view fastnn owns
        self._x_trusted = True   # False: ``x`` was assigned by a user, checked by backward
        self._geometry = None    # what the last forward saw, for backward
        self._buffers = {}

    @property
    def x(self):
        """The last forward input (N, C, H, W), as the book keeps it (None before a forward)."""
        return self._x

    @x.setter
    def x(self, value):
        self._x, self._x_trusted = value, False

    def _check_params(self):
        """Validate W and b (they may have been replaced since __init__); return W as (FN, C*FH*FW)."""
        W, b = self.W, self.b
        if not isinstance(W, np.ndarray) or W.dtype not in FLOAT_DTYPES:
            raise TypeError(f"W must be a float32 or float64 array, got {describe_value(W)}")
        if W.ndim != 4 or W.size == 0:
            raise ValueError(f"W must be a non-empty 4-D array (FN, C, FH, FW), got shape {W.shape}")
        if not isinstance(b, np.ndarray) or b.dtype != W.dtype:
            raise TypeError(f"b must be an array of W's dtype {W.dtype}, got {describe_value(b)}")
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape ({W.shape[0]},) (one bias per filter), got {b.shape}")
        return np.ascontiguousarray(W).reshape(W.shape[0], -1)

    def _buffer(self, name, shape, dtype):
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype)
            self._buffers[name] = buf
        return buf

    def forward(self, x, epilogue=None):
        """The convolution of ``x`` (N, C, H, W): (N, FN, OH, OW) in W's dtype.

        Fusion hook: with ``epilogue``, the output is never written whole.
        ``epilogue.start(out_shape, dtype)`` is called once, after every
        check and before any work, with the output's (N, FN, OH, OW) and
        dtype (it may raise to refuse); then ``epilogue(lo, hi, chunk)`` is
        called for consecutive image ranges [lo, hi) covering the batch,
        possibly from several threads at once (each range once), with
        ``chunk`` (hi - lo, FN, OH*OW): images lo..hi-1 of the output,
        bias included, in a scratch array valid only during the call.
        ``forward`` then returns what ``start`` returned. The layer keeps
        what its own ``backward`` needs either way.
        """
        return self._forward(x, epilogue, keep=True)

    def infer(self, x, epilogue=None):
        """Inference: ``forward``'s result (with the same fusion hook), keeping nothing for backward; ``x``
        and what backward reads stay as the last ``forward`` left them."""
        return self._forward(x, epilogue, keep=False)

    def _forward(self, x, epilogue, keep):
        w_rows = self._check_params()
        x = self._check_input(x, ndim=4)
        fn, c, fh, fw = self.W.shape
        if x.shape[1] != c:
            raise ValueError(
                f"x has {x.shape[1]} channels but the filters W {self.W.shape} expect {c} "
                f"(x must be (N, C, H, W))")
        stride, pad, oh, ow = window_geometry(x.shape, fh, fw, self.stride, self.pad)
        n = x.shape[0]
        dtype = x.dtype
        if epilogue is None:
            out = result = np.empty((n, fn, oh, ow), dtype=dtype)
        else:
            out, result = None, epilogue.start((n, fn, oh, ow), dtype)
        ran = self._algorithm_for(c, fn, fh, fw, stride, pad, oh, ow)
        if ran == "direct":
            conv_direct.forward(self.W, self.b, x, pad, oh, ow, out, epilogue, _scratch_array)
        elif ran == "winograd":
            self._forward_winograd(x, pad, oh, ow, out, epilogue)
        else:
            self._forward_im2col(x, w_rows, stride, pad, oh, ow, out, epilogue)
        if keep:
            # a view of our own: a caller reshaping its array in place cannot change what backward reads
            self._x, self._x_trusted = x.view(), True
            # everything backward needs, as forward saw it (stride, pad and W are public and may change)
            self._geometry = (x.shape, dtype, self.W.shape, stride, pad, oh, ow)
        return result

    def _forward_im2col(self, x, w_rows, stride, pad, oh, ow, out, epilogue):
        """The forward by im2col GEMMs into ``out`` (N, FN, OH, OW), or chunk by chunk to ``epilogue``."""
        from ..kernels import conv as conv_kernels

        n, c = x.shape[:2]
        fn, _, fh, fw = self.W.shape
        k = c * fh * fw
        dtype = x.dtype
        w_aug = self._buffer("w_aug", (fn, k + 1), dtype)
        w_aug[:, :k] = w_rows
        w_aug[:, k] = self.b
        step = _runtime.conv_chunk((k + 1) * oh * ow * dtype.itemsize)

        def task(lo, hi):
            # patches of a few images, then their GEMMs while the patches are still in cache
            for s in range(lo, hi, step):
                e = min(s + step, hi)
                cols = _scratch_array("cols", (e - s, k + 1, oh * ow), dtype)
                conv_kernels.im2col_images(x[s:e], fh, fw, stride, pad, oh, ow, cols)
                if epilogue is None:
                    np.matmul(w_aug, cols, out=out.reshape(n, fn, oh * ow)[s:e])
                else:
                    chunk = _scratch_array("conv", (e - s, fn, oh * ow), dtype)
                    np.matmul(w_aug, cols, out=chunk)
                    epilogue(s, e, chunk)

        _runtime.split_over_threads(n, n * (k + 1) * oh * ow * fn, task)

    def _checked_x(self, shape, dtype):
        """The ``x`` a user assigned, checked against what the forward saw, C-contiguous."""
        x = self._x
        if not isinstance(x, np.ndarray) or x.shape != shape or x.dtype != dtype:
            raise ValueError(f"Convolution.x must be the forward input, an array of shape {shape} and dtype "
                             f"{dtype}, got {describe_value(x)}")
        return np.ascontiguousarray(x)

    def backward(self, dout=None, prologue=None):
        """dx (N, C, H, W) (None when ``input_grad`` is False); sets ``dW`` and ``db``.

        Fusion hook: with ``prologue`` (and ``dout`` None), the output
        gradient is never read whole: ``prologue(lo, hi)`` is called for
        consecutive image ranges [lo, hi) covering the batch, possibly from
        several threads at once, and returns images lo..hi-1 of the output
        gradient as (hi - lo, FN, OH*OW) in the forward's dtype (it may be a
        scratch array of the caller; it is read before the next call on that
        thread). Its shape is checked.
        """
        from ..kernels import conv as conv_kernels

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
        elif dout is not None:
            raise TypeError("Convolution.backward takes dout or prologue, not both")
        x = self._x if self._x_trusted else self._checked_x(x_shape, dtype)
        ran = self._algorithm_for(c, fn, fh, fw, stride, pad, oh, ow)
        if ran == "direct":
            dx, self.dW, self.db = conv_direct.backward(self.W, x, pad, oh, ow, dout, prologue, self.input_grad)
            return dx
        if ran == "winograd":
            return self._backward_winograd(x, dout, prologue)
        k = c * fh * fw
        cols_first = weight_grad_cols_first(dtype)
        per_image = self._buffer("grad_per_image", (n, k + 1, fn) if cols_first else (n, fn, k + 1), dtype)
        dx = np.empty(x_shape, dtype=dtype) if self.input_grad else None
        w_cols = w_rows.T
        step = _runtime.conv_chunk((k + 1) * oh * ow * dtype.itemsize)

        def task(lo, hi):
            for s in range(lo, hi, step):
                e = min(s + step, hi)
                # the patches again, into cache: cheaper than keeping them all from forward and reading
                # them back from memory
                cols = _scratch_array("cols", (e - s, k + 1, oh * ow), dtype)
                conv_kernels.im2col_images(x[s:e], fh, fw, stride, pad, oh, ow, cols)
                d = dout[s:e] if prologue is None else conv_direct.checked_chunk(prologue, s, e, fn, oh * ow, dtype)
                if cols_first:
                    np.matmul(cols, d.transpose(0, 2, 1), out=per_image[s:e])
                else:
                    np.matmul(d, cols.transpose(0, 2, 1), out=per_image[s:e])
                if dx is not None:
                    dcols = _scratch_array("dcols", (e - s, k, oh * ow), dtype)   # this thread's
                    np.matmul(w_cols, d, out=dcols)
                    conv_kernels.col2im_images(dcols, fh, fw, stride, pad, oh, ow, dx[s:e])

        _runtime.split_over_threads(n, n * (k + 1) * oh * ow * fn, task)
        grad = per_image.sum(axis=0)                      # (FN, K+1): [dW | db]
        if cols_first:
            grad = grad.T
        self.dW = np.ascontiguousarray(grad[:, :k]).reshape(self.W.shape)
        self.db = np.ascontiguousarray(grad[:, k])
        return dx

    # -- Winograd F(2x2, 3x3) -------------------------------------------------------------------
    def algorithm_for(self, x_shape) -> str:
        """'direct', 'winograd' or 'im2col': how a forward of an input shaped ``x_shape`` (N, C, H, W) runs
        (``algorithm``, and for 'auto' ``fastnn._runtime.conv_algorithm``)."""
        fn, c, fh, fw = self.W.shape
        stride, pad, oh, ow = window_geometry(tuple(x_shape), fh, fw, self.stride, self.pad)
        return self._algorithm_for(c, fn, fh, fw, stride, pad, oh, ow)

    def _algorithm_for(self, c, fn, fh, fw, stride, pad, oh, ow) -> str:
        """How this pass runs: ``algorithm``, where it applies ('auto': ``_runtime.conv_algorithm``), else im2col."""
        algorithm = self.algorithm
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(map(repr, ALGORITHMS))}, got {algorithm!r}")
        if algorithm == "auto":
            return _runtime.conv_algorithm(c, fn, fh, fw, stride, pad, oh, ow)
        if algorithm == "direct" and _runtime.direct_covers(fh, fw, stride, pad):
            return "direct"
        if algorithm == "winograd" and _runtime.winograd_covers(fh, fw, stride, pad):
            return "winograd"
        return "im2col"

    def _winograd_chunks(self, n, c, fn, oh, ow, itemsize):
        """(TH, TW, images per chunk, number of chunks) for Winograd over n images."""
        th, tw = (oh + 1) // 2, (ow + 1) // 2
        step = _runtime.winograd_chunk(16 * (c + fn) * th * tw * itemsize)
        return th, tw, step, -(-n // step)

    def _forward_winograd(self, x, pad, oh, ow, out, epilogue):
        """The forward by Winograd into ``out`` (N, FN, OH, OW), or chunk by chunk to ``epilogue``."""
        from ..kernels import winograd as winograd_kernels

        n, c = x.shape[:2]
        fn = self.W.shape[0]
        dtype = x.dtype
        u = self._buffer("winograd_u", (16, fn, c), dtype)
        winograd_kernels.filter_transform(self.W, u)
        b = self.b
        th, tw, step, chunks = self._winograd_chunks(n, c, fn, oh, ow, dtype.itemsize)

        def task(lo, hi):
            for chunk in range(lo, hi):
                s, e = chunk * step, min(n, chunk * step + step)
                tiles = (e - s) * th * tw
                v = _scratch_array("winograd_v", (16, c, tiles), dtype)
                winograd_kernels.input_transform(x[s:e], pad, th, tw, v)
                m = _scratch_array("winograd_m", (16, fn, tiles), dtype)
                np.matmul(u, v, out=m)
                if epilogue is None:
                    winograd_kernels.output_transform(m, b, th, tw, out[s:e])
                else:
                    conv = _scratch_array("conv", (e - s, fn, oh * ow), dtype)
                    winograd_kernels.output_transform(m, b, th, tw, conv.reshape(e - s, fn, oh, ow))
                    epilogue(s, e, conv)

        _runtime.split_over_threads(chunks, n * 16 * c * fn * th * tw, task)

    def _backward_winograd(self, x, dout, prologue):
        """``backward`` by Winograd: dx through the adjoint transforms, dW from the same transformed input."""
        from ..kernels import winograd as winograd_kernels

        x_shape, dtype, w_shape, _, pad, oh, ow = self._geometry
        n, c = x_shape[:2]
        fn = w_shape[0]
        th, tw, step, chunks = self._winograd_chunks(n, c, fn, oh, ow, dtype.itemsize)
        dx = np.empty(x_shape, dtype=dtype) if self.input_grad else None
        if dx is not None:
            u = self._buffer("winograd_u", (16, fn, c), dtype)
            winograd_kernels.filter_transform(self.W, u)
            u_t = self._buffer("winograd_ut", (16, c, fn), dtype)
            u_t[...] = u.transpose(0, 2, 1)
        # one dU per chunk and one db per image, summed in a fixed order: the same for any thread count
        du = self._buffer("winograd_du", (chunks, 16, fn, c), dtype)
        db = self._buffer("winograd_db", (n, fn), dtype)

        def task(lo, hi):
            for chunk in range(lo, hi):
                s, e = chunk * step, min(n, chunk * step + step)
                tiles = (e - s) * th * tw
                d = dout[s:e] if prologue is None else conv_direct.checked_chunk(prologue, s, e, fn, oh * ow, dtype)
                dm = _scratch_array("winograd_m", (16, fn, tiles), dtype)
                winograd_kernels.dout_transform(d.reshape(e - s, fn, oh, ow), th, tw, dm, db[s:e])
                v = _scratch_array("winograd_v", (16, c, tiles), dtype)
                winograd_kernels.input_transform(x[s:e], pad, th, tw, v)
                np.matmul(dm, v.transpose(0, 2, 1), out=du[chunk])
                if dx is not None:
                    dv = _scratch_array("winograd_dv", (16, c, tiles), dtype)
                    np.matmul(u_t, dm, out=dv)
                    winograd_kernels.input_fold(dv, pad, th, tw, dx[s:e])

        _runtime.split_over_threads(chunks, n * 16 * c * fn * th * tw, task)
        dW = np.empty(w_shape, dtype=dtype)
        winograd_kernels.filter_grad_transform(du.sum(axis=0), dW)
        self.dW = dW
        self.db = db.sum(axis=0)
        return dx
