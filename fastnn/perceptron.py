"""The perceptron of the book's chapter 2: logic gates from weights and a bias.

Each gate fires (returns 1) when w1*x1 + w2*x2 + b > 0, else returns 0, with
the book's weights. XOR cannot be one perceptron; it is the two-layer
combination AND(NAND(x1, x2), OR(x1, x2)). Inputs are real numbers (0 and 1
for the truth tables); the result is the int 0 or 1.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["perceptron", "AND", "NAND", "OR", "XOR"]


def _as_input(v, name):
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v.item()
    if not isinstance(v, (numbers.Real, np.bool_, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return v


def perceptron(x1, x2, w1, w2, b) -> int:
    """Return 1 if w1*x1 + w2*x2 + b > 0, else 0 (the book's two-input perceptron)."""
    x = np.array([_as_input(x1, "x1"), _as_input(x2, "x2")])
    w = np.array([w1, w2], dtype=np.float64)
    return 1 if float(np.sum(w * x) + b) > 0 else 0


def AND(x1, x2) -> int:
    """1 only when both inputs are 1 (w = (0.5, 0.5), b = -0.7)."""
    return perceptron(x1, x2, 0.5, 0.5, -0.7)


def NAND(x1, x2) -> int:
    """0 only when both inputs are 1 (w = (-0.5, -0.5), b = 0.7)."""
    return perceptron(x1, x2, -0.5, -0.5, 0.7)


def OR(x1, x2) -> int:
    """1 when either input is 1 (w = (0.5, 0.5), b = -0.2)."""
    return perceptron(x1, x2, 0.5, 0.5, -0.2)


def XOR(x1, x2) -> int:
    """1 when exactly one input is 1: AND(NAND(x1, x2), OR(x1, x2)), a two-layer perceptron."""
    return AND(NAND(x1, x2), OR(x1, x2))
