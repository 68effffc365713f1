"""The book's functions: activations, softmax and losses (chapters 3 and 4).

Each takes a NumPy array (or anything ``np.asarray`` accepts; integer input
is computed in float64) and returns a new array in the input's float dtype.
"""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array, as_labels
from .kernels import activation as activation_kernels

__all__ = [
    "identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu", "relu_grad",
    "softmax", "sum_squared_error", "mean_squared_error", "cross_entropy_error", "softmax_loss",
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
    activation_kernels.sigmoid_forward(x.ravel(), out.ravel())
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


# --- softmax and losses (chapters 3 and 4) -------------------------------------------------

def _softmax_kernels():
    from .kernels import softmax as softmax_kernels  # its @intrinsic costs ~20 ms: imported on first use
    return softmax_kernels


def softmax(x):
    """Softmax over the last axis; a 1-D x is one row, an (N, C) x is N rows.

    Overflow-safe (each row is shifted by its maximum), so logits of ±1e4 give
    finite rows that sum to 1 up to rounding. Arrays of more than two
    dimensions are taken as rows along the last axis (the book's version
    would normalise over all their elements). Returns the input's float dtype.
    """
    x = as_float_array(x, "x", allow_int=True, allow_empty=True, min_ndim=1)
    out = np.empty_like(x)
    if x.size:
        _softmax_kernels().softmax_forward(x.reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1]))
    return out


def sum_squared_error(y, t):
    """½ Σ (y − t)² over all elements (the book's 2乗和誤差); y and t of the same shape."""
    y = as_float_array(y, "y", allow_int=True)
    t = as_float_array(t, "t", allow_int=True, dtype=y.dtype)
    if t.shape != y.shape:
        raise ValueError(f"t must have the shape of y {y.shape}, got {t.shape}")
    d = y - t
    return y.dtype.type(0.5) * np.sum(d * d)


#: The name of ``sum_squared_error`` in the book's early printings.
mean_squared_error = sum_squared_error


def _as_rows(y, name):
    """A float array (C,) or (N, C) as a 2-D (N, C) view, with its original number of dimensions."""
    y = as_float_array(y, name, allow_int=True, ndim=(1, 2))
    return y.reshape(1, -1) if y.ndim == 1 else y


def as_targets(t, n: int, c: int, dtype, name: str = "t"):
    """Sort the targets of N samples over C classes into labels or probability rows.

    Returns ``("labels", idx)`` with ``idx`` (N,) ``np.intp`` in [0, C) for
    class labels ((N,), (N, 1), a scalar for one sample) and exactly one-hot
    rows (the book's rule: t is one-hot when it has the size of y), or
    ``("probs", T)`` with T (N, C) C-contiguous in ``dtype`` for rows that
    are probability vectors but not one-hot (soft targets, label smoothing).
    The one reading of targets, shared with ``SoftmaxWithLoss`` (outside
    ``__all__``: the book's star import brings the book's names only).
    """
    arr = t
    if isinstance(arr, (list, tuple, np.generic, int, float)):
        arr = np.asarray(arr)
    if isinstance(arr, np.ndarray) and arr.dtype.kind in "iubf" and c > 1 and arr.ndim >= 1 \
            and arr.shape[-1] == c and arr.size == n * c and (arr.ndim == 2 or (arr.ndim == 1 and n == 1)):
        rows = arr.reshape(n, c)
        labels = np.empty(n, dtype=np.intp)
        kind = _softmax_kernels().classify_targets(rows, labels)  # one pass, no temporaries
        if kind == 2:
            raise ValueError(f"{name} (targets of shape {arr.shape}) must be finite")
        if kind == 3:
            raise ValueError(f"{name} (targets of shape {arr.shape}) must be non-negative")
        if kind == 1:
            return "probs", np.ascontiguousarray(rows, dtype=dtype)
        return "labels", labels
    return "labels", as_labels(arr, n, c, name)


def cross_entropy_error(y, t):
    """The book's cross-entropy: mean over the batch of −Σ t log(y + 1e-7).

    y: probabilities, (C,) for one sample or (N, C). t: labels ((N,), (N, 1)
    or a scalar for one sample) or one-hot/probability rows of y's shape.
    The ``+1e-7`` (the book's) keeps a zero probability finite: a sample's
    loss is at most about 16.1. Returns a scalar of y's float dtype. For
    logits use :func:`softmax_loss`, which is exact.
    """
    y2 = _as_rows(y, "y")
    if np.any(y2 < 0) or not np.all(np.isfinite(y2)):
        raise ValueError("y must hold probabilities (finite, non-negative)")
    n, c = y2.shape
    kind, tt = as_targets(t, n, c, y2.dtype)
    sm = _softmax_kernels()
    loss = sm.cross_entropy_labels(y2, tt) if kind == "labels" else sm.cross_entropy_probs(y2, tt)
    return y2.dtype.type(loss)


def softmax_loss(X, t):
    """Cross-entropy of softmax(X) against t, computed exactly from the logits X.

    X: logits (C,) or (N, C); t as in :func:`cross_entropy_error`. Uses
    log-sum-exp, so unlike ``cross_entropy_error(softmax(X), t)`` it has no
    ``+1e-7`` and no cap: logits [0, -1e4] with label 1 give 1e4. Returns a
    scalar of X's float dtype.
    """
    x2 = _as_rows(X, "X")
    n, c = x2.shape
    kind, tt = as_targets(t, n, c, x2.dtype)
    sm = _softmax_kernels()
    grad = np.empty_like(x2)
    fn = sm.softmax_loss_labels if kind == "labels" else sm.softmax_loss_probs
    return x2.dtype.type(fn(x2, tt, grad))
