"""Sequential: a chain of layers and a loss layer — the container all of the book's nets are built on."""
from __future__ import annotations

import inspect
from collections import OrderedDict

import numpy as np

from .._validate import as_float_array, as_labels, check_scalar
from ..gradient import numerical_gradient as _numerical_gradient
from ..layers.fused import fuse_stages
from . import checkpoint

__all__ = ["Sequential", "ParamDict", "layer_prefix"]

#: The book's layer names: 'Affine1', 'Relu1', 'BatchNorm1', 'Conv1', 'Pool1', ...
_PREFIXES = {
    "BatchNormalization": "BatchNorm",
    "Convolution": "Conv",
    "Pooling": "Pool",
}
#: Parameter names looked for on a layer that does not declare ``param_names`` (a book-style layer).
_BOOK_PARAM_NAMES = ("W", "b", "gamma", "beta")


def layer_prefix(layer) -> str:
    """The name stem the book gives a layer of this class ('Conv' for Convolution, 'Affine' for Affine, ...)."""
    name = type(layer).__name__
    return _PREFIXES.get(name, name)


class ParamDict(dict):
    """A net's parameters by the book's names (W1, b1, gamma1, ...): the very arrays its layers use.

    A plain dict in every way except assignment: ``params['W1'] = value``
    copies ``value`` *into* the layer's array (same shape required, cast to
    its dtype), so code that rebinds entries — the book's ``load_params``, a
    hand-written ``params[k] = params[k] - lr * grads[k]`` — still trains the
    net. New keys are refused.
    """

    def __setitem__(self, key, value):
        if key not in self:
            raise KeyError(f"{key!r} is not a parameter of this net; it has {', '.join(self)}")
        target = dict.__getitem__(self, key)
        if value is target:
            return
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(f"params[{key!r}] must keep its shape {target.shape}, got {value.shape}")
        if value.dtype.kind not in "fiub":
            raise TypeError(f"params[{key!r}] must be set to real numbers, got dtype {value.dtype}")
        np.copyto(target, value, casting="unsafe" if value.dtype.kind in "iub" else "same_kind")

    def update(self, *args, **kwargs):
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


def _wants_train_flg(layer) -> bool:
    flag = getattr(layer, "takes_train_flg", None)
    if flag is not None:
        return bool(flag)
    try:  # a book-style layer without the attribute: look at forward's signature
        return "train_flg" in inspect.signature(layer.forward).parameters
    except (TypeError, ValueError):
        return False


def _param_names(layer) -> tuple:
    names = getattr(layer, "param_names", None)
    if names is not None:
        return tuple(names)
    return tuple(n for n in _BOOK_PARAM_NAMES if isinstance(getattr(layer, n, None), np.ndarray))


def _check_layer(layer, what: str) -> None:
    for method in ("forward", "backward"):
        if not callable(getattr(layer, method, None)):
            raise TypeError(f"{what} must be a layer with forward() and backward(), got {layer!r}")


def _random_sources(layers) -> list:
    """The random generators a forward pass may draw from: each layer's own (Dropout's), and NumPy's global one.

    A layer's generator is its ``rng`` attribute (fastnn's Dropout has one).
    """
    sources = []
    for layer in layers:
        rng = getattr(layer, "rng", None)
        if isinstance(rng, np.random.Generator):
            sources.append(rng.bit_generator)
        elif isinstance(rng, np.random.RandomState):
            sources.append(rng)
    return sources


def _get_random_state(sources) -> list:
    states = [s.state if isinstance(s, np.random.BitGenerator) else s.get_state() for s in sources]
    return states + [np.random.get_state()]


def _set_random_state(sources, states) -> None:
    for s, st in zip(sources, states):
        if isinstance(s, np.random.BitGenerator):
            s.state = st
        else:
            s.set_state(st)
    np.random.set_state(states[-1])


