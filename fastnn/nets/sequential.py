"""Sequential: a chain of layers and a loss layer — the container all of the book's nets are built on."""
from __future__ import annotations

import contextlib
import inspect
from collections import OrderedDict
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from .. import io
from .._random import check_generator_state, generator_state, is_global_random_state, set_generator_state
from .._validate import as_float_array, as_labels, check_scalar
from ..gradient import numerical_gradient as _numerical_gradient
from ..layers.fused import fuse_stages
from .half import TRAINING_REFUSED, float32_params, half_infer, make_half

__all__ = ["Sequential", "ParamDict", "layer_prefix", "layer_generator"]

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


class _Stage(NamedTuple):
    """One step of a forward pass: a layer (or a fused stage) and whether its ``forward`` takes ``train_flg``."""

    layer: object
    takes_train_flg: bool


class _ParamSlot(NamedTuple):
    """Where a net's parameter lives: its key in ``params`` (``'W1'``), its layer's name and the layer's attribute."""

    key: str
    layer_name: str
    layer: object
    param_name: str


class _Plan(NamedTuple):
    """What ``Sequential`` derives from its ``layers`` once (made again when they change)."""

    stages: list          # [_Stage] in layer order
    fused_stages: list    # [_Stage], Convolution -> Relu -> Pooling fused where fuse_stages says so
    param_index: list     # [_ParamSlot] in layer order


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


def layer_generator(layer):
    """The random generator a layer owns (its ``rng`` attribute): a Generator or RandomState, else None."""
    rng = getattr(layer, "rng", None)
    return rng if isinstance(rng, (np.random.Generator, np.random.RandomState)) else None


def _named_items(layers) -> list:
    """[(name, layer), ...] from a list (named as the book: 'Affine1', 'Relu1', ...) or a dict (its names)."""
    if isinstance(layers, dict):
        return list(layers.items())
    if isinstance(layers, (list, tuple)):
        counts: dict = {}
        items = []
        for layer in layers:
            prefix = layer_prefix(layer)
            counts[prefix] = counts.get(prefix, 0) + 1
            items.append((f"{prefix}{counts[prefix]}", layer))
        return items
    raise TypeError(f"layers must be a list of layers or a dict name -> layer, got {layers!r}")


def _random_sources(layers) -> list:
    """The random generators a forward pass may draw from: each layer's own (Dropout's), and NumPy's global one."""
    sources = []
    for layer in layers:
        rng = layer_generator(layer)
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


