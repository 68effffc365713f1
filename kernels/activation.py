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
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic

from ._jit import njit
from ._twins import serial_and_parallel

# -- a vectorisable exp for non-positive arguments ------------------------------------------------
# numba's np.exp is a scalar libm call here (no SVML), which keeps a loop from vectorising.
# _exp_nonpositive(x) for x <= 0: x = n ln2 + r (Cody-Waite, |r| <= ln2/2), exp(r) by its Taylor
# polynomial of degree 12 (truncation < 2e-17 relative), times 2**n made from the exponent bits.
# Error: within 1.5 ulp of the correctly rounded exp in float64 and float32 (tested against
# np.exp in float64); 0 where exp(x) is below the dtype's smallest normal number (an absolute
# error below 1.2e-38 in float32, 2.3e-308 in float64). (A copy of this block lives in each
# kernel module that needs it: a cached kernel must not call into another module's file.)

@intrinsic
def _pow2(typingctx, n, like):
    """2.0**n in the float type of ``like``; ``n`` integral-valued, within the normal exponent range."""
    if not isinstance(like, types.Float):
        return None

    def codegen(context, builder, sig, args):
        if sig.return_type == types.float32:
            ity, bias, shift = ir.IntType(32), 127, 23
        else:
            ity, bias, shift = ir.IntType(64), 1023, 52
        k = builder.add(builder.fptosi(args[0], ity), ir.Constant(ity, bias))
        return builder.bitcast(builder.shl(k, ir.Constant(ity, shift)), context.get_value_type(sig.return_type))

    return like(like, like), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125  # ln 2 split so that n * _LN2_HI is exact
_LN2_LO = 1.4286068203094173e-06


@njit(cache=True, error_model="numpy")
def _exp_nonpositive(x):
    """exp(x) for x <= 0 (see the block comment); branch-free, so loops calling it vectorise."""
    dt = type(x)
    lo = dt(-87.33654) if dt(1e-300) == dt(0) else dt(-708.3964185322641)  # log of the smallest normal
    xc = x if x > lo else lo
    n = np.floor(xc * dt(_LOG2E) + dt(0.5))
    r = (xc - n * dt(_LN2_HI)) - n * dt(_LN2_LO)
    p = dt(1.0 / 479001600)
    p = p * r + dt(1.0 / 39916800)
    p = p * r + dt(1.0 / 3628800)
    p = p * r + dt(1.0 / 362880)
    p = p * r + dt(1.0 / 40320)
    p = p * r + dt(1.0 / 5040)
    p = p * r + dt(1.0 / 720)
    p = p * r + dt(1.0 / 120)
    p = p * r + dt(1.0 / 24)
    p = p * r + dt(1.0 / 6)
    p = p * r + dt(0.5)
    p = p * r + dt(1.0)
    p = p * r + dt(1.0)
    e = p * _pow2(n, xc)
    return e if x >= lo else (x if x != x else dt(0))   # NaN stays NaN


def relu_forward(x, out, mask):
    """out = 0 where x <= 0, else x (NaN stays NaN, as the book); mask[i] = x[i] <= 0, the book's mask. Shapes (n,)."""
    zero = x.dtype.type(0)
    for i in prange(x.size):
        v = x[i]
        off = v <= zero
        mask[i] = off
        out[i] = zero if off else v


def relu_infer(x, out):
    """Inference: ``relu_forward``'s out (0 where x <= 0, else x; NaN stays NaN), no mask kept. Shapes (n,)."""
    zero = x.dtype.type(0)
    for i in prange(x.size):
        v = x[i]
        out[i] = zero if v <= zero else v


def relu_backward(dout, mask, dx):
    """dx = 0 where mask (the forward input was <= 0), else dout. Shapes (n,)."""
    zero = dout.dtype.type(0)
    for i in prange(dout.size):
        dx[i] = zero if mask[i] else dout[i]


def sigmoid_forward(x, out):
    """out = 1 / (1 + exp(-x)), evaluated so that it never overflows. Shapes (n,).

    With e = exp(-|x|) <= 1: 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0
    (no cancellation); the exp is ``_exp_nonpositive``, so the loop vectorises
    (benchmark: ``bench_layers.Activation``).
    """
    one = x.dtype.type(1)
    for i in prange(x.size):
        v = x[i]
        e = _exp_nonpositive(-abs(v))
        d = one / (one + e)
        out[i] = d if v >= 0 else e * d


def sigmoid_backward(dout, y, dx):
    """dx = dout * y * (1 - y), with y the forward output. Shapes (n,)."""
    one = y.dtype.type(1)
    for i in prange(y.size):
        dx[i] = dout[i] * (one - y[i]) * y[i]


# nogil: the fused Convolution-Relu stage calls the serial builds from several threads at once
relu_forward, relu_forward_parallel = serial_and_parallel(relu_forward, nogil=True)
relu_backward, relu_backward_parallel = serial_and_parallel(relu_backward, nogil=True)
relu_infer, relu_infer_parallel = serial_and_parallel(relu_infer, nogil=True)
sigmoid_forward, sigmoid_forward_parallel = serial_and_parallel(sigmoid_forward, error_model="numpy")
sigmoid_backward, sigmoid_backward_parallel = serial_and_parallel(sigmoid_backward)
