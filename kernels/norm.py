"""Batch normalisation: forward (training and inference) and backward.

Two layouts:

* per activation, ``batchnorm_*``: ``x`` is (N, D), one mean/variance per
  column over the N rows (the book's layer; a 4-D input is flattened to
  (N, C*H*W) by the caller);
* per channel, ``batchnorm_channel_*``: ``x`` is (N, C, L) with L = H*W (the
  caller reshapes an (N, C, H, W) array), one mean/variance per channel over
  N and L. These kernels run parallel over channels; each channel is reduced
  by one loop iteration in a fixed order, so results do not depend on the
  number of threads.

Notation: ``xhat = (x - mean) * inv_std`` with ``inv_std = 1 / sqrt(var + eps)``,
``out = gamma * xhat + beta``. Training uses the batch's mean and (biased)
variance and updates the running statistics in place,
``running = momentum * running + (1 - momentum) * batch``; inference uses the
running statistics. ``xhat`` and ``inv_std`` are written for the backward pass.

All arrays are C-contiguous and share one float dtype (float32 or float64);
``eps`` and ``momentum`` are Python floats. Sums over the batch (mean,
variance, dgamma, dbeta) are accumulated in float64 whatever the dtype: a
per-channel sum runs over N*H*W terms (10^5 and more), where float32
accumulation would lose several digits. The variance is two-pass (mean first,
then the mean of squared deviations), so it never comes out negative.
"""
import numpy as np
from numba import njit, prange


# ---------------------------------------------------------------- per activation, (N, D)

@njit(cache=True)
def _column_mean_var(x):
    """Column means and biased variances of x (N, D), two-pass, as float64 arrays."""
    n, d = x.shape
    mean = np.zeros(d)
    for i in range(n):
        for j in range(d):
            mean[j] += x[i, j]
    for j in range(d):
        mean[j] /= n
    var = np.zeros(d)
    for i in range(n):
        for j in range(d):
            c = x[i, j] - mean[j]
            var[j] += c * c
    for j in range(d):
        var[j] /= n
    return mean, var


@njit(cache=True)
def _normalize_columns(x, mean, inv_std, gamma, beta, out, xhat):
    """xhat = (x - mean) * inv_std, out = gamma * xhat + beta, column-wise; mean/inv_std in x's dtype."""
    n, d = x.shape
    for i in range(n):
        for j in range(d):
            xh = (x[i, j] - mean[j]) * inv_std[j]
            xhat[i, j] = xh
            out[i, j] = gamma[j] * xh + beta[j]


@njit(cache=True)
def batchnorm_forward_train(x, gamma, beta, eps, momentum, running_mean, running_var,
                            out, xhat, inv_std):
    """Training forward with batch statistics, per column.

    x, out, xhat: (N, D); gamma, beta, running_mean, running_var, inv_std: (D,).
    Updates running_mean/running_var in place.
    """
    d = x.shape[1]
    mean, var = _column_mean_var(x)
    mean_t = np.empty(d, dtype=x.dtype)
    for j in range(d):
        inv_std[j] = 1.0 / np.sqrt(var[j] + eps)
        mean_t[j] = mean[j]
        running_mean[j] = momentum * running_mean[j] + (1.0 - momentum) * mean[j]
        running_var[j] = momentum * running_var[j] + (1.0 - momentum) * var[j]
    _normalize_columns(x, mean_t, inv_std, gamma, beta, out, xhat)


@njit(cache=True)
def batchnorm_forward_infer(x, gamma, beta, eps, running_mean, running_var, out, xhat, inv_std):
    """Inference forward with the running statistics, per column. Shapes as in training."""
    d = x.shape[1]
    for j in range(d):
        inv_std[j] = 1.0 / np.sqrt(running_var[j] + eps)
    _normalize_columns(x, running_mean, inv_std, gamma, beta, out, xhat)


@njit(cache=True)
def _column_grad_sums(dout, xhat, dgamma, dbeta):
    """dbeta = sum_n dout, dgamma = sum_n dout * xhat (float64 accumulators)."""
    n, d = dout.shape
    sb = np.zeros(d)
    sg = np.zeros(d)
    for i in range(n):
        for j in range(d):
            g = dout[i, j]
            sb[j] += g
            sg[j] += g * xhat[i, j]
    for j in range(d):
        dbeta[j] = sb[j]
        dgamma[j] = sg[j]


@njit(cache=True)
def batchnorm_backward_train(dout, xhat, gamma, inv_std, dx, dgamma, dbeta):
    """Backward of the training forward (batch statistics), per column.

    dout, xhat, dx: (N, D); gamma, inv_std, dgamma, dbeta: (D,). Closed form:
    dx = gamma * inv_std * (dout - mean_n(dout) - xhat * mean_n(dout * xhat)).
    """
    n, d = dout.shape
    _column_grad_sums(dout, xhat, dgamma, dbeta)
    scale = np.empty(d, dtype=dout.dtype)
    mean_db = np.empty(d, dtype=dout.dtype)
    mean_dg = np.empty(d, dtype=dout.dtype)
    for j in range(d):
        scale[j] = gamma[j] * inv_std[j]
        mean_db[j] = dbeta[j] / n
        mean_dg[j] = dgamma[j] / n
    for i in range(n):
        for j in range(d):
            dx[i, j] = scale[j] * (dout[i, j] - mean_db[j] - xhat[i, j] * mean_dg[j])


