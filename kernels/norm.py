"""Batch normalisation: forward (training and inference) and backward.

Two layouts:

* per activation, ``batchnorm_*``: ``x`` is (N, D), one mean/variance per
  column over the N rows (the book's layer; a 4-D input is flattened to
  (N, C*H*W) by the caller);
* per channel, ``batchnorm_channel_*``: ``x`` is (N, C, L) with L = H*W (the
  caller reshapes an (N, C, H, W) array), one mean/variance per channel over
  N and L.

The kernels are serial: they are memory-bound (bandwidth, not arithmetic,
is the limit), and a ``prange`` over channels is slower than the serial
streaming loops (benchmark: ``bench_layers.BatchNorm``).

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

from ._jit import njit

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
#
# Every pass walks the array in memory order (n, then c, then l): the kernels
# are memory-bound, and streaming beats a channel-by-channel walk (which jumps
# by C*L between rows; asv bench_layers.BatchNorm). Sums over n and l go into one
# float64 partial per (c, l) — a loop that vectorises — and the L partials of
# a channel are then added in order.

@njit(cache=True)
def _channel_totals(acc):
    """Row sums of acc (C, L), each added left to right."""
    c_, l_ = acc.shape
    tot = np.zeros(c_)
    for c in range(c_):
        t = 0.0
        for k in range(l_):
            t += acc[c, k]
        tot[c] = t
    return tot


@njit(cache=True)
def _channel_mean_var(x):
    """Per-channel mean and biased variance of x (N, C, L), as float64 arrays.

    Corrected two-pass: the mean, then the sums of d = x - mean and of d**2;
    var = mean(d**2) - mean(d)**2, where mean(d) (~0) corrects the rounding of the mean.
    """
    n_, c_, l_ = x.shape
    m = n_ * l_
    acc = np.zeros((c_, l_))
    for n in range(n_):
        for c in range(c_):
            for k in range(l_):
                acc[c, k] += x[n, c, k]
    mean = _channel_totals(acc) / m
    acc1 = np.zeros((c_, l_))
    acc2 = np.zeros((c_, l_))
    for n in range(n_):
        for c in range(c_):
            mc = mean[c]
            for k in range(l_):
                d = x[n, c, k] - mc
                acc1[c, k] += d
                acc2[c, k] += d * d
    d1 = _channel_totals(acc1) / m
    var = _channel_totals(acc2) / m - d1 * d1
    for c in range(c_):
        if var[c] < 0.0:
            var[c] = 0.0
    return mean, var


@njit(cache=True)
def _normalize_channels(x, mean, inv_std, gamma, beta, out, xhat):
    """xhat = (x - mean) * inv_std, out = gamma * xhat + beta, per channel; mean/inv_std in x's dtype."""
    n_, c_, l_ = x.shape
    for n in range(n_):
        for c in range(c_):
            m = mean[c]
            s = inv_std[c]
            g = gamma[c]
            b = beta[c]
            for k in range(l_):
                xh = (x[n, c, k] - m) * s
                xhat[n, c, k] = xh
                out[n, c, k] = g * xh + b


@njit(cache=True)
def batchnorm_channel_forward_train(x, gamma, beta, eps, momentum, running_mean, running_var,
                                    out, xhat, inv_std):
    """Training forward with batch statistics, per channel.

    x, out, xhat: (N, C, L); gamma, beta, running_mean, running_var, inv_std: (C,).
    Updates running_mean/running_var in place.
    """
    c_ = x.shape[1]
    mean, var = _channel_mean_var(x)
    mean_t = np.empty(c_, dtype=x.dtype)
    for c in range(c_):
        inv_std[c] = 1.0 / np.sqrt(var[c] + eps)
        mean_t[c] = mean[c]
        running_mean[c] = momentum * running_mean[c] + (1.0 - momentum) * mean[c]
        running_var[c] = momentum * running_var[c] + (1.0 - momentum) * var[c]
    _normalize_channels(x, mean_t, inv_std, gamma, beta, out, xhat)


@njit(cache=True)
def batchnorm_channel_forward_infer(x, gamma, beta, eps, running_mean, running_var, out, xhat, inv_std):
    """Inference forward with the running statistics, per channel. Shapes as in training."""
    c_ = x.shape[1]
    for c in range(c_):
        inv_std[c] = 1.0 / np.sqrt(running_var[c] + eps)
    _normalize_channels(x, running_mean, inv_std, gamma, beta, out, xhat)


@njit(cache=True)
def _channel_grad_sums(dout, xhat, dgamma, dbeta):
    """dbeta = sum dout, dgamma = sum dout * xhat over n and l, per channel (float64 partials)."""
    n_, c_, l_ = dout.shape
    sb = np.zeros((c_, l_))
    sg = np.zeros((c_, l_))
    for n in range(n_):
        for c in range(c_):
            for k in range(l_):
                g = dout[n, c, k]
                sb[c, k] += g
                sg[c, k] += g * xhat[n, c, k]
    tb = _channel_totals(sb)
    tg = _channel_totals(sg)
    for c in range(c_):
        dbeta[c] = tb[c]
        dgamma[c] = tg[c]


@njit(cache=True)
def batchnorm_channel_backward_train(dout, xhat, gamma, inv_std, dx, dgamma, dbeta):
    """Backward of the per-channel training forward.

    dout, xhat, dx: (N, C, L); gamma, inv_std, dgamma, dbeta: (C,). Closed form
    as per activation, with means over the N*L values of a channel.
    """
    n_, c_, l_ = dout.shape
    m = n_ * l_
    _channel_grad_sums(dout, xhat, dgamma, dbeta)
    scale = np.empty(c_, dtype=dout.dtype)
    mean_db = np.empty(c_, dtype=dout.dtype)
    mean_dg = np.empty(c_, dtype=dout.dtype)
    for c in range(c_):
        scale[c] = gamma[c] * inv_std[c]
        mean_db[c] = dbeta[c] / m
        mean_dg[c] = dgamma[c] / m
    for n in range(n_):
        for c in range(c_):
            s = scale[c]
            a = mean_db[c]
            b = mean_dg[c]
            for k in range(l_):
                dx[n, c, k] = s * (dout[n, c, k] - a - xhat[n, c, k] * b)


@njit(cache=True)
def batchnorm_channel_backward_infer(dout, xhat, gamma, inv_std, dx, dgamma, dbeta):
    """Backward of the per-channel inference forward: dx = dout * gamma * inv_std. Shapes as above."""
    n_, c_, l_ = dout.shape
    _channel_grad_sums(dout, xhat, dgamma, dbeta)
    scale = np.empty(c_, dtype=dout.dtype)
    for c in range(c_):
        scale[c] = gamma[c] * inv_std[c]
    for n in range(n_):
        for c in range(c_):
            s = scale[c]
            for k in range(l_):
                dx[n, c, k] = dout[n, c, k] * s
