"""Dropout as the book defines it, on numba kernels, with a seedable mask."""
from __future__ import annotations

import numpy as np

from .. import _runtime
from .._random import as_generator
from .._validate import check_scalar
from ..kernels import dropout as dropout_kernels
from .base import Layer


def _kernel(name: str, size: int):
    """The dropout kernel ``name``, its parallel build for big arrays (``fastnn._runtime.elementwise_kernel``)."""
    return _runtime.elementwise_kernel(dropout_kernels, name, size)


class Dropout(Layer):
    """Dropout (Srivastava et al., 2014) as the book has it — not inverted.

    ``forward(x, train_flg=True)`` keeps each unit with probability
    ``1 - dropout_ratio`` (a unit is kept where a uniform draw in [0, 1)
    exceeds the ratio, as the book's ``np.random.rand(*x.shape) > ratio``)
    and does not rescale; ``forward(x, train_flg=False)`` returns
    ``x * (1 - dropout_ratio)``. ``backward(dout)`` returns ``dout * mask``
    after a training forward and ``dout * (1 - dropout_ratio)`` after an
    inference forward. Any shape, float32 or float64.

    Parameters
    ----------
    dropout_ratio : float in [0, 1)
        Probability of dropping a unit.
    seed : None, int or numpy.random.Generator
        Where the uniforms come from (``fastnn._random.as_generator`` with
        ``legacy=True``). None (the default): NumPy's global legacy
        generator, the stream of ``np.random.rand``, exactly as the book — so
        ``np.random.seed(...)`` makes a run reproducible and gives the book's
        masks. An int: a private ``np.random.default_rng(seed)``. A Generator:
        that generator (shared with the caller).

    Attributes
    ----------
    rng : numpy.random.Generator or numpy.random.RandomState
        The generator the masks are drawn from (NumPy's global one for
        ``seed=None``). Public: save or set its state to replay masks.
    mask : bool array or None
        The mask of the last training forward; ``backward`` uses it, so
        assigning ``layer.mask`` between forward and backward (as one could
        with the book's layer) changes the gradient.
    fixed_mask : bool array or None
        Set by ``fix_mask``: while set, every training forward uses it
        instead of drawing (for gradient checks, which run forward many times).
    """

    takes_train_flg = True

    def __init__(self, dropout_ratio=0.5, seed=None):
        self.dropout_ratio = check_scalar(dropout_ratio, "dropout_ratio", nonnegative=True, below=1.0)
        self.rng = as_generator(seed, "seed", legacy=True)
        self.mask = None
        self.fixed_mask = None
        self._shape = self._dtype = None
        self._trained = False

    def _uniforms(self, shape) -> np.ndarray:
        """float64 uniforms in [0, 1) of ``shape``, from ``rng`` (NumPy's global one: the book's np.random.rand)."""
        return self.rng.random(shape)

    def fix_mask(self, mask=None):
        """Use one mask for every training forward until ``unfix_mask()``.

        ``mask``: bool or 0/1 array of the input's shape. Without it, the mask
        drawn by the last training forward is fixed. Returns the fixed mask.
        """
        if mask is None:
            if self.mask is None:
                raise RuntimeError("Dropout.fix_mask() without a mask needs a training forward first")
            mask = self.mask
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            if mask.dtype.kind not in "iuf" or not np.all((mask == 0) | (mask == 1)):
                raise ValueError(f"mask must be bool or hold only 0 and 1, got dtype {mask.dtype}")
        self.fixed_mask = np.ascontiguousarray(mask, dtype=np.bool_).copy()
        return self.fixed_mask

    def unfix_mask(self):
        """Draw a fresh mask at every training forward again."""
        self.fixed_mask = None

    def forward(self, x, train_flg=True):
        """Return the dropped-out (training) or scaled (inference) ``x``, same shape and dtype."""
        x = self._check_input(x, allow_empty=True)
        # a public attribute, re-checked at every call as the other layers' hyperparameters
        self.dropout_ratio = check_scalar(self.dropout_ratio, "Dropout.dropout_ratio", nonnegative=True, below=1.0)
        out = np.empty_like(x)
        self._trained = bool(train_flg)
        if self._trained:
            if self.fixed_mask is not None:
                fixed = np.asarray(self.fixed_mask)
                if fixed.shape != x.shape:
                    raise ValueError(f"the fixed mask has shape {fixed.shape}, "
                                     f"but x has shape {x.shape}")
                if fixed.dtype != np.bool_:
                    raise TypeError(f"Dropout.fixed_mask must be a bool array (set it with fix_mask), "
                                    f"got dtype {fixed.dtype}")
                self.mask = np.array(fixed, order="C")
                _kernel("dropout_backward", x.size)(x.ravel(), self.mask.ravel(), out.ravel())
            else:
                u = self._uniforms(x.shape)
                self.mask = np.empty(x.shape, dtype=np.bool_)
                _kernel("dropout_forward_train", x.size)(x.ravel(), u.ravel(), self.dropout_ratio, out.ravel(),
                                                         self.mask.ravel())
        else:
            _kernel("dropout_forward_infer", x.size)(x.ravel(), self.dropout_ratio, out.ravel())
        self._shape, self._dtype = x.shape, x.dtype
        return out

    def infer(self, x):
        """x * (1 - dropout_ratio) (the inference forward); ``mask`` and the last forward's state stay."""
        x = self._check_input(x, allow_empty=True)
        out = np.empty_like(x)
        _kernel("dropout_forward_infer", x.size)(x.ravel(), self.dropout_ratio, out.ravel())
        return out

    def backward(self, dout):
        """Return ``dout * mask`` (after training) or ``dout * (1 - ratio)`` (after inference)."""
        dout = self._check_dout(dout, self._shape, self._dtype)
        dx = np.empty_like(dout)
        if not self._trained:
            ratio = check_scalar(self.dropout_ratio, "Dropout.dropout_ratio", nonnegative=True, below=1.0)
            _kernel("dropout_forward_infer", dout.size)(dout.ravel(), ratio, dx.ravel())
            return dx
        mask = np.asarray(self.mask)
        if mask.shape != dout.shape:
            raise ValueError(f"mask must have the shape of the forward output {dout.shape}, got {mask.shape}")
        if mask.dtype != np.bool_:
            mask = mask != 0
        _kernel("dropout_backward", dout.size)(dout.ravel(), np.ascontiguousarray(mask).ravel(), dx.ravel())
        return dx
