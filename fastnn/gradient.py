"""Numerical differentiation (the book's chapter 4): derivative, gradient, gradient descent."""
from __future__ import annotations

import numpy as np

from ._validate import check_scalar

__all__ = ["numerical_diff", "numerical_gradient", "gradient_descent"]


def numerical_diff(f, x, h=1e-4):
    """Central difference (f(x + h) - f(x - h)) / 2h of a scalar function at a scalar ``x``."""
    h = check_scalar(h, "h", positive=True)
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f, x, h=1e-4):
    """Gradient of the scalar ``f(x)`` with respect to the float array ``x``, of any shape.

    Each element of ``x`` is perturbed in place by ±h (so ``f`` may read ``x``
    through a closure, as the book's nets do with their parameters) and put
    back exactly afterwards, also if ``f`` raises. Returns an array of the
    shape and dtype of ``x``.
    """
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError(f"x must be a float array, got {type(x).__name__}"
                        + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else ""))
    if not x.flags.writeable:
        raise ValueError("x must be writeable: numerical_gradient perturbs it in place")
    h = check_scalar(h, "h", positive=True)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        idx = it.multi_index
        saved = x[idx].copy()
        try:
            x[idx] = saved + h
            f_plus = float(f(x))
            x[idx] = saved - h
            f_minus = float(f(x))
        finally:
            x[idx] = saved
        grad[idx] = (f_plus - f_minus) / (2 * h)
        it.iternext()
    return grad


def gradient_descent(f, init_x, lr=0.01, step_num=100):
    """Minimise ``f`` from ``init_x`` by ``step_num`` steps of x -= lr * numerical_gradient(f, x).

    Returns the final x (a new float array; ``init_x`` is not modified).
    """
    lr = check_scalar(lr, "lr", positive=True)
    step_num = check_scalar(step_num, "step_num", integer=True, nonnegative=True)
    x = np.array(init_x)  # a copy: init_x is left as it was
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
    return x
