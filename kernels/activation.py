"""Element-wise activations: ReLU and sigmoid, forward and backward.

All kernels take 1-D C-contiguous arrays (the caller passes ``arr.ravel()``
of a contiguous array, so one compiled version serves every rank) of a single
float dtype, float32 or float64, and write into ``out``.

Each kernel is built twice (``fastnn.kernels._twins``): ``name``, serial,
and ``name_parallel``, its loop spread over numba's threads; the layers take
the parallel build from ``fastnn._runtime.ELEMENTWISE_PARALLEL_ELEMENTS`` elements
on. Element-wise, so the result does not depend on the build or the thread
count.
"""
import numpy as np
from numba import prange

from ._twins import serial_and_parallel


def relu_forward(x, out, mask):
    """out = 0 where x <= 0, else x (NaN stays NaN, as the book); mask[i] = x[i] <= 0, the book's mask. Shapes (n,)."""
    zero = x.dtype.type(0)
    for i in prange(x.size):
        v = x[i]
        off = v <= zero
        mask[i] = off
        out[i] = zero if off else v


def relu_backward(dout, mask, dx):
    """dx = 0 where mask (the forward input was <= 0), else dout. Shapes (n,)."""
    zero = dout.dtype.type(0)
    for i in prange(dout.size):
        dx[i] = zero if mask[i] else dout[i]


def sigmoid_forward(x, out):
    """out = 1 / (1 + exp(-x)), evaluated so that it never overflows. Shapes (n,)."""
    one = x.dtype.type(1)
    for i in prange(x.size):
        v = x[i]
        if v >= 0:
            out[i] = one / (one + np.exp(-v))
        else:
            e = np.exp(v)
            out[i] = e / (one + e)


def sigmoid_backward(dout, y, dx):
    """dx = dout * y * (1 - y), with y the forward output. Shapes (n,)."""
    one = y.dtype.type(1)
    for i in prange(y.size):
        dx[i] = dout[i] * (one - y[i]) * y[i]


# nogil: the fused Convolution-Relu stage calls the serial builds from several threads at once
relu_forward, relu_forward_parallel = serial_and_parallel(relu_forward, nogil=True)
relu_backward, relu_backward_parallel = serial_and_parallel(relu_backward, nogil=True)
sigmoid_forward, sigmoid_forward_parallel = serial_and_parallel(sigmoid_forward)
sigmoid_backward, sigmoid_backward_parallel = serial_and_parallel(sigmoid_backward)
