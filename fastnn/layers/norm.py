"""BatchNormalization on numba kernels: 2-D input, and 4-D input per activation or per channel."""
from __future__ import annotations

import numpy as np

from .._validate import FLOAT_DTYPES, as_float_array, check_scalar, describe_value
from ..kernels import norm as norm_kernels
from .base import Layer

#: The book's ``10e-7``, added to the variance before the square root.
DEFAULT_EPS = 1e-6


def _param_vector(value, name: str, dtype=None) -> np.ndarray:
    """A 1-D float parameter or state vector; an ndarray is kept as the very array, never copied.

    Non-array input (a list) is converted; an ndarray of the wrong kind is
    refused rather than silently copied, since a copy would cut the link
    between the layer and the caller's ``params`` dict.
    """
    if not isinstance(value, np.ndarray):
        return as_float_array(value, name, dtype=dtype, allow_int=True, ndim=1)
    if value.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {value.dtype}")
    if dtype is not None and value.dtype != dtype:
        raise TypeError(f"{name} must have gamma's dtype {dtype}, got {value.dtype}")
    if value.ndim != 1 or value.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {value.shape}")
    if not value.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (the layer uses it in place), got a strided view")
    return value


class BatchNormalization(Layer):
    """Batch normalisation (Ioffe & Szegedy, 2015) with the book's signature.

    ``y = gamma * (x - mean) / sqrt(var + eps) + beta``, with the batch's mean
    and (biased) variance in training (``forward(x, train_flg=True)``) and
    the running statistics at inference (``train_flg=False``).

    Input: 2-D ``(N, D)`` with ``gamma.size == D``, or 4-D ``(N, C, H, W)``,
    where gamma's size picks the layout:

    * ``gamma.size == C*H*W``: per activation, as the book — the input is
      flattened to ``(N, C*H*W)`` and every one of the C*H*W activations has
      its own statistics over the batch;
    * ``gamma.size == C``: per channel, as conv nets usually do — one
      statistic per channel over N, H and W.

    Any other size is a ``ValueError``.

    Parameters
    ----------
    gamma, beta : 1-D float32 or float64 arrays of one size and dtype
        Scale and shift. The layer keeps these very arrays (an optimizer that
        updates ``params`` in place updates the layer) and computes in their
        dtype; input of the other float dtype is converted.
    momentum : float in [0, 1)
        ``running = momentum * running + (1 - momentum) * batch`` after each
        training forward (the book's form).
    running_mean, running_var : 1-D arrays of gamma's size, optional
        Start at zeros and ones when not given (the book starts the variance
        at 0, a slip: an inference before any training would divide by
        ``sqrt(eps)``). Updated in place.
    eps : float > 0
        Added to the variance; the book's value ``10e-7`` by default. It also
        keeps a batch of one sample (or a constant feature) finite: its
        variance is 0, so ``xhat`` is 0 and the output is ``beta``.

    After ``backward``, the gradients are ``dgamma`` and ``dbeta``. A backward
    after an inference forward differentiates the inference function (fixed
    statistics). Attributes ``xhat`` (normalised input, the book's ``xn``,
    flattened to 2-D in the per-activation layout) and ``inv_std`` (1/std of
    the statistics used) hold the last forward's values.
    """

    param_names = ("gamma", "beta")
    state_names = ("running_mean", "running_var")
    takes_train_flg = True

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None, eps=DEFAULT_EPS):
        self.gamma = _param_vector(gamma, "gamma")
        self.beta = _param_vector(beta, "beta", dtype=self.gamma.dtype)
        if self.beta.shape != self.gamma.shape:
            raise ValueError(f"beta must have gamma's shape {self.gamma.shape}, got {self.beta.shape}")
        self.momentum = check_scalar(momentum, "momentum", nonnegative=True, below=1.0)
        self.eps = check_scalar(eps, "eps", positive=True)
        self._checked_hyper = (self.momentum, self.eps)
        dt, size = self.gamma.dtype, self.gamma.size
        self.running_mean = np.zeros(size, dtype=dt) if running_mean is None else \
            self._state_vector(running_mean, "running_mean")
        self.running_var = np.ones(size, dtype=dt) if running_var is None else \
            self._state_vector(running_var, "running_var")
        self._check_params(inference=True)
        self.dgamma = self.dbeta = None
        self.xhat = self.inv_std = None
        self._input_shape = None
        self._per_channel = False
        self._trained = False  # whether the last forward used batch statistics

    def _state_vector(self, value, name):
        arr = _param_vector(value, name, dtype=self.gamma.dtype)
        if arr.shape != self.gamma.shape:
            raise ValueError(f"{name} must have gamma's shape {self.gamma.shape}, got {arr.shape}")
        return arr

    def _check_params(self, inference: bool = False) -> None:
        """Re-check gamma, beta, the running statistics, momentum and eps: all public, all rebindable.

        One path for every call (``__init__`` runs the same checks through
        the same messages). With ``inference``, also that no running
        variance is negative (the kernel divides by sqrt(running_var + eps)).
        """
        g = self.gamma
        if not isinstance(g, np.ndarray) or g.dtype not in FLOAT_DTYPES:
            raise TypeError(f"BatchNormalization.gamma must be a float32 or float64 array, got {describe_value(g)}")
        if g.ndim != 1 or g.size == 0:
            raise ValueError(f"BatchNormalization.gamma must be a non-empty 1-D array, got shape {g.shape}")
        for name in ("beta", "running_mean", "running_var"):
            v = getattr(self, name)
            if not isinstance(v, np.ndarray) or v.dtype != g.dtype:
                raise TypeError(f"BatchNormalization.{name} must be an array of gamma's dtype {g.dtype}, "
                                f"got {describe_value(v)}")
            if v.shape != g.shape:
                raise ValueError(f"BatchNormalization.{name} must be an array of gamma's shape {g.shape}, "
                                 f"got shape {v.shape}")
        if (self.momentum, self.eps) != self._checked_hyper:   # checked again whenever one was rebound
            check_scalar(self.momentum, "BatchNormalization.momentum", nonnegative=True, below=1.0)
            check_scalar(self.eps, "BatchNormalization.eps", positive=True)
            self._checked_hyper = (self.momentum, self.eps)
        if inference and self.running_var.min() < 0:
            raise ValueError("BatchNormalization.running_var must be >= 0 (a variance), got a minimum of "
                             f"{self.running_var.min()}")

    def _layout(self, x: np.ndarray):
        """Return (per_channel, the 2-D or 3-D view the kernels take) for a checked input."""
        size = self.gamma.size
        if x.ndim == 2:
            if x.shape[1] != size:
                raise ValueError(f"x has {x.shape[1]} features, but gamma has {size} entries; "
                                 f"x must have shape (N, {size})")
            return False, x
        n, c, h, w = x.shape
        if size == c * h * w:
            return False, x.reshape(n, c * h * w)
        if size == c:
            return True, x.reshape(n, c, h * w)
        raise ValueError(
            f"gamma has {size} entries, which fits neither layout for x of shape (N, C, H, W) = {x.shape}: "
            f"C*H*W = {c * h * w} entries normalise per activation (as the book), "
            f"C = {c} entries per channel")

    def forward(self, x, train_flg=True):
        """Normalise ``x`` (N, D) or (N, C, H, W); returns an array of x's shape in the layer's dtype."""
        self._check_params(inference=not train_flg)
        x = self._check_input(x, ndim=(2, 4))
        self._per_channel, xv = self._layout(x)
        out = np.empty_like(xv)
        self.xhat = np.empty_like(xv)
        self.inv_std = np.empty_like(self.gamma)
        self._trained = bool(train_flg)
        if self._per_channel:
            train, infer = norm_kernels.batchnorm_channel_forward_train, norm_kernels.batchnorm_channel_forward_infer
        else:
            train, infer = norm_kernels.batchnorm_forward_train, norm_kernels.batchnorm_forward_infer
        if self._trained:
            train(xv, self.gamma, self.beta, self.eps, self.momentum, self.running_mean, self.running_var,
                  out, self.xhat, self.inv_std)
        else:
            infer(xv, self.gamma, self.beta, self.eps, self.running_mean, self.running_var,
                  out, self.xhat, self.inv_std)
        self._input_shape = x.shape
        return out.reshape(x.shape)

    def infer(self, x):
        """Normalise x by the running statistics; ``xhat`` and ``inv_std`` of the last forward stay as they were.

        The kernel's own xhat and inv_std go to arrays of this call that are dropped on return.
        """
        self._check_params()
        x = self._check_input(x, ndim=(2, 4))
        per_channel, xv = self._layout(x)
        out = np.empty_like(xv)
        infer = norm_kernels.batchnorm_channel_forward_infer if per_channel else norm_kernels.batchnorm_forward_infer
        infer(xv, self.gamma, self.beta, self.eps, self.running_mean, self.running_var,
              out, np.empty_like(xv), np.empty_like(self.gamma))
        return out.reshape(x.shape)

    def backward(self, dout):
        """Return dx (the forward input's shape); set ``dgamma`` and ``dbeta`` (gamma's shape)."""
        if self._input_shape is None:
            raise RuntimeError("BatchNormalization.backward called before forward")
        self._check_params()
        xhat, inv_std, g = self.xhat, self.inv_std, self.gamma
        if not isinstance(inv_std, np.ndarray) or inv_std.shape != g.shape or inv_std.dtype != g.dtype \
                or not isinstance(xhat, np.ndarray) or xhat.dtype != g.dtype:
            raise RuntimeError("BatchNormalization.gamma, xhat or inv_std changed shape or dtype between "
                               "forward and backward")
        dout = self._check_dout(dout, self._input_shape, g.dtype)
        n = self._input_shape[0]
        shape = self._input_shape
        expected = (n, g.size, shape[2] * shape[3]) if self._per_channel else (n, g.size)
        if xhat.shape != expected or not xhat.flags.c_contiguous or not inv_std.flags.c_contiguous:
            raise ValueError(f"BatchNormalization.xhat must be the forward's C-contiguous {expected} array, "
                             f"got {describe_value(xhat)}")
        dv = dout.reshape(xhat.shape)
        dx = np.empty_like(dv)
        self.dgamma = np.empty_like(self.gamma)
        self.dbeta = np.empty_like(self.gamma)
        if self._per_channel:
            kernel = norm_kernels.batchnorm_channel_backward_train if self._trained else norm_kernels.batchnorm_channel_backward_infer
        else:
            kernel = norm_kernels.batchnorm_backward_train if self._trained else norm_kernels.batchnorm_backward_infer
        kernel(dv, xhat, g, inv_std, dx, self.dgamma, self.dbeta)
        return dx.reshape(self._input_shape)
