"""Dropout as the book defines it (not inverted): forward in training and inference, backward.

The kernels take 1-D C-contiguous arrays (the caller passes ``arr.ravel()`` of
a contiguous array, so one compiled version serves every rank). ``x``, ``out``,
``dout`` and ``dx`` share a float dtype (float32 or float64); ``mask`` is bool;
the uniforms ``u`` are float64 in [0, 1), drawn by the caller from a seedable
generator (randomness stays above the kernels, where it can be seeded and tested).

Each kernel is built serial and parallel (``fastnn.kernels._twins``); the
layer takes the parallel build for big arrays through
``fastnn._runtime.elementwise_kernel``. Every element is computed alone, so
both builds give the same bits.
"""
from numba import prange

from ._twins import serial_and_parallel


def dropout_forward_train(x, u, dropout_ratio, out, mask):
    """mask = u > dropout_ratio (kept with probability 1 - ratio); out = x * mask, not rescaled. Shapes (n,)."""
    zero = x.dtype.type(0)
    for i in prange(x.size):
        keep = u[i] > dropout_ratio
        mask[i] = keep
        out[i] = x[i] if keep else zero


def dropout_forward_infer(x, dropout_ratio, out):
    """out = x * (1 - dropout_ratio): the expected value of the training output. Shapes (n,)."""
    scale = x.dtype.type(1.0 - dropout_ratio)
    for i in prange(x.size):
        out[i] = x[i] * scale


def dropout_backward(dout, mask, dx):
    """dx = dout where mask, else 0; also the training forward with a given mask. Shapes (n,)."""
    zero = dout.dtype.type(0)
    for i in prange(dout.size):
        dx[i] = dout[i] if mask[i] else zero


dropout_forward_train, dropout_forward_train_parallel = serial_and_parallel(dropout_forward_train)
dropout_forward_infer, dropout_forward_infer_parallel = serial_and_parallel(dropout_forward_infer)
dropout_backward, dropout_backward_parallel = serial_and_parallel(dropout_backward)
