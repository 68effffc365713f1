"""Activation layers: Relu and Sigmoid on numba kernels."""
import numpy as np

from .. import _runtime
from .._validate import FLOAT_DTYPES, as_float_array, describe_value
from ..kernels import activation as activation_kernels
from .base import Layer


class Relu(Layer):
    """ReLU as the book's: y = x where x > 0, else 0 (NaN stays NaN). Any shape, float32 or float64.

    ``mask`` has the book's meaning: a bool array of the input's shape, True
    where x <= 0 (the cells whose output and gradient are 0). The mask the
    layer makes is read-only (backward trusts it); one assigned by a user is
    checked when ``backward`` runs (shape of the forward input, bool or 0/1).
    Unlike the book's version, ``backward`` never modifies the ``dout`` it is
    given.

    A fused stage (``fastnn.layers.fused``) that ran this layer's forward for
    it records that with ``forward_ran_elsewhere``: ``backward`` (and reading
    ``mask``) then works as after a forward of its own.
    """

    def __init__(self):
        self._mask = None
        self._trusted = True      # False: ``mask`` was assigned by a user, checked by backward
        self._source = None       # a fused stage ran forward: returns the input, for the mask on demand
        self._shape = self._dtype = None

    @property
    def mask(self):
        """The book's mask of the last forward input: True where x <= 0 (None before a forward)."""
        if self._mask is None and self._source is not None:
            self._mask_from(self._source())
        return self._mask

    @mask.setter
    def mask(self, value):
        self._mask, self._trusted, self._source = value, False, None

    def _mask_from(self, x):
        x = as_float_array(x, "the recorded input", dtype=self._dtype, allow_empty=True)
        if x.shape != self._shape:
            raise RuntimeError(f"Relu's recorded input has shape {x.shape}, the forward ran on {self._shape}")
        mask = x <= 0
        mask.flags.writeable = False
        self._mask, self._trusted, self._source = mask.view(), True, None

    def forward(self, x):
        x = self._check_input(x, allow_empty=True)
        out = np.empty_like(x)
        mask = np.empty(x.shape, dtype=np.bool_)
        _runtime.elementwise_kernel(activation_kernels, "relu_forward", x.size)(x.ravel(), out.ravel(), mask.ravel())
        mask.flags.writeable = False   # and handed out as a view, which then cannot be made writeable
        self._mask, self._trusted, self._source = mask.view(), True, None
        self._shape, self._dtype = x.shape, x.dtype
        return out

    def forward_ran_elsewhere(self, shape, dtype, source=None, mask=None):
        """Record a forward that a fused stage ran in this layer's place, on an input of ``shape``/``dtype``.

        ``mask``: the book's mask (bool, ``shape``) if the stage made it (then
        trusted only if read-only and C-contiguous, else checked by backward);
        else ``source()`` must return the forward input again: it is called
        once, the first time ``mask`` or ``backward`` needs the mask.
        """
        if mask is None and not callable(source):
            raise TypeError("forward_ran_elsewhere needs a mask or a callable source of the input")
        self._shape, self._dtype = tuple(shape), np.dtype(dtype)
        self._mask, self._source = mask, (None if mask is not None else source)
        self._trusted = mask is not None and isinstance(mask, np.ndarray) and mask.dtype == np.bool_ \
            and mask.shape == self._shape and not mask.flags.writeable and mask.flags.c_contiguous

    def _checked_mask(self, shape):
        """The mask a user assigned, as a C-contiguous bool array of ``shape``, or an error."""
        mask = self._mask
        if mask is None:
            raise RuntimeError("Relu.mask is None: run forward (or assign the book's mask, x <= 0) before backward")
        mask = np.asarray(mask)
        if mask.shape != shape:
            raise ValueError(f"Relu.mask must have the forward input's shape {shape}, got {mask.shape}")
        if mask.dtype != np.bool_:
            if mask.dtype.kind not in "iuf" or not np.all((mask == 0) | (mask == 1)):
                raise ValueError(f"Relu.mask must be bool (or hold only 0 and 1), got dtype {mask.dtype}")
            mask = mask != 0
        return np.ascontiguousarray(mask)

    def backward(self, dout):
        dout = self._check_dout(dout, self._shape, self._dtype)
        mask = self.mask
        if not self._trusted:
            mask = self._checked_mask(self._shape)
        dx = np.empty_like(dout)
        _runtime.elementwise_kernel(activation_kernels, "relu_backward", dout.size)(dout.ravel(), mask.ravel(), dx.ravel())
        return dx

    def infer(self, x):
        """``forward``'s output without a mask; ``mask`` stays as the last forward left it."""
        x = self._check_input(x, allow_empty=True)
        out = np.empty_like(x)
        _runtime.elementwise_kernel(activation_kernels, "relu_infer", x.size)(x.ravel(), out.ravel())
        return out


class Sigmoid(Layer):
    """Logistic sigmoid, y = 1 / (1 + exp(-x)); overflow-safe. Any shape, float32 or float64."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        x = self._check_input(x, allow_empty=True)
        out = np.empty_like(x)
        _runtime.elementwise_kernel(activation_kernels, "sigmoid_forward", x.size)(x.ravel(), out.ravel())
        self.out = out
        return out

    def infer(self, x):
        """The sigmoid of x; ``out`` stays as the last forward left it."""
        x = self._check_input(x, allow_empty=True)
        out = np.empty_like(x)
        _runtime.elementwise_kernel(activation_kernels, "sigmoid_forward", x.size)(x.ravel(), out.ravel())
        return out

    def backward(self, dout):
        out = self.out
        if out is None:
            raise RuntimeError("Sigmoid.backward called before forward")
        if not isinstance(out, np.ndarray) or out.dtype not in FLOAT_DTYPES:
            raise TypeError(f"Sigmoid.out must be the forward output, a float32 or float64 array, got {describe_value(out)}")
        dout = self._check_dout(dout, out.shape, out.dtype)
        dx = np.empty_like(dout)
        _runtime.elementwise_kernel(activation_kernels, "sigmoid_backward", dout.size)(dout.ravel(), np.ascontiguousarray(out).ravel(),
                                                             dx.ravel())
        return dx
