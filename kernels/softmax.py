"""Softmax and the losses on top of it: softmax, fused softmax + cross-entropy, cross-entropy.

Shapes: rows of logits or probabilities x/y (N, C); labels t (N,) of
``np.intp`` with every value in [0, C) (checked by the caller); probability
targets t (N, C). All float arrays C-contiguous and of one dtype, float32 or
float64. Per-row work is done in the array dtype; each kernel that returns a
batch loss sums the N per-row losses in float64 (the loss comes back as one
Python float, and a float32 running sum over a large batch would lose digits).
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ._jit import njit

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


@njit(cache=True, error_model="numpy")
def _exp_shifted_row(x, i, out):
    """out[i, j] = exp(x[i, j] - m) with m = max_j x[i, j]; returns (m, sum_j out[i, j]).

    Subtracting the row maximum keeps every exponent <= 0, so nothing
    overflows and ``_exp_nonpositive`` applies; its loop (over the row as a
    1-D view, so no index needs a sign test) vectorises, and the sum runs
    after it in order.
    """
    xr = x[i]
    orow = out[i]
    c = xr.shape[0]
    mx = xr[0]
    for j in range(1, c):
        mx = xr[j] if xr[j] > mx else mx
    for j in range(c):
        orow[j] = _exp_nonpositive(xr[j] - mx)
    s = x.dtype.type(0)
    for j in range(c):
        s += orow[j]
    return mx, s


@njit(cache=True)
def softmax_forward(x, out):
    """out[i] = exp(x[i] - max x[i]) / sum exp(x[i] - max x[i]), row by row. x, out (N, C), C >= 1."""
    n, c = x.shape
    for i in range(n):
        _, s = _exp_shifted_row(x, i, out)
        for j in range(c):
            out[i, j] = out[i, j] / s


@njit(cache=True)
def softmax_loss_labels(x, t, grad):
    """Fused softmax + cross-entropy with class labels, one pass over the logits.

    x (N, C) logits, t (N,) labels in [0, C). Writes grad (N, C) =
    (softmax(x) - onehot(t)) / N, the gradient of the returned mean loss
    (1/N) sum_i [logsumexp(x[i]) - x[i, t[i]]]. The loss comes from the
    logits, so it stays exact where a probability underflows.
    """
    n, c = x.shape
    one = x.dtype.type(1)
    nf = x.dtype.type(n)
    total = 0.0  # float64 on purpose: see the module docstring
    for i in range(n):
        mx, s = _exp_shifted_row(x, i, grad)
        k = t[i]
        total += np.log(s) - (x[i, k] - mx)
        for j in range(c):
            p = grad[i, j] / s
            if j == k:
                p = p - one
            grad[i, j] = p / nf
    return total / n


@njit(cache=True)
def softmax_loss_probs(x, t, grad):
    """Fused softmax + cross-entropy with probability targets, one pass over the logits.

    x (N, C) logits, t (N, C) targets (each row non-negative, usually summing
    to 1). Returns the mean loss (1/N) sum_i -sum_j t[i, j] log softmax(x[i])_j
    with log softmax = x - max - log(sum exp(x - max)), and writes grad (N, C)
    = (softmax(x) * sum_j t[i, j] - t) / N, its gradient.
    """
    n, c = x.shape
    zero = x.dtype.type(0)
    nf = x.dtype.type(n)
    total = 0.0  # float64 on purpose: see the module docstring
    for i in range(n):
        mx, s = _exp_shifted_row(x, i, grad)
        tsum = zero
        tdot = zero  # sum_j t[i, j] * (x[i, j] - max)
        for j in range(c):
            d = x[i, j] - mx
            tij = t[i, j]
            tsum += tij
            if tij != zero:  # 0 * (-inf) must not make a NaN
                tdot += tij * d
        total += tsum * np.log(s) - tdot
        for j in range(c):
            grad[i, j] = (grad[i, j] / s * tsum - t[i, j]) / nf
    return total / n


@njit(cache=True)
def cross_entropy_labels(y, t):
    """The book's cross-entropy with labels: -(1/N) sum_i log(y[i, t[i]] + 1e-7). y (N, C), t (N,)."""
    n = y.shape[0]
    eps = y.dtype.type(1e-7)
    total = 0.0  # float64 on purpose: see the module docstring
    for i in range(n):
        total -= np.log(y[i, t[i]] + eps)
    return total / n


@njit(cache=True)
def cross_entropy_probs(y, t):
    """The book's cross-entropy with targets: -(1/N) sum_ij t[i, j] log(y[i, j] + 1e-7). y, t (N, C)."""
    n, c = y.shape
    eps = y.dtype.type(1e-7)
    zero = y.dtype.type(0)
    total = 0.0  # float64 on purpose: see the module docstring
    for i in range(n):
        row = zero
        for j in range(c):
            if t[i, j] != zero:
                row += t[i, j] * np.log(y[i, j] + eps)
        total -= row
    return total / n


@njit(cache=True)
def classify_targets(t, labels):
    """Sort target rows t (N, C) in one pass: 0 one-hot, 1 probability rows, 2 not finite, 3 negative.

    t may be of any integer or float dtype and any layout. Returns 2 if any
    value is NaN or infinite, else 3 if any is negative, else 0 if every row
    is exactly one-hot (only 0s and 1s, summing to 1; then ``labels[i]`` (N,)
    is row i's class), else 1. One pass with no temporaries: the per-call
    cost of a small batch (benchmark: ``bench_layers.SoftmaxWithLoss`` at
    batch 1).
    """
    n, c = t.shape
    nonfinite = False
    negative = False
    one_hot = True
    for i in range(n):
        hot = -1
        ones = 0
        for j in range(c):
            v = t[i, j]
            if (v - v) != 0:  # NaN or infinite (always 0 for integers)
                nonfinite = True
            elif v < 0:
                negative = True
            elif v == 1:
                ones += 1
                hot = j
            elif v != 0:
                one_hot = False
        if ones != 1:
            one_hot = False
        labels[i] = hot
    if nonfinite:
        return 2
    if negative:
        return 3
    return 0 if one_hot else 1
