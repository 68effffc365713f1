"""The book's functions: activations, softmax and losses (chapters 3 and 4).

Each takes a NumPy array (or anything ``np.asarray`` accepts; integer input
is computed in float64) and returns a new array in the input's float dtype.
"""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array
from .kernels import activation as _act

__all__ = [
    "identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu", "relu_grad",
]


def _as_input(x, name="x"):
    return as_float_array(x, name, allow_int=True, allow_empty=True)


def identity_function(x):
    """Return x unchanged (the output activation of regression)."""
    return x


def step_function(x):
    """Return 1 where x > 0, else 0, as int64 (the perceptron's activation; the book's ``astype(int)``)."""
    return (_as_input(x) > 0).astype(np.int64)


def sigmoid(x):
    """Logistic sigmoid 1 / (1 + exp(-x)), computed without overflow warnings."""
    x = _as_input(x)
    out = np.empty_like(x)
    _act.sigmoid_forward(x.ravel(), out.ravel())
    return out


def sigmoid_grad(x):
    """Derivative of the sigmoid at x: (1 - sigmoid(x)) * sigmoid(x)."""
    y = sigmoid(x)
    return (1 - y) * y


def relu(x):
    """max(x, 0)."""
    x = _as_input(x)
    return np.maximum(x, 0, dtype=x.dtype)


def relu_grad(x):
    """Derivative of ReLU as the book's ``common.functions`` defines it: 1 where x >= 0, else 0."""
    x = _as_input(x)
    return (x >= 0).astype(x.dtype)
