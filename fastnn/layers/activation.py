"""Activation layers: Relu and Sigmoid on numba kernels."""
import numpy as np

from .. import _runtime
from ..kernels import activation as K
from .base import Layer


class Relu(Layer):
    """ReLU, y = max(x, 0). Any shape, float32 or float64.

    Unlike the book's version, ``backward`` never modifies the ``dout`` it is given.
    """

    def __init__(self):
        self.mask = None  # bool array, x > 0, shape of x
        self._shape = self._dtype = None

    def forward(self, x):
        x = self._check_input(x, allow_empty=True)
        out = np.empty_like(x)
        self.mask = np.empty(x.shape, dtype=np.bool_)
        _runtime.elementwise_kernel(K, "relu_forward", x.size)(x.ravel(), out.ravel(), self.mask.ravel())
        self._shape, self._dtype = x.shape, x.dtype
        return out

    def backward(self, dout):
        dout = self._check_dout(dout, self._shape, self._dtype)
        dx = np.empty_like(dout)
        _runtime.elementwise_kernel(K, "relu_backward", dout.size)(dout.ravel(), self.mask.ravel(), dx.ravel())
        return dx

    def _forget(self):
        """Drop the forward state (a fused stage ran in this layer's place): backward raises until a forward."""
        self.mask = None
        self._shape = self._dtype = None


class Sigmoid(Layer):
    """Logistic sigmoid, y = 1 / (1 + exp(-x)); overflow-safe. Any shape, float32 or float64."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        x = self._check_input(x, allow_empty=True)
        out = np.empty_like(x)
        _runtime.elementwise_kernel(K, "sigmoid_forward", x.size)(x.ravel(), out.ravel())
        self.out = out
        return out

    def backward(self, dout):
        if self.out is None:
            raise RuntimeError("Sigmoid.backward called before forward")
        dout = self._check_dout(dout, self.out.shape, self.out.dtype)
        dx = np.empty_like(dout)
        _runtime.elementwise_kernel(K, "sigmoid_backward", dout.size)(dout.ravel(), self.out.ravel(), dx.ravel())
        return dx
