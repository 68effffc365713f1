"""Reference Affine layer maths (NumPy only)."""
import numpy as np

__all__ = ["affine_forward", "affine_backward"]


def affine_forward(x, W, b):
    """Return x @ W + b for x (N, D), W (D, M), b (M,)."""
    return np.dot(x, W) + b


def affine_backward(x, W, dout):
    """Return (dx, dW, db) = (dout @ W.T, x.T @ dout, dout summed over the batch)."""
    return np.dot(dout, W.T), np.dot(x.T, dout), np.sum(dout, axis=0)