@njit(cache=True)
def batchnorm_backward_infer(dout, xhat, gamma, inv_std, dx, dgamma, dbeta):
    """Backward of the inference forward (fixed statistics): dx = dout * gamma * inv_std. Shapes as above."""
    n, d = dout.shape
    _column_grad_sums(dout, xhat, dgamma, dbeta)
    scale = np.empty(d, dtype=dout.dtype)
    for j in range(d):
        scale[j] = gamma[j] * inv_std[j]
    for i in range(n):
        for j in range(d):
            dx[i, j] = dout[i, j] * scale[j]


# ---------------------------------------------------------------- per channel, (N, C, L)

@njit(cache=True)
def _channel_sum(x, c):
    """sum over n, l of x[n, c, l], in float64.

    Accumulates one float64 partial sum per position l (a loop that vectorises),
    then adds the L partials in order: a fixed order, whatever the threads.
    """
    n_, _, l_ = x.shape
    s = np.zeros(l_)
    for n in range(n_):
        for l in range(l_):
            s[l] += x[n, c, l]
    t = 0.0
    for l in range(l_):
        t += s[l]
    return t


@njit(cache=True)
def _channel_deviation_sums(x, c, mean):
    """(sum of x - mean, sum of (x - mean)**2) over n, l for channel c, in float64, fixed order."""
    n_, _, l_ = x.shape
    s1 = np.zeros(l_)
    s2 = np.zeros(l_)
    for n in range(n_):
        for l in range(l_):
            v = x[n, c, l] - mean
            s1[l] += v
            s2[l] += v * v
    t1 = 0.0
    t2 = 0.0
    for l in range(l_):
        t1 += s1[l]
        t2 += s2[l]
    return t1, t2


@njit(cache=True)
def _normalize_channel(x, c, mean, istd, g, b, out, xhat):
    n_, _, l_ = x.shape
    for n in range(n_):
        for l in range(l_):
            xh = (x[n, c, l] - mean) * istd
            xhat[n, c, l] = xh
            out[n, c, l] = g * xh + b


@njit(cache=True, parallel=True)
def batchnorm_channel_forward_train(x, gamma, beta, eps, momentum, running_mean, running_var,
                                    out, xhat, inv_std):
    """Training forward with batch statistics, per channel.

    x, out, xhat: (N, C, L); gamma, beta, running_mean, running_var, inv_std: (C,).
    Updates running_mean/running_var in place.
    """
    n_, c_, l_ = x.shape
    m = n_ * l_
    for c in prange(c_):
        mean = _channel_sum(x, c) / m
        # second pass around the mean; d1 is ~0, and subtracting (d1/m)**2
        # corrects for the rounding of the mean (corrected two-pass algorithm)
        d1, d2 = _channel_deviation_sums(x, c, mean)
        var = d2 / m - (d1 / m) ** 2
        if var < 0.0:
            var = 0.0
        istd = 1.0 / np.sqrt(var + eps)
        inv_std[c] = istd
        running_mean[c] = momentum * running_mean[c] + (1.0 - momentum) * mean
        running_var[c] = momentum * running_var[c] + (1.0 - momentum) * var
        _normalize_channel(x, c, x.dtype.type(mean), inv_std[c], gamma[c], beta[c], out, xhat)


@njit(cache=True, parallel=True)
def batchnorm_channel_forward_infer(x, gamma, beta, eps, running_mean, running_var, out, xhat, inv_std):
    """Inference forward with the running statistics, per channel. Shapes as in training."""
    c_ = x.shape[1]
    for c in prange(c_):
        inv_std[c] = 1.0 / np.sqrt(running_var[c] + eps)
        _normalize_channel(x, c, running_mean[c], inv_std[c], gamma[c], beta[c], out, xhat)


@njit(cache=True)
def _channel_grad_sums(dout, xhat, c):
    """(sum dout, sum dout * xhat) over n, l for channel c, in float64, in a fixed order."""
    n_, _, l_ = dout.shape
    sb = np.zeros(l_)
    sg = np.zeros(l_)
    for n in range(n_):
        for l in range(l_):
            g = dout[n, c, l]
            sb[l] += g
            sg[l] += g * xhat[n, c, l]
    tb = 0.0
    tg = 0.0
    for l in range(l_):
        tb += sb[l]
        tg += sg[l]
    return tb, tg


@njit(cache=True, parallel=True)
def batchnorm_channel_backward_train(dout, xhat, gamma, inv_std, dx, dgamma, dbeta):
    """Backward of the per-channel training forward.

    dout, xhat, dx: (N, C, L); gamma, inv_std, dgamma, dbeta: (C,). Closed form
    as per activation, with means over the N*L values of a channel.
    """
    n_, c_, l_ = dout.shape
    m = n_ * l_
    for c in prange(c_):
        tb, tg = _channel_grad_sums(dout, xhat, c)
        dbeta[c] = tb
        dgamma[c] = tg
        scale = gamma[c] * inv_std[c]
        mean_db = dout.dtype.type(tb / m)
        mean_dg = dout.dtype.type(tg / m)
        for n in range(n_):
            for l in range(l_):
                dx[n, c, l] = scale * (dout[n, c, l] - mean_db - xhat[n, c, l] * mean_dg)


@njit(cache=True, parallel=True)
def batchnorm_channel_backward_infer(dout, xhat, gamma, inv_std, dx, dgamma, dbeta):
    """Backward of the per-channel inference forward: dx = dout * gamma * inv_std. Shapes as above."""
    n_, c_, l_ = dout.shape
    for c in prange(c_):
        tb, tg = _channel_grad_sums(dout, xhat, c)
        dbeta[c] = tb
        dgamma[c] = tg
        scale = gamma[c] * inv_std[c]
        for n in range(n_):
            for l in range(l_):
                dx[n, c, l] = dout[n, c, l] * scale
