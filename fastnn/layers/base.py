"""The contract every fastnn layer keeps, and the small helpers layers share.

A layer has ``forward(x)`` and ``backward(dout)`` as in the book. A layer with
trainable parameters lists their attribute names in ``param_names`` (e.g.
``("W", "b")``); after ``backward`` the gradient of parameter ``P`` is the
attribute ``dP`` (``dW``, ``db``, ``dgamma``, ``dbeta``), as in the book.
Non-trained state that must be saved with the parameters (batch norm's
running statistics) is listed in ``state_names``. Layers whose behaviour
differs between training and inference set ``takes_train_flg = True`` and
take ``forward(x, train_flg=True)``.

``infer(x)`` is the inference forward (``Sequential.predict`` and
``accuracy`` call it): the output of ``forward(x)`` (with ``train_flg=False``
where the layer takes it), keeping nothing for backward and leaving the
state of the last ``forward`` as it was. The base class falls back to
``forward``; fastnn's layers override it.

Layers that can skip the input gradient (Affine, Convolution) honour
``input_grad = False``: ``backward`` then sets the parameter gradients and
returns None. A net sets it, for one backward pass, on its first layer,
whose input gradient nobody reads.

A layer computes in the dtype of its parameters; a parameter-free layer in
the dtype of its input. Input of another float dtype is converted once.
"""
from __future__ import annotations

import numpy as np

from .._validate import as_float_array


class Layer:
    """Base class: the book's forward/backward contract plus parameter bookkeeping."""

    param_names: tuple = ()
    state_names: tuple = ()
    takes_train_flg: bool = False
    input_grad: bool = True

    @property
    def params(self) -> dict:
        """Trainable parameters by local name (``{'W': ..., 'b': ...}``): the very arrays the layer uses."""
        return {name: getattr(self, name) for name in self.param_names}

    @property
    def grads(self) -> dict:
        """Gradients from the last ``backward``, by parameter name (None before the first)."""
        return {name: getattr(self, "d" + name, None) for name in self.param_names}

    @property
    def dtype(self):
        """The dtype the layer computes in: its parameters', or None if it has none."""
        return getattr(self, self.param_names[0]).dtype if self.param_names else None

    def infer(self, x):
        """Inference forward: ``forward``'s output, nothing kept for backward (see the module doc)."""
        return self.forward(x, train_flg=False) if self.takes_train_flg else self.forward(x)

    def _check_input(self, x, name: str = "x", **kwargs) -> np.ndarray:
        """Validate ``x`` and convert it to this layer's dtype (or keep its float dtype)."""
        return as_float_array(x, name, dtype=self.dtype, **kwargs)

    def _check_dout(self, dout, shape: tuple, dtype) -> np.ndarray:
        """Validate the upstream gradient: same shape as this layer's forward output."""
        if shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        # empty is fine here: dout must match the forward output, which the forward's own checks allowed
        dout = as_float_array(dout, "dout", dtype=dtype, allow_empty=True)
        if dout.shape != shape:
            raise ValueError(f"dout must have the shape of the forward output {shape}, got {dout.shape}")
        return dout

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n}={getattr(self, n).shape}" for n in self.param_names)
        return f"{type(self).__name__}({shapes})"
