"""Reference pooling (NumPy only): the book's Pooling layer maths, plus average pooling.

Shapes: x (N, C, H, W), output (N, C, OH, OW) with
OH = (H + 2*pad - pool_h) // stride + 1 (likewise OW). Unlike the book,
padding counts in the output size. Max pooling pads with -inf (a padded cell
never wins); average pooling pads with 0 and always divides by
pool_h*pool_w (PyTorch's default, ``count_include_pad=True``).
"""
import numpy as np

from .conv import col2im, im2col

__all__ = ["max_pool_forward", "max_pool_backward", "avg_pool_forward", "avg_pool_backward"]


def _out_size(size, pool_size, stride, pad):
    return (size + 2 * pad - pool_size) // stride + 1


def _windows(x, pool_h, pool_w, stride, pad, fill):
    """Each pooling window as a row: (N*OH*OW*C, pool_h*pool_w), padded with ``fill``."""
    N, C, H, W = x.shape
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], mode="constant", constant_values=fill)
    col = im2col(xp, pool_h, pool_w, stride, 0)     # (N*OH*OW, C*pool_h*pool_w)
    return col.reshape(-1, pool_h * pool_w)


def max_pool_forward(x, pool_h, pool_w, stride=2, pad=0):
    """Return (out, arg_max): the window maxima and, per window, the index of the first maximum.

    arg_max has shape (N*OH*OW*C,) and indexes the window in row-major order,
    as in the book (np.argmax takes the first of equal maxima).
    """
    N, C, H, W = x.shape
    out_h = _out_size(H, pool_h, stride, pad)
    out_w = _out_size(W, pool_w, stride, pad)
    col = _windows(x, pool_h, pool_w, stride, pad, -np.inf)
    arg_max = np.argmax(col, axis=1)
    out = np.max(col, axis=1)
    out = out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)
    return out, arg_max


def max_pool_backward(dout, arg_max, x_shape, pool_h, pool_w, stride=2, pad=0):
    """Return dx: each window's upstream gradient goes to its (first) maximum."""
    N, C, H, W = x_shape
    pool_size = pool_h * pool_w
    dout = dout.transpose(0, 2, 3, 1)                # (N, OH, OW, C), the window order
    dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)
    dmax[np.arange(arg_max.size), arg_max.flatten()] = dout.flatten()
    dcol = dmax.reshape(-1, C * pool_size)           # (N*OH*OW, C*pool_h*pool_w)
    dxp = col2im(dcol, (N, C, H + 2 * pad, W + 2 * pad), pool_h, pool_w, stride, 0)
    return dxp[:, :, pad:pad + H, pad:pad + W]


def avg_pool_forward(x, pool_h, pool_w, stride=2, pad=0):
    """Return the window means (padded cells count as 0 in the divisor pool_h*pool_w)."""
    N, C, H, W = x.shape
    out_h = _out_size(H, pool_h, stride, pad)
    out_w = _out_size(W, pool_w, stride, pad)
    col = _windows(x, pool_h, pool_w, stride, pad, 0)
    out = np.mean(col, axis=1)
    return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)


def avg_pool_backward(dout, x_shape, pool_h, pool_w, stride=2, pad=0):
    """Return dx: each window's upstream gradient spread evenly over its pool_h*pool_w cells."""
    N, C, H, W = x_shape
    pool_size = pool_h * pool_w
    dout = dout.transpose(0, 2, 3, 1)
    dcol = np.repeat(dout.reshape(-1, 1) / pool_size, pool_size, axis=1).astype(dout.dtype)
    dcol = dcol.reshape(-1, C * pool_size)
    dxp = col2im(dcol, (N, C, H + 2 * pad, W + 2 * pad), pool_h, pool_w, stride, 0)
    return dxp[:, :, pad:pad + H, pad:pad + W]
