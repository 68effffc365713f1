"""Reference optimizer update rules (NumPy only), twins of ``fastnn.kernels.optim``.

Each function takes the parameter, its gradient and the optimizer state
(arrays of one shape and one float dtype) and the book's hyperparameters
(Python floats), and returns the *new* parameter and state as new arrays;
nothing is modified. Coefficients derived from the hyperparameters are
computed in float64 and then converted to the array dtype, as the kernels do.
"""
import math

import numpy as np

__all__ = ["sgd_update", "momentum_update", "nesterov_update", "adagrad_update",
           "rmsprop_update", "adam_update", "adam_lr_t"]

EPS = 1e-7


def _c(x, value):
    """``value`` as a scalar of ``x``'s dtype."""
    return x.dtype.type(value)


def sgd_update(param, grad, lr):
    """Return param - lr * grad."""
    return param - _c(param, lr) * grad


def momentum_update(param, grad, v, lr, momentum):
    """Return (param + v_new, v_new) with v_new = momentum * v - lr * grad."""
    v_new = _c(param, momentum) * v - _c(param, lr) * grad
    return param + v_new, v_new


def nesterov_update(param, grad, v, lr, momentum):
    """Return (param + momentum² v - (1 + momentum) lr grad, momentum v - lr grad).

    The parameter moves with the *old* velocity ``v``; the returned velocity
    is the new one (the book's form since 2021, after Bengio et al.).
    """
    param_new = (param + _c(param, momentum * momentum) * v) - _c(param, (1.0 + momentum) * lr) * grad
    v_new = _c(param, momentum) * v - _c(param, lr) * grad
    return param_new, v_new


def adagrad_update(param, grad, h, lr):
    """Return (param - lr grad / (sqrt(h_new) + 1e-7), h_new) with h_new = h + grad²."""
    h_new = h + grad * grad
    return param - _c(param, lr) * grad / (np.sqrt(h_new) + _c(param, EPS)), h_new


def rmsprop_update(param, grad, h, lr, decay_rate):
    """Return (param - lr grad / (sqrt(h_new) + 1e-7), h_new), h_new = decay_rate h + (1 - decay_rate) grad²."""
    h_new = h * _c(param, decay_rate) + _c(param, 1.0 - decay_rate) * grad * grad
    return param - _c(param, lr) * grad / (np.sqrt(h_new) + _c(param, EPS)), h_new


def adam_update(param, grad, m, v, lr_t, beta1, beta2):
    """Return (param_new, m_new, v_new) for one Adam step with bias-corrected step size ``lr_t``.

    m_new = m + (1 - beta1)(grad - m); v_new = v + (1 - beta2)(grad² - v);
    param_new = param - lr_t m_new / (sqrt(v_new) + 1e-7). See ``adam_lr_t``.
    """
    m_new = m + _c(param, 1.0 - beta1) * (grad - m)
    v_new = v + _c(param, 1.0 - beta2) * (grad * grad - v)
    return param - _c(param, lr_t) * m_new / (np.sqrt(v_new) + _c(param, EPS)), m_new, v_new


def adam_lr_t(lr, beta1, beta2, t):
    """The book's bias-corrected Adam step size for step t = 1, 2, …: lr √(1 − beta2ᵗ) / (1 − beta1ᵗ)."""
    return lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
