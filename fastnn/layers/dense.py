"""The dense layers of the book: MulLayer, AddLayer, Affine and SoftmaxWithLoss.

Affine and SoftmaxWithLoss run on the numba kernels of ``fastnn.kernels.dense``
and ``fastnn.kernels.softmax``; MulLayer and AddLayer are the chapter 5
computational-graph nodes, kept as plain arithmetic on numbers or arrays.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _runtime
from .._validate import FLOAT_DTYPES, check_scalar, describe_value
from ..functions import as_targets
from ..kernels import dense as dense_kernels
from ..kernels import softmax as softmax_kernels
from .base import Layer

_FLOAT32, _FLOAT64 = FLOAT_DTYPES

def _as_operand(v, name):
    """A number or array for MulLayer/AddLayer: numbers stay numbers, lists become arrays."""
    if isinstance(v, (list, tuple)):
        v = np.asarray(v)
    if isinstance(v, bool) or not isinstance(v, (numbers.Number, np.ndarray, np.generic)) \
            or (isinstance(v, (np.ndarray, np.generic)) and np.asarray(v).dtype.kind not in "iufc"):
        raise TypeError(f"{name} must be a number or a numeric array, got {type(v).__name__}"
                        + (f" of dtype {v.dtype}" if isinstance(v, np.ndarray) else ""))
    return v


def _unbroadcast(grad, like):
    """Sum ``grad`` over the axes along which ``like`` was broadcast, so it takes ``like``'s shape."""
    shape = np.shape(like)
    if np.shape(grad) == shape:
        return grad
    grad = np.asarray(grad)
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra > 0 else grad
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad[()] if shape == () else grad


class MulLayer:
    """The multiplication node: forward(x, y) = x * y; backward(dout) = (dout * y, dout * x).

    Numbers or arrays, as in the book (the apple example: ``MulLayer().forward(100, 2)``
    is 200). Where x and y broadcast against each other, each gradient is
    summed back to the shape of its operand.
    """

    def __init__(self):
        self.x = None
        self.y = None

    def forward(self, x, y):
        self.x = _as_operand(x, "x")
        self.y = _as_operand(y, "y")
        return self.x * self.y

    def backward(self, dout):
        if self.x is None:
            raise RuntimeError("MulLayer.backward called before forward")
        dout = _as_operand(dout, "dout")
        return _unbroadcast(dout * self.y, self.x), _unbroadcast(dout * self.x, self.y)


class AddLayer:
    """The addition node: forward(x, y) = x + y; backward(dout) = (dout, dout).

    Numbers or arrays, as in the book. Where x and y broadcast against each
    other, each gradient is summed back to the shape of its operand.
    """

    def __init__(self):
        self._x = None
        self._y = None

    def forward(self, x, y):
        self._x = _as_operand(x, "x")
        self._y = _as_operand(y, "y")
        return self._x + self._y

    def backward(self, dout):
        if self._x is None:
            raise RuntimeError("AddLayer.backward called before forward")
        dout = _as_operand(dout, "dout")
        return _unbroadcast(dout * 1, self._x), _unbroadcast(dout * 1, self._y)


