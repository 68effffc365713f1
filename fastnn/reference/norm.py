"""Reference batch normalisation (NumPy only), the twin of ``fastnn.kernels.norm``.

Per activation (``batchnorm_*``): ``x`` is (N, D), statistics over axis 0.
Per channel (``batchnorm_channel_*``): ``x`` is (N, C, ...) — (N, C, L) as the
kernels take it, or (N, C, H, W) — statistics over every axis but 1.

Training uses the batch mean and biased variance; inference the running
statistics. ``xhat = (x - mean) / sqrt(var + eps)``, ``out = gamma * xhat + beta``.
Computed in the dtype of ``x`` (``eps`` and ``momentum`` are Python floats, which
NumPy 2 does not let promote a float32 array).
"""
import numpy as np

__all__ = [
    "batchnorm_forward_train", "batchnorm_forward_infer",
    "batchnorm_backward_train", "batchnorm_backward_infer",
    "batchnorm_channel_forward_train", "batchnorm_channel_forward_infer",
    "batchnorm_channel_backward_train", "batchnorm_channel_backward_infer",
]


def _axes(x, per_channel):
    """The axes statistics are taken over, and a function shaping a (D,) or (C,) vector to broadcast."""
    if not per_channel:
        return (0,), lambda v: v
    axes = (0,) + tuple(range(2, x.ndim))
    return axes, lambda v: v.reshape((1, -1) + (1,) * (x.ndim - 2))


def _forward_train(x, gamma, beta, eps, momentum, running_mean, running_var, per_channel):
    axes, b = _axes(x, per_channel)
    mean = x.mean(axis=axes)
    xc = x - b(mean)
    var = (xc ** 2).mean(axis=axes)
    inv_std = 1 / np.sqrt(var + eps)
    xhat = xc * b(inv_std)
    out = b(gamma) * xhat + b(beta)
    new_mean = momentum * running_mean + (1 - momentum) * mean
    new_var = momentum * running_var + (1 - momentum) * var
    dt = x.dtype
    return (out.astype(dt), xhat.astype(dt), inv_std.astype(dt),
            new_mean.astype(running_mean.dtype), new_var.astype(running_var.dtype))


def _forward_infer(x, gamma, beta, eps, running_mean, running_var, per_channel):
    _, b = _axes(x, per_channel)
    inv_std = 1 / np.sqrt(running_var + eps)
    xhat = (x - b(running_mean)) * b(inv_std)
    out = b(gamma) * xhat + b(beta)
    dt = x.dtype
    return out.astype(dt), xhat.astype(dt), inv_std.astype(dt)


def _backward(dout, xhat, gamma, inv_std, per_channel, batch_stats):
    axes, b = _axes(dout, per_channel)
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    if batch_stats:
        m = dout.size // gamma.size
        dx = b(gamma * inv_std) * (dout - b(dbeta / m) - xhat * b(dgamma / m))
    else:
        dx = dout * b(gamma * inv_std)
    dt = dout.dtype
    return dx.astype(dt), dgamma.astype(dt), dbeta.astype(dt)


def batchnorm_forward_train(x, gamma, beta, eps, momentum, running_mean, running_var):
    """Per activation, training. Returns (out, xhat, inv_std, new_running_mean, new_running_var)."""
    return _forward_train(x, gamma, beta, eps, momentum, running_mean, running_var, False)


def batchnorm_forward_infer(x, gamma, beta, eps, running_mean, running_var):
    """Per activation, inference. Returns (out, xhat, inv_std)."""
    return _forward_infer(x, gamma, beta, eps, running_mean, running_var, False)


def batchnorm_backward_train(dout, xhat, gamma, inv_std):
    """Per activation, after a training forward. Returns (dx, dgamma, dbeta)."""
    return _backward(dout, xhat, gamma, inv_std, False, True)


def batchnorm_backward_infer(dout, xhat, gamma, inv_std):
    """Per activation, after an inference forward. Returns (dx, dgamma, dbeta)."""
    return _backward(dout, xhat, gamma, inv_std, False, False)


def batchnorm_channel_forward_train(x, gamma, beta, eps, momentum, running_mean, running_var):
    """Per channel, training. Returns (out, xhat, inv_std, new_running_mean, new_running_var)."""
    return _forward_train(x, gamma, beta, eps, momentum, running_mean, running_var, True)


def batchnorm_channel_forward_infer(x, gamma, beta, eps, running_mean, running_var):
    """Per channel, inference. Returns (out, xhat, inv_std)."""
    return _forward_infer(x, gamma, beta, eps, running_mean, running_var, True)


def batchnorm_channel_backward_train(dout, xhat, gamma, inv_std):
    """Per channel, after a training forward. Returns (dx, dgamma, dbeta)."""
    return _backward(dout, xhat, gamma, inv_std, True, True)


def batchnorm_channel_backward_infer(dout, xhat, gamma, inv_std):
    """Per channel, after an inference forward. Returns (dx, dgamma, dbeta)."""
    return _backward(dout, xhat, gamma, inv_std, True, False)
