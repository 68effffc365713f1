"""Reference activations (NumPy only)."""
import numpy as np

__all__ = ["relu_forward", "relu_backward", "sigmoid_forward", "sigmoid_backward"]


def relu_forward(x):
    """Return (x with 0 where x <= 0, mask) with the book's mask = x <= 0 (NaN is kept, as the book)."""
    mask = x <= 0
    return np.where(mask, np.zeros_like(x), x), mask


def relu_backward(dout, mask):
    """Return 0 where mask (the input was <= 0), else dout."""
    return np.where(mask, np.zeros_like(dout), dout)


def sigmoid_forward(x):
    """Return 1 / (1 + exp(-x)), split by sign so that exp never overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def sigmoid_backward(dout, y):
    """Return dout * (1 - y) * y, with y the forward output."""
    return dout * (1 - y) * y