class LayerDict(OrderedDict):
    """A net's ``layers``: an OrderedDict that counts its changes (``version``), so the net sees them."""

    def __init__(self, *args, **kwargs):
        self.version = 0
        super().__init__(*args, **kwargs)

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.version += 1

    def __delitem__(self, key):
        super().__delitem__(key)
        self.version += 1

    def _counted(name):
        def method(self, *args, **kwargs):
            try:
                return getattr(OrderedDict, name)(self, *args, **kwargs)
            finally:
                self.version += 1
        method.__name__ = name
        return method

    pop, popitem, clear, setdefault, move_to_end, update = map(
        _counted, ("pop", "popitem", "clear", "setdefault", "move_to_end", "update"))
    del _counted


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
    layers : LayerDict (an OrderedDict) name -> layer
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
        gradient. The layers stay usable on their own (the book's backward
        loop over ``net.layers`` works after a fused forward); set
        ``fuse = False`` to run every layer on its own.

    A layer may declare ``param_names``, ``state_names`` and
    ``takes_train_flg`` (see ``fastnn.layers.Layer``); a book-style layer
    without them works too (its W/b/gamma/beta arrays are found by name, and
    ``train_flg`` is passed if its ``forward`` takes it).
    """

    #: With ``half()``: {id(layer): (layer, {name: stored array})} of the parameters kept in float16/bfloat16.
    half_store = None

    def __init__(self, layers, loss_layer, weight_decay_lambda=0):
        _check_layer(loss_layer, "loss_layer")
        self.layers = layers
        self.last_layer = loss_layer
        self.weight_decay_lambda = check_scalar(weight_decay_lambda, "weight_decay_lambda",
                                                nonnegative=True)
        self.fuse = True
        self._planned()    # refuse a bad net now, not at its first use

    @property
    def layers(self) -> OrderedDict:
        """The layers by name, in order (an OrderedDict, as the book's).

        It may be changed in place (a layer replaced, added, deleted) or
        assigned (a list or a dict, named as in the constructor): the net
        plans again — ``params``, fusion, the order of the passes — the next
        time it is used, and refuses a layer without forward/backward or a
        parameter of another dtype with a clear error.
        """
        return self._layers

    @layers.setter
    def layers(self, layers) -> None:
        self._layers = LayerDict(_named_items(layers))
        self._plan_version = None

    def _planned(self):
        """(plan, fused plan, parameter index) for the current ``layers``, made again whenever they changed.

        ``layers`` counts its changes (a ``LayerDict``); a changed count, or a
        Pooling switched between 'max' and 'avg' since (fusion depends on the
        mode), plans again.
        """
        if self._layers.version != self._plan_version:
            self._plan_now()
        elif self._plan_modes:
            for layer, mode in self._plan_modes:
                if layer.mode != mode:
                    self._plan_now()
                    break
        return self._plan_cache

    def _plan_now(self) -> None:
        items = list(self._layers.items())
        if not items:
            raise ValueError("layers must hold at least one layer")
        for name, layer in items:
            if not isinstance(name, str) or not name:
                raise TypeError(f"layer names must be non-empty strings, got {name!r}")
            _check_layer(layer, f"layers[{name!r}]")
        layers = [layer for _, layer in items]
        plan = [_Stage(layer, _wants_train_flg(layer)) for layer in layers]
        fused_plan = [_Stage(stage, _wants_train_flg(stage)) for stage in fuse_stages(layers)]
        # the book's names (W1, b1, ...), in layer order
        counts = {}
        param_index = []
        for name, layer in items:
            for pname in _param_names(layer):
                counts[pname] = counts.get(pname, 0) + 1
                param_index.append(_ParamSlot(f"{pname}{counts[pname]}", name, layer, pname))
        dtypes = {getattr(slot.layer, slot.param_name).dtype for slot in param_index}
        if len(dtypes) > 1:
            raise ValueError(f"all parameters of a net must share one dtype, got {sorted(map(str, dtypes))}")
        self._plan_cache = _Plan(plan, fused_plan, param_index)
        self._plan_modes = [(layer, layer.mode) for layer in layers if hasattr(layer, "mode")]
        self._plan_version = self._layers.version

    @property
    def _param_index(self) -> list:
        return self._planned().param_index

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

    @property
    def compute_dtype(self):
        """The dtype the net computes in: ``dtype``, but float32 for a net stored in half precision."""
        return np.dtype(np.float32) if self.half_store is not None else self.dtype

    def half(self, dtype="float16"):
        """An inference-only copy with the parameters stored in float16 (or 'bfloat16'), computing in float32.

        See ``fastnn.nets.half``: ``predict`` and ``accuracy`` work as on the
        float32 net; ``loss``, ``gradient`` and training refuse it.
        """
        twin = make_half(self, dtype)
        twin._plan_version = None     # plan again: the parameters changed dtype
        return twin

    def _weights(self):
        return [getattr(layer, pname) for _, _, layer, pname in self._param_index if pname == "W"]

    def _named_state(self) -> dict:
        """Non-trained state to save: {(layer name, state name): array or None}."""
        return {(name, sname): getattr(layer, sname, None)
                for name, layer in self.layers.items()
                for sname in getattr(layer, "state_names", ())}

    def state_dict(self) -> dict:
        """The net's state as a flat dict of copies: what ``load_state_dict`` takes back.

        - ``'param/<key>'``: each parameter by the book's name (``'param/W1'``);
        - ``'state/<layer>/<name>'``: non-trained state a layer lists in
          ``state_names`` (``'state/BatchNorm1/running_var'``);
        - ``'rng/<layer>'``: the state of a layer's own random generator
          (a seeded Dropout's), as JSON-able values.
        """
        out = {f"param/{key}": arr.copy() for key, arr in self.params.items()}
        for (name, sname), value in self._named_state().items():
            if value is not None:
                out[f"state/{name}/{sname}"] = np.array(value, copy=True)
        for name, gen in self._own_generators().items():
            out[f"rng/{name}"] = generator_state(gen)
        return out

    def _own_generators(self) -> dict:
        """{layer name: generator} of the layers that own one (not NumPy's global generator, which no net owns)."""
        gens = {name: layer_generator(layer) for name, layer in self.layers.items()}
        return {name: gen for name, gen in gens.items() if gen is not None and not is_global_random_state(gen)}

    def load_state_dict(self, state) -> None:
        """Put a ``state_dict()`` back: all of it after checking all of it, or nothing (``ValueError``/``TypeError``).

        Every parameter must be there with its shape, as real finite floats
        (cast to the net's dtype); ``state/`` and ``rng/`` entries are
        optional (the book's params files have none), and are checked when
        present: shapes, finite values, batch norm variances >= 0, valid
        generator states. Unknown entries are refused.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        params = self.params
        named_state = self._named_state()
        gens = self._own_generators()
        new_params, new_state, new_rngs, unknown = {}, {}, {}, []
        for key, value in state.items():
            kind, _, rest = str(key).partition("/")
            layer, _, sname = rest.partition("/")
            if kind == "param" and rest in params:
                new_params[rest] = _checked_values(value, f"parameter {rest}", params[rest].shape)
            elif kind == "state" and (layer, sname) in named_state:
                current = named_state[(layer, sname)]
                value = _checked_values(value, f"state {layer}.{sname}",
                                        None if current is None else current.shape)
                if sname == "running_var" and np.any(value < 0):
                    raise ValueError(f"state {layer}.{sname} holds negative variances (min {value.min()}); "
                                     "a variance is >= 0")
                new_state[(layer, sname)] = value
            elif kind == "rng" and gens.get(rest) is not None:
                check_generator_state(gens[rest], value, f"the generator state of {rest}")
                new_rngs[rest] = value
            else:
                unknown.append(key)
        missing = sorted(set(params) - set(new_params))
        if missing or unknown:
            raise ValueError(f"the state does not match this net: missing parameters {missing}, "
                             f"unexpected entries {sorted(map(str, unknown))}")
        # Everything checked: apply. Nothing below can fail on the state's account.
        for key, value in new_params.items():
            np.copyto(params[key], value, casting="same_kind")
        for (name, sname), value in new_state.items():
            layer = self.layers[name]
            current = getattr(layer, sname, None)
            if isinstance(current, np.ndarray) and current.shape == value.shape and current.flags.writeable:
                np.copyto(current, value, casting="same_kind")
            else:
                dtype = current.dtype if isinstance(current, np.ndarray) else (self.dtype or value.dtype)
                setattr(layer, sname, np.array(value, dtype=dtype))
        for name, value in new_rngs.items():
            set_generator_state(gens[name], value)

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
        plan = self._planned()
        return plan.fused_stages if self.fuse else plan.stages

    def predict(self, x, train_flg=False):
        """Scores before the loss layer, shape (N, output_size); ``train_flg`` goes to Dropout/BatchNorm.

        ``x``: a float array the first layer accepts, (N, D) or (N, C, H, W);
        it is converted once to the net's dtype. With ``train_flg`` False
        (inference) each layer or fused stage runs its ``infer``: the same
        scores, but nothing is kept for a backward pass (no ReLU masks, no
        pooling argmax, no inputs) and the layers' state from the last
        training forward stays as it was. ``loss`` and ``gradient`` run the
        full forward.
        """
        return self._forward(x, bool(train_flg), keep=bool(train_flg))

    def forward(self, x, train_flg=False):
        """Scores as ``predict`` gives them, by the full forward pass: every stage's ``forward``, keeping what
        backward needs (ReLU masks, pooling argmax, inputs), as ``loss`` and ``gradient`` run it.

        ``predict`` is the lighter path for inference (each stage's ``infer``);
        this one is what a training step's forward costs, the layers' state
        then holding this batch's caches.
        """
        return self._forward(x, bool(train_flg), keep=True)

    def _forward(self, x, train_flg: bool, keep: bool):
        """Run the stages in order: ``forward`` (keeping what backward needs) or, without ``keep``, ``infer``
        where a stage has one (a book-style layer without it runs its ``forward``)."""
        if self.half_store is not None:
            if keep:
                raise TypeError(TRAINING_REFUSED.format(dtype=str(self.dtype)))
            return half_infer(self._stages(), self.half_store, as_float_array(x, "x", dtype=np.float32))
        for layer, wants_flag in self._stages():
            if not keep and hasattr(layer, "infer"):
                x = layer.infer(x)
            else:
                x = layer.forward(x, train_flg) if wants_flag else layer.forward(x)
        return x

    def weight_decay_penalty(self) -> float:
        """½λΣ‖W‖², the term ``loss`` adds for weight decay (0.0 without it)."""
        lam = self.weight_decay_lambda
        if not lam:
            return 0.0
        # einsum's own loop, not BLAS: np.vdot/np.dot would run NumPy's BLAS on its own thread count
        # between fastnn's one-thread products, and its idle workers spinning beside them slowed the
        # next products several-fold on two cores; np.vdot of a 2-D array is slow in itself
        # (benchmarks/README.md, "The book's scripts")
        total = 0.0
        for W in self._weights():
            w = W.reshape(-1)
            total += float(np.einsum("i,i->", w, w))
        return 0.5 * lam * total

    def loss(self, x, t, train_flg=False):
        """The loss of the batch (mean over samples), plus ½λΣ‖W‖² with weight decay.

        ``t``: class labels, shape (N,) or (N, 1), or one-hot (N, classes).
        """
        y = self._forward(x, bool(train_flg), keep=True)
        loss = self.last_layer.forward(y, t)
        if self.weight_decay_lambda:
            loss = loss + self.weight_decay_penalty()
        return loss

    def accuracy(self, x, t, batch_size=100):
        """The fraction of samples in ``x`` whose arg-max score is the label ``t`` (inference mode).

        Predicts ``batch_size`` samples at a time and counts every sample,
        the last partial batch included. ``t``: labels (N,) or (N, 1), or
        one-hot (N, classes). Returns a Python float.
        """
        batch_size = check_scalar(batch_size, "batch_size", integer=True, positive=True)
        x = as_float_array(x, "x", dtype=self.compute_dtype, min_ndim=2)
        n = x.shape[0]
        predicted = np.empty(n, dtype=np.intp)
        n_classes = None
        session = contextlib.nullcontext()
        if self.half_store is not None:       # half precision: float32 copies once per call, not per batch
            session = float32_params(self.half_store)
        with session:
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
        self.last_layer.forward(self._forward(x, True, keep=True), t)  # the penalty's value is not needed
        return self._backward()

    def loss_and_gradient(self, x, t):
        """``(loss, grads)`` of one training-mode forward and backward pass: ``gradient(x, t)`` and its loss.

        ``loss`` is a Python float: the loss of the very forward pass the
        gradients come from, ½λΣ‖W‖² included with weight decay -- what
        ``loss(x, t, train_flg=True)`` returned just before ``gradient``, at
        no second forward pass (what ``Trainer`` records for each step).
        ``grads`` are ``gradient(x, t)``'s.
        """
        loss = float(self.last_layer.forward(self._forward(x, True, keep=True), t))
        grads = self._backward()
        if self.weight_decay_lambda:
            loss += float(self.weight_decay_penalty())
        return loss, grads

    def _backward(self) -> dict:
        """Backward through the loss layer and every stage after a training forward; the gradients by param key."""
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

        The file is written under exactly the name given. See ``fastnn.io``
        for the format.
        """
        io.save_params(self, file_name)

    def load_params(self, file_name="params.npz"):
        """Load a file written by ``save_params`` (or the book's ``params.pkl``) into this net's arrays, in place.

        Raises ``ValueError`` — and leaves the net unchanged — for a file of
        another architecture, a corrupt or truncated file, or a pickle that
        holds anything but a dict of names to NumPy arrays (it is read
        without running code: ``fastnn.io``). A file saved in the other float
        dtype is cast.
        """
        io.load_params(self, file_name)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}: {layer!r}" for name, layer in self.layers.items())
        return f"{type(self).__name__}([{inner}], loss={type(self.last_layer).__name__})"


def _checked_values(value, what: str, shape) -> np.ndarray:
    """``value`` as an array of real finite floats of ``shape`` (any shape if None), else ``ValueError``."""
    value = np.asarray(value)
    if value.dtype.kind != "f":
        raise ValueError(f"{what} must be an array of real floats, got dtype {value.dtype}")
    if shape is not None and value.shape != tuple(shape):
        raise ValueError(f"{what} has shape {value.shape}, this net needs {tuple(shape)}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{what} holds NaN or infinite values")
    return value


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
