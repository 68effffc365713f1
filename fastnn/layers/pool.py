"""Pooling layers on numba kernels: max pooling (the book's Pooling) and average pooling."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _runtime
from .._validate import as_float_array, check_scalar
from ..util import window_geometry
from .base import Layer


class PoolWindow(NamedTuple):
    """A pooling window on one input shape, checked (``Pooling.window``): sizes, stride, pad and output size."""

    ph: int
    pw: int
    stride: int
    pad: int
    oh: int
    ow: int


class _ForwardRecord(NamedTuple):
    """What a forward pass ran with, kept for ``backward`` whatever the attributes become meanwhile."""

    x_shape: tuple
    dtype: np.dtype
    mode: str
    ph: int
    pw: int
    stride: int
    pad: int


# fastnn.kernels.pool (tens of ms to import, like every kernel module) is imported by the functions below on
# the first pooling: ``import fastnn.layers`` does not pay for it in a net without pooling.

__all__ = ["Pooling", "AvgPooling", "PoolWindow"]

_MODES = ("max", "avg")


def max_pool_planes(planes, ph, pw, stride, pad, relu, out, argmax, size):
    """Max pooling of planes (P, H, W) into out and argmax (P, OH, OW) — of max(planes, 0) with ``relu``
    (see ``fastnn.kernels.pool``) — by the vectorised 2x2 kernel where it applies, else the general one.

    ``size``: the elements the call covers, which picks the kernel's parallel build from
    ``fastnn._runtime.ELEMENTWISE_PARALLEL_ELEMENTS`` on; 0 for the serial build (a caller on threads of its own).
    """
    from ..kernels import pool as pool_kernels

    h, w = planes.shape[1:]
    # the conv nets' pooling; the 2x2 kernel carries the index in x's dtype, exact in float32 up to 2**24
    if ph == pw == stride == 2 and pad == 0 and h * w <= 2 ** 24:
        _runtime.elementwise_kernel(pool_kernels, "max_pool_forward_2x2", size)(planes, relu, out, argmax)
    else:
        _runtime.elementwise_kernel(pool_kernels, "relu_max_pool" if relu else "max_pool_forward", size)(
            planes, ph, pw, stride, pad, out, argmax)


def max_pool_planes_infer(planes, ph, pw, stride, pad, relu, out, size):
    """``max_pool_planes`` for inference: the same out, no argmax (``fastnn.kernels.pool``'s infer kernels)."""
    from ..kernels import pool as pool_kernels

    if ph == pw == stride == 2 and pad == 0:
        _runtime.elementwise_kernel(pool_kernels, "max_pool_infer_2x2", size)(planes, relu, out)
    else:
        _runtime.elementwise_kernel(pool_kernels, "max_pool_infer", size)(planes, ph, pw, stride, pad, relu, out)


class Pooling(Layer):
    """Max (default) or average pooling over pool_h x pool_w windows, NCHW.

    Parameters
    ----------
    pool_h, pool_w : int >= 1
        Window size.
    stride : int >= 1
        Default 2, as the book's current code.
    pad : int, 0 <= pad < min(pool_h, pool_w)
        Padding on every side. Unlike the book (which ignores it when sizing
        the output), padding counts: OH = (H + 2*pad - pool_h) // stride + 1
        (floor, as the book's im2col), likewise OW. Max pooling treats padded
        cells as -inf (they never win); average pooling counts them as 0 and
        always divides by pool_h*pool_w (PyTorch's default
        ``count_include_pad=True``).
    mode : 'max' or 'avg'

    ``forward(x)`` takes x (N, C, H, W) float32/float64 and returns
    (N, C, OH, OW) of the same dtype; ``backward(dout)`` returns dx (N, C, H, W).
    Max pooling sends each window's gradient to one cell: the first maximum
    in row-major window order (ties are resolved the same way every run;
    with NaN in a window, which cell wins is unspecified: NaN is not
    propagated). Its
    ``argmax`` attribute (N, C, OH, OW) int32 holds the flat index h*W + w of
    that cell in its image plane (-1: no gradient, after a fused stage whose
    ReLU output was 0 in the whole window). The layer's own ``argmax`` is
    read-only; one assigned by a user is checked (shape, integer dtype, every
    index in [-1, H*W)) when ``backward`` runs.

    The pooling parameters are public and re-checked at every call.
    """

    def __init__(self, pool_h, pool_w, stride=2, pad=0, mode="max"):
        self.pool_h = check_scalar(pool_h, "pool_h", integer=True, positive=True)
        self.pool_w = check_scalar(pool_w, "pool_w", integer=True, positive=True)
        self.stride = check_scalar(stride, "stride", integer=True, positive=True)
        self.pad = check_scalar(pad, "pad", integer=True, nonnegative=True)
        if self.pad >= self.pool_h or self.pad >= self.pool_w:
            raise ValueError(
                f"pad must be smaller than the pool size {self.pool_h}x{self.pool_w} "
                f"(else a window could lie wholly in the padding), got pad={self.pad}")
        if mode not in _MODES:
            raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
        self.mode = mode
        self.x = None
        self._argmax = None
        self._trusted = True    # False: argmax was assigned or recorded from outside, checked by backward
        self._out_shape = None

    @property
    def argmax(self):
        """(N, C, OH, OW) int32: flat index h*W + w of each window's winning cell (max mode); read-only."""
        return self._argmax

    @argmax.setter
    def argmax(self, value):
        self._argmax, self._trusted = value, False

    def forward_ran_elsewhere(self, x_shape, dtype, argmax):
        """Record a max-pooling forward that a fused stage ran in this layer's place.

        ``x_shape``: the input's (N, C, H, W); ``argmax``: (N, C, OH, OW) int
        indices as ``forward`` makes them (-1 for no gradient). ``backward``
        then works as after a forward of its own; the indices are checked
        when it runs.
        """
        x_shape = tuple(x_shape)
        ph, pw, stride, pad, oh, ow = self.window(x_shape)
        if self.mode != "max":
            raise ValueError(f"forward_ran_elsewhere records a max pooling, but mode is {self.mode!r}")
        self.x = None
        self._argmax, self._trusted = argmax, False
        self._out_shape = (x_shape[0], x_shape[1], oh, ow)
        self._window = _ForwardRecord(x_shape, np.dtype(dtype), "max", ph, pw, stride, pad)

    def _checked_argmax(self, out_shape, plane_size):
        """The argmax a user assigned, as int32 (N*C, OH*OW) ready for the kernel, or an error."""
        a = self._argmax
        if a is None:
            raise RuntimeError("Pooling.argmax is None: run forward before backward")
        a = np.asarray(a)
        if a.shape != out_shape:
            raise ValueError(f"Pooling.argmax must have the forward output's shape {out_shape}, got {a.shape}")
        if a.dtype.kind not in "iu":
            raise TypeError(f"Pooling.argmax must hold integer indices, got dtype {a.dtype}")
        if a.size and (a.min() < -1 or a.max() >= plane_size):
            raise ValueError(f"Pooling.argmax must hold flat indices in [-1, {plane_size}) (H*W of the input), "
                             f"got values from {a.min()} to {a.max()}")
        return np.ascontiguousarray(a, dtype=np.int32)

    def window(self, shape):
        """The ``PoolWindow`` (PH, PW, stride, pad, OH, OW) of this pooling on input of ``shape`` (N, C, H, W), checked.

        Raises the errors ``forward`` raises for such an input (a window larger
        than the padded image, a pad not smaller than the window, a bad mode):
        pool_h, pool_w, stride, pad and mode are re-checked at every call, as
        public attributes a user may have changed since __init__.
        """
        h, w = shape[2:]
        if h * w >= 2 ** 31:
            raise ValueError(f"x's image planes are too large ({h}x{w}) for int32 indices")
        stride, pad, oh, ow = window_geometry(
            shape, self.pool_h, self.pool_w, self.stride, self.pad,
            names=("pool_h", "pool_w"), what="pooling window")
        ph, pw = int(self.pool_h), int(self.pool_w)
        if pad >= ph or pad >= pw:
            raise ValueError(f"pad must be smaller than the pool size {ph}x{pw}, got pad={pad}")
        if self.mode not in _MODES:
            raise ValueError(f"mode must be 'max' or 'avg', got {self.mode!r}")
        return PoolWindow(ph, pw, stride, pad, oh, ow)

    def _planes_and_output(self, x):
        """x checked, its (N*C, H, W) planes, an empty (N, C, OH, OW) output and the window geometry."""
        x = as_float_array(x, "x", ndim=4)
        n, c, h, w = x.shape
        geometry = self.window(x.shape)
        return x, x.reshape(n * c, h, w), np.empty((n, c, geometry.oh, geometry.ow), dtype=x.dtype), geometry

    def forward(self, x):
        from ..kernels import pool as pool_kernels

        x, planes, out, (ph, pw, stride, pad, oh, ow) = self._planes_and_output(x)
        n, c = x.shape[:2]
        if self.mode == "max":
            argmax = np.empty((n * c, oh, ow), dtype=np.int32)
            max_pool_planes(planes, ph, pw, stride, pad, False, out.reshape(n * c, oh, ow), argmax, x.size)
            argmax.flags.writeable = False   # backward scatters through these indices: nobody may change them
            self._argmax, self._trusted = argmax.reshape(n, c, oh, ow), True
        else:
            _runtime.elementwise_kernel(pool_kernels, "avg_pool_forward", x.size)(planes, ph, pw, stride, pad, out.reshape(n * c, oh, ow))
        self.x = x
        self._out_shape = out.shape
        self._window = _ForwardRecord(x.shape, x.dtype, self.mode, ph, pw, stride, pad)  # for backward, whatever changes later
        return out

    def backward(self, dout):
        from ..kernels import pool as pool_kernels

        if self._out_shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        x_shape, x_dtype, mode, ph, pw, stride, pad = self._window
        dout = self._check_dout(dout, self._out_shape, x_dtype)
        n, c, h, w = x_shape
        oh, ow = self._out_shape[2:]
        dx = np.empty(x_shape, dtype=dout.dtype)
        if mode == "max":
            argmax = self._argmax if self._trusted else self._checked_argmax(self._out_shape, h * w)
            _runtime.elementwise_kernel(pool_kernels, "max_pool_backward", dx.size)(
                dout.reshape(n * c, oh * ow), argmax.reshape(n * c, oh * ow), dx.reshape(n * c, h * w))
        else:
            _runtime.elementwise_kernel(pool_kernels, "avg_pool_backward", dx.size)(
                dout.reshape(n * c, oh, ow), ph, pw, stride, pad, dx.reshape(n * c, h, w))
        return dx

    def infer(self, x):
        """``forward``'s output without argmax; the last forward's state stays as it was."""
        from ..kernels import pool as pool_kernels

        x, planes, out, (ph, pw, stride, pad, oh, ow) = self._planes_and_output(x)
        n, c = x.shape[:2]
        if self.mode == "max":
            max_pool_planes_infer(planes, ph, pw, stride, pad, False, out.reshape(n * c, oh, ow), x.size)
        else:
            _runtime.elementwise_kernel(pool_kernels, "avg_pool_forward", x.size)(planes, ph, pw, stride, pad,
                                                                       out.reshape(n * c, oh, ow))
        return out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(pool_h={self.pool_h}, pool_w={self.pool_w}, "
                f"stride={self.stride}, pad={self.pad}, mode={self.mode!r})")


class AvgPooling(Pooling):
    """Average pooling: ``Pooling(pool_h, pool_w, stride, pad, mode='avg')``."""

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        super().__init__(pool_h, pool_w, stride, pad, mode="avg")

    def __repr__(self) -> str:
        return (f"AvgPooling(pool_h={self.pool_h}, pool_w={self.pool_w}, "
                f"stride={self.stride}, pad={self.pad})")
