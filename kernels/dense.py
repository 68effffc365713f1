"""Affine (fully connected) layer kernels: y = x W + b and its backward pass.

Shapes: x (N, D), W (D, M), b (M,), out/dout (N, M); all C-contiguous and of
one float dtype, float32 or float64. The matrix products go to BLAS through
numba's ``np.dot`` (which needs SciPy); the bias add and the column sums are
plain loops fused into the same compiled call.

One compiled call does product and bias: it wins where the product is
small (dispatch and the temporary of ``+ b`` dominate) and ties where BLAS
dominates, so forward and backward are both single kernels (benchmark:
``bench_layers.Affine``).

BLAS runs on one thread (``fastnn._runtime``; the Affine layer runs its
mid-sized products, from 3e6 multiply-adds, with BLAS on one thread per
numba thread), so a large product would use one core. The ``*_split``
kernels cut it into two independent halves run by numba's threads
(``prange(2)``): forward by rows of x, backward as dx beside
(dW, db), the weight gradient alone as two half-batch products added. The
cut is always in two, whatever the thread count (on one thread the halves
run one after the other), so results do not depend on the number of
threads. Each split kernel has a serial build beside its parallel one
(``fastnn.kernels._twins``): the same halves one after the other, the same
bits, for one thread and for a forked child, where numba's OpenMP threads
cannot run (``fastnn._runtime.split_kernel``). The split pays for large
products (SimpleConvNet's 4320x100 Affine) and loses for small ones, where waking the second thread costs more
than half the product: hence the layer's threshold (benchmark:
``bench_nets.TrainStep``, SimpleConvNet against the MLPs).
"""
import numpy as np
from numba import prange

from ._jit import njit
from ._twins import serial_and_parallel


@njit(cache=True)
def affine_forward(x, W, b, out):
    """out = x @ W + b. x (N, D), W (D, M), b (M,), out (N, M)."""
    np.dot(x, W, out)
    n, m = out.shape
    for i in range(n):
        for j in range(m):
            out[i, j] += b[j]


@njit(cache=True)
def _column_sums(dout, db):
    """db[j] = sum_i dout[i, j], summed row by row in the array dtype."""
    n, m = dout.shape
    zero = dout.dtype.type(0)
    for j in range(m):
        db[j] = zero
    for i in range(n):
        for j in range(m):
            db[j] += dout[i, j]


@njit(cache=True)
def affine_param_grads(x, dout, dW, db):
    """dW = x.T @ dout, db = column sums of dout: the backward pass without dx.

    x (N, D), dout (N, M); writes dW (D, M), db (M,). db is summed row by row
    in the array dtype (N terms per column).
    """
    np.dot(x.T, dout, dW)
    _column_sums(dout, db)


@njit(cache=True)
def _input_grad(W, dout, dx):
    """dx = dout @ W.T; writes dx (N, D).

    For a small W (up to 16384 elements) against a C-contiguous copy of W.T:
    OpenBLAS's plain product beats its transposed one by more than the copy
    costs there, and loses for a large W such as 784x50 (benchmark:
    ``bench_layers.Affine.time_backward``).
    """
    if W.size <= 16384:
        np.dot(dout, np.ascontiguousarray(W.T), dx)
    else:
        np.dot(dout, W.T, dx)


@njit(cache=True)
def affine_backward(x, W, dout, dx, dW, db):
    """dx = dout @ W.T, then dW and db as ``affine_param_grads``; writes dx (N, D), dW (D, M), db (M,)."""
    _input_grad(W, dout, dx)
    affine_param_grads(x, dout, dW, db)


def affine_forward_split(x, W, b, out):
    """``affine_forward`` with the rows of x in two halves, one per thread. Same shapes."""
    n = x.shape[0]
    for part in prange(2):
        lo = n * part // 2
        hi = n * (part + 1) // 2
        affine_forward(x[lo:hi], W, b, out[lo:hi])


def affine_backward_split(x, W, dout, dx, dW, db):
    """``affine_backward`` with dx on one thread and (dW, db) on the other. Same shapes and results."""
    for part in prange(2):
        if part == 0:
            _input_grad(W, dout, dx)
        else:
            affine_param_grads(x, dout, dW, db)


def affine_param_grads_split(x, dout, dW, db, dW_half):
    """``affine_param_grads`` as two half-batch products on two threads, then summed.

    dW_half (D, M) is scratch. dW = x[:h].T @ dout[:h] + x[h:].T @ dout[h:]
    with h = N // 2 (N >= 2): the same terms as the one product, summed in
    another order. db as ``affine_param_grads``.
    """
    h = x.shape[0] // 2
    for part in prange(2):
        if part == 0:
            np.dot(x[:h].T, dout[:h], dW)
        else:
            np.dot(x[h:].T, dout[h:], dW_half)
    d, m = dW.shape
    for i in prange(d):
        for j in range(m):
            dW[i, j] += dW_half[i, j]
    _column_sums(dout, db)


affine_forward_split, affine_forward_split_parallel = serial_and_parallel(affine_forward_split)
affine_backward_split, affine_backward_split_parallel = serial_and_parallel(affine_backward_split)
affine_param_grads_split, affine_param_grads_split_parallel = serial_and_parallel(affine_param_grads_split)