class Affine(Layer):
    """Fully connected layer: out = x.reshape(N, -1) @ W + b.

    W (D, M) and b (M,) are float32 or float64 arrays of one dtype; the layer
    keeps the very arrays it is given (a net's ``params`` and the optimizers
    update them in place) and computes in their dtype. ``forward`` takes x of
    shape (N, D) or (N, d1, d2, ...) with d1*d2*... = D (an image batch) and
    returns (N, M); ``backward(dout)`` with dout (N, M) sets ``dW`` (D, M) and
    ``db`` (M,) and returns dx in x's original shape. Like the book's layer,
    ``self.x`` is the (N, D) view of the input (of the caller's array when it
    needed no conversion), read again by ``backward``: a view fastnn made, so
    reshaping the caller's array cannot change it; an ``x`` a user assigns is
    checked when ``backward`` runs.
    """

    param_names = ("W", "b")

    def __init__(self, W, b):
        self.W = W
        self.b = b
        self._contiguous_params()   # again at every forward/backward: W and b are public attributes
        self._x = None
        self._x_trusted = True      # False: ``x`` was assigned by a user, checked by backward
        self.original_x_shape = None
        self.dW = None
        self.db = None
        self._dW_half = None  # scratch of affine_param_grads_split, reused while W's shape holds

    @property
    def x(self):
        """The last forward input as (N, D), as the book keeps it (None before a forward)."""
        return self._x

    @x.setter
    def x(self, value):
        self._x, self._x_trusted = value, False

    def _contiguous_params(self):
        """W and b checked (in __init__ and at every call: a user may rebind them), C-contiguous.

        One path for every call, cheapest checks first; each failure names
        the attribute, what it holds and what it should.
        """
        W, b = self.W, self.b
        if not isinstance(W, np.ndarray) or W.dtype not in FLOAT_DTYPES:
            raise TypeError(f"Affine.W must be a float32 or float64 array, got {describe_value(W)}")
        if W.ndim != 2 or W.size == 0:
            raise ValueError(f"Affine.W must be a non-empty 2-D array (D, M), got shape {W.shape}")
        if not isinstance(b, np.ndarray) or b.dtype != W.dtype:
            raise TypeError(f"Affine.b must be an array of W's dtype {W.dtype}, got {describe_value(b)}")
        if b.shape != (W.shape[1],):
            raise ValueError(f"Affine.b must have shape ({W.shape[1]},) to match W {W.shape}, got {b.shape}")
        return (W if W.flags.c_contiguous else np.ascontiguousarray(W),
                b if b.flags.c_contiguous else np.ascontiguousarray(b))

    def _checked_x(self, W):
        """The ``x`` a user assigned, checked against W (D features, W's dtype), C-contiguous (N, D)."""
        x = self._x
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != W.shape[0] or x.dtype != W.dtype:
            raise ValueError(f"Affine.x must be the forward input as (N, {W.shape[0]}) of dtype {W.dtype}, "
                             f"got {describe_value(x)}")
        return np.ascontiguousarray(x)

    def forward(self, x):
        return self._forward(x, keep=True)

    def _forward(self, x, keep):
        W, b = self._contiguous_params()
        x = self._check_input(x, min_ndim=2)
        D, M = W.shape
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != D:
            raise ValueError(f"x must have {D} features per sample (W has shape {self.W.shape}), "
                             f"got shape {x.shape}")
        out = np.empty((x2.shape[0], M), dtype=W.dtype)
        if _runtime.affine_split(x2.shape[0], D, M, W.dtype):
            _runtime.split_kernel(dense_kernels, "affine_forward_split")(x2, W, b, out)
        else:
            _runtime.run_product(dense_kernels.affine_forward, x2.shape[0], D, M, x2, W, b, out)
        if keep:
            self.original_x_shape = x.shape
            self._x, self._x_trusted = x2, True    # a reshape: a view a caller cannot reshape
        return out

    def infer(self, x):
        """x @ W + b without keeping x (the last forward's ``x`` stays as it was)."""
        return self._forward(x, keep=False)

    def backward(self, dout):
        if self._x is None:
            raise RuntimeError("Affine.backward called before forward")
        W, _ = self._contiguous_params()
        x = self._x
        if self._x_trusted and (W.shape[0] != x.shape[1] or W.dtype != x.dtype):
            raise RuntimeError("Affine.W changed shape or dtype between forward and backward")
        if not self._x_trusted:
            x = self._checked_x(W)
        dout = self._check_dout(dout, (x.shape[0], W.shape[1]), W.dtype)
        dW = np.empty(W.shape, dtype=W.dtype)
        db = np.empty(W.shape[1], dtype=W.dtype)
        split = _runtime.affine_split(x.shape[0], W.shape[0], W.shape[1], W.dtype)
        if not self.input_grad:
            if split:
                half = self._dW_half
                if half is None or half.shape != W.shape or half.dtype != W.dtype:
                    half = self._dW_half = np.empty_like(dW)
                _runtime.split_kernel(dense_kernels, "affine_param_grads_split")(x, dout, dW, db, half)
            else:
                _runtime.run_product(dense_kernels.affine_param_grads, *x.shape, W.shape[1], x, dout, dW, db)
            self.dW, self.db = dW, db
            return None
        dx = np.empty(x.shape, dtype=W.dtype)
        if split:
            _runtime.split_kernel(dense_kernels, "affine_backward_split")(x, W, dout, dx, dW, db)
        else:
            _runtime.run_product(dense_kernels.affine_backward, *x.shape, W.shape[1], x, W, dout, dx, dW, db)
        self.dW, self.db = dW, db
        return dx.reshape(self.original_x_shape)


class SoftmaxWithLoss(Layer):
    """Softmax followed by the cross-entropy loss, fused into one kernel pass.

    ``forward(x, t)``: x logits (N, C) (or (C,) for one sample), float32 or
    float64; t labels ((N,), (N, 1), a scalar for one sample) or one-hot
    rows, or probability rows of x's shape (soft targets: the loss is then
    −Σ t log softmax(x)). Returns the mean loss over the batch as a Python
    float, computed from the logits by log-sum-exp: exact where a probability
    underflows (no ``+1e-7`` cap as in the book).

    ``backward(dout=1)`` returns dout · ∂loss/∂x, shape of x; unlike the book's
    layer it honours ``dout``. The gradient is written by ``forward`` (same
    kernel pass), so ``backward`` only scales it.

    Attributes as in the book: ``loss``, ``t`` (the targets as given) and
    ``y`` (the softmax probabilities) — ``y`` is computed lazily, from a copy
    of the logits, on first access after each ``forward``.
    """

    def __init__(self):
        self.loss = None
        self.t = None
        self._logits = None
        self._grad = None
        self._x_shape = None
        self._y = None

    @property
    def y(self):
        """Softmax probabilities of the last forward's logits, shape of x (None before forward)."""
        if self._y is None and self._logits is not None:
            y = np.empty_like(self._logits)
            softmax_kernels.softmax_forward(self._logits, y)
            self._y = y.reshape(self._x_shape)
        return self._y

    def forward(self, x, t):
        x_in = x
        x = self._check_input(x, ndim=(1, 2))
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        n, c = x2.shape
        kind, tt = as_targets(t, n, c, x2.dtype)
        grad = np.empty_like(x2)
        fn = softmax_kernels.softmax_loss_labels if kind == "labels" else softmax_kernels.softmax_loss_probs
        self.loss = float(fn(x2, tt, grad))
        self._grad = grad
        self._logits = x2.copy() if x is x_in else x2  # y must not follow later edits of the caller's array
        self._x_shape = x.shape
        self._y = None
        self.t = t
        return self.loss

    def backward(self, dout=1):
        if self._grad is None:
            raise RuntimeError("SoftmaxWithLoss.backward called before forward")
        if isinstance(dout, np.ndarray):
            if dout.size != 1:
                raise ValueError(f"dout must be a scalar (the loss is a scalar), got shape {dout.shape}")
            dout = dout.reshape(()).item()
        dout = check_scalar(dout, "dout")
        dx = self._grad * self._grad.dtype.type(dout)
        return dx.reshape(self._x_shape)
