"""The book's ``common/util.py``: im2col, col2im, conv_output_size, shuffle_dataset, smooth_curve.

``im2col`` / ``col2im`` keep the book's signatures and column layout exactly
(a user's code that reshapes the columns keeps working) and run on the numba
kernels of ``fastnn.kernels.conv``, parallel over the batch.

Output sizes: ``im2col``, ``col2im`` and the Convolution / Pooling layers
use the book's im2col formula ``(H + 2*pad - FH) // stride + 1``, which
floors: when the stride does not divide ``H + 2*pad - FH``, the last rows
(columns) that no window reaches are left out, as in the book and in
PyTorch. ``conv_output_size`` is for sizing a network, and there a stride
that does not divide is almost always a mistake: it raises ``ValueError``
instead of returning the book's fractional number.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import _runtime
from ._random import as_generator
from ._validate import as_float_array, check_scalar

# fastnn.kernels.conv (numba, tens of ms to import) is imported by im2col/col2im when they run: the book's
# other utilities (shuffle_dataset, smooth_curve, ...) do not load numba.

__all__ = ["im2col", "col2im", "conv_output_size", "shuffle_dataset", "smooth_curve"]


def conv_output_size(input_size, filter_size, stride=1, pad=0) -> int:
    """Output length of a convolution or pooling along one axis: (in + 2*pad - filter) / stride + 1.

    Returns an int. Raises ``ValueError`` when the filter is larger than the
    padded input, or when ``stride`` does not divide ``input_size + 2*pad -
    filter_size`` (the book returns a fractional number there; the layers
    floor it, dropping the input rows no window reaches).
    """
    input_size = check_scalar(input_size, "input_size", integer=True, positive=True)
    filter_size = check_scalar(filter_size, "filter_size", integer=True, positive=True)
    stride = check_scalar(stride, "stride", integer=True, positive=True)
    pad = check_scalar(pad, "pad", integer=True, nonnegative=True)
    span = input_size + 2 * pad - filter_size
    if span < 0:
        raise ValueError(
            f"filter_size {filter_size} is larger than the padded input "
            f"{input_size} + 2*{pad} = {input_size + 2 * pad}")
    if span % stride:
        raise ValueError(
            f"stride {stride} does not divide input_size + 2*pad - filter_size = {span}: "
            f"the output size would be {span / stride + 1:g}, not an integer")
    return span // stride + 1


def window_geometry(in_shape, filter_h, filter_w, stride, pad, *, names=("filter_h", "filter_w"),
                    what="filter"):
    """Check window sizes against an input of shape (N, C, H, W); return (stride, pad, OH, OW) as ints.

    OH = (H + 2*pad - filter_h) // stride + 1 (floor, as the book's im2col), likewise OW. The one
    check of a sliding window, shared by ``im2col``/``col2im`` and the Convolution and Pooling layers
    (outside ``__all__``: ``from fastnn.util import *`` brings the book's names only).
    """
    filter_h = check_scalar(filter_h, names[0], integer=True, positive=True)
    filter_w = check_scalar(filter_w, names[1], integer=True, positive=True)
    stride = check_scalar(stride, "stride", integer=True, positive=True)
    pad = check_scalar(pad, "pad", integer=True, nonnegative=True)
    _, _, h, w = in_shape
    if filter_h > h + 2 * pad or filter_w > w + 2 * pad:
        raise ValueError(
            f"the {what} ({filter_h}x{filter_w}) is larger than the padded input "
            f"({h}+2*{pad})x({w}+2*{pad}) = {h + 2 * pad}x{w + 2 * pad}")
    return stride, pad, (h + 2 * pad - filter_h) // stride + 1, (w + 2 * pad - filter_w) // stride + 1


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """Unfold image patches into rows, as the book's ``im2col``.

    input_data : (N, C, H, W) float32/float64 array.
    Returns col : (N*OH*OW, C*filter_h*filter_w) of the input's dtype; row
    n*OH*OW + oh*OW + ow holds the patch at output position (oh, ow) of image
    n, its columns ordered (c, i, j); zero padding. OH = (H + 2*pad -
    filter_h) // stride + 1, likewise OW.
    """
    from .kernels import conv as conv_kernels

    x = as_float_array(input_data, "input_data", ndim=4)
    stride, pad, oh, ow = window_geometry(x.shape, filter_h, filter_w, stride, pad)
    n, c = x.shape[:2]
    col = np.empty((n * oh * ow, c * filter_h * filter_w), dtype=x.dtype)
    _runtime.elementwise_kernel(conv_kernels, "im2col", col.size)(x, filter_h, filter_w, stride, pad, oh, ow, col)
    return col


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """Fold rows of patches back into images, as the book's ``col2im`` (overlaps add up).

    col : (N*OH*OW, C*filter_h*filter_w) float32/float64 array, the layout of
    ``im2col``; input_shape : (N, C, H, W). Returns an (N, C, H, W) array of
    col's dtype: the adjoint of ``im2col``, so that
    ``sum(im2col(x) * col) == sum(x * col2im(col))`` up to rounding.
    """
    from .kernels import conv as conv_kernels

    col = as_float_array(col, "col", ndim=2)
    shape = _check_input_shape(input_shape)
    stride, pad, oh, ow = window_geometry(shape, filter_h, filter_w, stride, pad)
    n, c = shape[:2]
    expected = (n * oh * ow, c * filter_h * filter_w)
    if col.shape != expected:
        raise ValueError(
            f"col must have shape {expected} for input_shape {shape}, filter {filter_h}x{filter_w}, "
            f"stride {stride}, pad {pad}; got {col.shape}")
    dx = np.empty(shape, dtype=col.dtype)
    _runtime.elementwise_kernel(conv_kernels, "col2im", col.size)(col, filter_h, filter_w, stride, pad, oh, ow, dx)
    return dx


def _check_input_shape(input_shape) -> tuple:
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(f"input_shape must be a tuple (N, C, H, W), got {input_shape!r}") from None
    if len(shape) != 4:
        raise ValueError(f"input_shape must have 4 entries (N, C, H, W), got {shape}")
    return tuple(check_scalar(s, "input_shape entry", integer=True, positive=True) for s in shape)


_NO_RNG = object()


def shuffle_dataset(x, t, seed=None, *, rng=_NO_RNG):
    """Return (x, t) shuffled along the first axis by one common permutation, as the book.

    x, t : arrays with the same first length (t may be labels or one-hot rows).
    seed : None, an int or a ``np.random.Generator`` (``fastnn._random.as_generator``
        with ``legacy=True``). None: NumPy's global generator, as the book's
        ``np.random.permutation``, so ``np.random.seed(...)`` fixes the order.
    rng : deprecated keyword alias of ``seed`` (a ``DeprecationWarning``).
    The book's version also accepts 4-D x; so does this one (any rank >= 1).
    The inputs are left alone; new arrays are returned.
    """
    x = np.asarray(x)
    t = np.asarray(t)
    if x.ndim < 1 or t.ndim < 1:
        raise ValueError(f"x and t must be at least 1-D, got shapes {x.shape} and {t.shape}")
    if x.shape[0] != t.shape[0]:
        raise ValueError(f"x and t must have the same number of samples, got {x.shape[0]} and {t.shape[0]}")
    if rng is not _NO_RNG:
        if seed is not None:
            raise TypeError("shuffle_dataset got both seed= and its deprecated alias rng=; pass seed= alone")
        warnings.warn("shuffle_dataset(rng=...) is deprecated; pass seed=... (the same values)",
                      DeprecationWarning, stacklevel=2)
        seed, name = rng, "rng"
    else:
        name = "seed"
    permutation = as_generator(seed, name, legacy=True).permutation(x.shape[0])
    return x[permutation], t[permutation]


def smooth_curve(x):
    """Smooth a 1-D curve (e.g. a loss history) for plotting, as the book's ``smooth_curve``.

    The series is mirrored by 10 samples at each end, convolved in 'valid'
    mode with a normalised Kaiser window (length 11, beta 2), and trimmed to
    the input's length. x must be 1-D with at least 11 values (the mirror
    reads 10 past each end; the book silently returns a shorter or empty
    curve for fewer). Returns a float64 array of shape (len(x),).
    """
    x = as_float_array(x, "x", ndim=1, allow_int=True, dtype=np.float64)
    window_len = 11
    if x.size < window_len:
        raise ValueError(f"x must have at least {window_len} values to smooth, got {x.size}")
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5:len(y) - 5]