class Sequential:
    """A feed-forward net: ``layers`` in order, then ``loss_layer`` (the book's ``last_layer``).

    Parameters
    ----------
    layers : list of layers, or dict name -> layer
        A list is named as the book names layers — per class, counting from
        1: 'Affine1', 'Relu1', 'Affine2', 'BatchNorm1', 'Dropout1', 'Conv1',
        'Pool1', ... A dict (or OrderedDict) keeps its names and order.
    loss_layer : layer
        ``forward(y, t)`` returns the loss, ``backward(1)`` its gradient
        with respect to ``y`` (``SoftmaxWithLoss``).
    weight_decay_lambda : float, default 0
        Adds ½λ‖W‖² to the loss for every parameter named ``W`` and λW to its
        gradient.

    Attributes
    ----------
    layers : OrderedDict name -> layer
    last_layer : the loss layer
    params : ParamDict
        Every parameter by the book's names: for each parameter name (W, b,
        gamma, beta), its occurrences numbered in layer order from 1 — W1, b1,
        W2, b2, ... and gamma1, beta1 for the first batch norm. The arrays are
        the layers' own, so updating them in place (as optimizers do) updates
        the net.
    dtype : the float dtype of the parameters (None for a net without any)
    fuse : bool, default True
        Run each Convolution → Relu (→ max Pooling) sequence of ``layers`` as
        one fused stage (``fastnn.layers.fused``): the same results, bit for
        bit, without writing the convolution's full-size output and
        gradient. Those Relu and Pooling layers then keep no forward state
        (no ``mask``, no ``argmax``); set ``fuse = False`` to run every
        layer on its own.

    A layer may declare ``param_names``, ``state_names`` and
    ``takes_train_flg`` (see ``fastnn.layers.Layer``); a book-style layer
    without them works too (its W/b/gamma/beta arrays are found by name, and
    ``train_flg`` is passed if its ``forward`` takes it).
    """

    def __init__(self, layers, loss_layer, weight_decay_lambda=0):
        if isinstance(layers, dict):
            items = list(layers.items())
            for name, _ in items:
                if not isinstance(name, str) or not name:
                    raise TypeError(f"layer names must be non-empty strings, got {name!r}")
        elif isinstance(layers, (list, tuple)):
            counts: dict = {}
            items = []
            for layer in layers:
                prefix = layer_prefix(layer)
                counts[prefix] = counts.get(prefix, 0) + 1
                items.append((f"{prefix}{counts[prefix]}", layer))
        else:
            raise TypeError(f"layers must be a list of layers or a dict name -> layer, got {layers!r}")
        if not items:
            raise ValueError("layers must hold at least one layer")
        for name, layer in items:
            _check_layer(layer, f"layers[{name!r}]")
        _check_layer(loss_layer, "loss_layer")
        self.layers = OrderedDict(items)
        self.last_layer = loss_layer
        self.weight_decay_lambda = check_scalar(weight_decay_lambda, "weight_decay_lambda",
                                                nonnegative=True)
        self._plan = [(layer, _wants_train_flg(layer)) for layer in self.layers.values()]
        self._fused_plan = [(stage, _wants_train_flg(stage)) for stage in fuse_stages(self.layers.values())]
        self.fuse = True
        # The book's names: (net key, layer name, layer, parameter name), in layer order.
        counts = {}
        self._param_index = []
        for name, layer in self.layers.items():
            for pname in _param_names(layer):
                counts[pname] = counts.get(pname, 0) + 1
                self._param_index.append((f"{pname}{counts[pname]}", name, layer, pname))
        dtypes = {getattr(layer, pname).dtype for _, _, layer, pname in self._param_index}
        if len(dtypes) > 1:
            raise ValueError(f"all parameters of a net must share one dtype, got {sorted(map(str, dtypes))}")

    # -- parameters -------------------------------------------------------------------------
    @property
    def params(self) -> ParamDict:
        """The parameters by the book's names, the layers' own arrays (see the class doc)."""
        return ParamDict((key, getattr(layer, pname)) for key, _, layer, pname in self._param_index)

    @property
    def dtype(self):
        """The dtype the net computes in: its parameters' (None if it has none)."""
        if not self._param_index:
            return None
        _, _, layer, pname = self._param_index[0]
        return getattr(layer, pname).dtype

    def _weights(self):
        return [getattr(layer, pname) for _, _, layer, pname in self._param_index if pname == "W"]

    def _named_state(self) -> dict:
        """Non-trained state to save: {(layer name, state name): array or None}."""
        return {(name, sname): getattr(layer, sname, None)
                for name, layer in self.layers.items()
                for sname in getattr(layer, "state_names", ())}

    def _set_state(self, values: dict) -> None:
        """Copy state values into the layers' arrays (or set them where a layer has none yet)."""
        for (name, sname), value in values.items():
            layer = self.layers[name]
            current = getattr(layer, sname, None)
            if isinstance(current, np.ndarray) and current.shape == value.shape and current.flags.writeable:
                np.copyto(current, value, casting="same_kind")
            else:
                dtype = current.dtype if isinstance(current, np.ndarray) else (self.dtype or value.dtype)
                setattr(layer, sname, np.array(value, dtype=dtype))

    def architecture(self) -> list:
        """``[[layer name, class name, [[param, shape], ...]], ...]``, the loss layer last: what save/load compare."""
        arch = [[name, type(layer).__name__,
                 [[p, list(getattr(layer, p).shape)] for p in _param_names(layer)]]
                for name, layer in self.layers.items()]
        arch.append(["last_layer", type(self.last_layer).__name__, []])
        return arch

    # -- forward ----------------------------------------------------------------------------
    def _stages(self) -> list:
        """(stage, takes train_flg) in order: the layers, fused where ``fuse`` says so."""
        return self._fused_plan if self.fuse else self._plan

    def predict(self, x, train_flg=False):
        """Scores before the loss layer, shape (N, output_size); ``train_flg`` goes to Dropout/BatchNorm.

        ``x``: a float array the first layer accepts, (N, D) or (N, C, H, W);
        it is converted once to the net's dtype.
        """
        train_flg = bool(train_flg)
        for layer, wants_flag in self._stages():
            x = layer.forward(x, train_flg) if wants_flag else layer.forward(x)
        return x

    def _weight_decay(self):
        lam = self.weight_decay_lambda
        if not lam:
            return 0.0
        return 0.5 * lam * sum(float(np.vdot(W, W)) for W in self._weights())

    def loss(self, x, t, train_flg=False):
        """The loss of the batch (mean over samples), plus ½λΣ‖W‖² with weight decay.

        ``t``: class labels, shape (N,) or (N, 1), or one-hot (N, classes).
        """
        y = self.predict(x, train_flg)
        loss = self.last_layer.forward(y, t)
        if self.weight_decay_lambda:
            loss = loss + self._weight_decay()
        return loss

    def accuracy(self, x, t, batch_size=100):
        """The fraction of samples in ``x`` whose arg-max score is the label ``t`` (inference mode).

        Predicts ``batch_size`` samples at a time and counts every sample,
        the last partial batch included. ``t``: labels (N,) or (N, 1), or
        one-hot (N, classes). Returns a Python float.
        """
        batch_size = check_scalar(batch_size, "batch_size", integer=True, positive=True)
        x = as_float_array(x, "x", dtype=self.dtype, min_ndim=2)
        n = x.shape[0]
        predicted = np.empty(n, dtype=np.intp)
        n_classes = None
        for start in range(0, n, batch_size):
            y = np.asarray(self.predict(x[start:start + batch_size], train_flg=False))
            if y.ndim != 2:
                raise ValueError(f"accuracy needs scores of shape (N, classes), the net gave {y.shape}")
            n_classes = y.shape[1]
            predicted[start:start + batch_size] = np.argmax(y, axis=1)
        labels = as_labels(t, n, n_classes, "t")
        return float(np.count_nonzero(predicted == labels)) / n

    # -- gradients --------------------------------------------------------------------------
    def gradient(self, x, t):
        """Backprop gradients of the training-mode loss, by the keys of ``params``.

        Runs ``loss(x, t, train_flg=True)`` (Dropout draws a mask, BatchNorm
        uses batch statistics and updates its running ones), then backward
        through every layer. With weight decay each ``W`` gradient has λW
        added. Without it the arrays are the layers' own ``dW``/``db``/...,
        valid until the next backward.
        """
        self.last_layer.forward(self.predict(x, train_flg=True), t)  # the penalty's value is not needed
        dout = self.last_layer.backward(1)
        first, *rest = (stage for stage, _ in self._stages())
        for layer in reversed(rest):
            dout = layer.backward(dout)
        _backward_without_input_grad(first, dout)
        lam = self.weight_decay_lambda
        grads = {}
        for key, _, layer, pname in self._param_index:
            g = getattr(layer, "d" + pname)
            if pname == "W" and lam:
                g = g + lam * getattr(layer, pname)
            grads[key] = g
        return grads

    def numerical_gradient(self, x, t, h=1e-4):
        """Central-difference gradients of the training-mode loss, by the keys of ``params`` (slow: for checks).

        Each parameter element is perturbed by ±h in place and put back
        exactly. Dropout must see the same mask in every evaluation, so the
        state of every random generator the forward pass can draw from — each
        Dropout's own generator and NumPy's global one — is saved
        first and restored before every evaluation and at the end: the masks
        are the ones the next ``gradient(x, t)`` will draw, which is what a
        gradient check compares against. BatchNorm's running statistics are
        restored too. (Alternatively fix the masks: ``Dropout.fix_mask``.)
        Use a float64 net: float32 differences are too coarse.
        """
        x = as_float_array(x, "x", dtype=self.dtype, min_ndim=1)
        sources = _random_sources(self.layers.values())
        random_state = _get_random_state(sources)
        saved_state = {k: (v, None if v is None else v.copy()) for k, v in self._named_state().items()}

        def loss(_):
            _set_random_state(sources, random_state)
            return float(self.loss(x, t, train_flg=True))

        try:
            return {key: _numerical_gradient(loss, arr, h=h) for key, arr in self.params.items()}
        finally:
            _set_random_state(sources, random_state)
            for (name, sname), (array, values) in saved_state.items():
                setattr(self.layers[name], sname, array)  # the very array, with its old values
                if array is not None:
                    array[...] = values

    # -- saving -----------------------------------------------------------------------------
    def save_params(self, file_name="params.npz"):
        """Write the parameters (and batch norm statistics) to the ``.npz`` file ``file_name``, atomically.

        The file is written under exactly the name given. See
        ``fastnn.nets.checkpoint`` for the format.
        """
        checkpoint.save_net(self, file_name)

    def load_params(self, file_name="params.npz"):
        """Load a file written by ``save_params`` into this net's arrays, in place.

        Raises ``ValueError`` — and leaves the net unchanged — for a file of
        another architecture, a corrupt or truncated file, or the book's
        pickle (``.npz`` only). A file saved in the other float dtype is cast.
        """
        checkpoint.load_net(self, file_name)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}: {layer!r}" for name, layer in self.layers.items())
        return f"{type(self).__name__}([{inner}], loss={type(self.last_layer).__name__})"


def _backward_without_input_grad(layer, dout) -> None:
    """Run ``layer.backward(dout)`` for its parameter gradients alone: nobody reads a net's input gradient.

    Layers that can skip dx (``input_grad``, see ``fastnn.layers.base``) are
    told to for this one call; others (the book's own layers) compute it as usual.
    """
    if getattr(layer, "input_grad", None) is not True:
        layer.backward(dout)
        return
    layer.input_grad = False
    try:
        layer.backward(dout)
    finally:
        layer.input_grad = True
