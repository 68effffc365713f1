"""The book's fully connected nets: TwoLayerNet, MultiLayerNet, MultiLayerNetExtend.

Same signatures, layer names, parameter names and architectures as the
book's ``ch05/two_layer_net.py``, ``common/multi_layer_net.py`` and
``common/multi_layer_net_extend.py``; built on ``Sequential``. Extra
keyword-only arguments: ``dtype`` (float64 by default, as the book; float32
for speed) and ``seed`` (see ``fastnn.nets.init``: None draws from NumPy's
global generator exactly as the book, so ``np.random.seed(...)`` reproduces
the book's weights).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .._random import as_generator
from .._validate import check_scalar, float_dtype
from ..layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss
from .init import check_init_std, check_size, check_sizes, derive_seed, init_scale, normal_weights
from .sequential import Sequential

__all__ = ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend"]

_ACTIVATIONS = ("relu", "sigmoid")


def _activation_layer(activation: str):
    return {"relu": Relu, "sigmoid": Sigmoid}[activation]()


def _check_activation(activation) -> str:
    if not isinstance(activation, str) or activation.lower() not in _ACTIVATIONS:
        raise ValueError(f"activation must be 'relu' or 'sigmoid', got {activation!r}")
    return activation.lower()


def _check_flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _json_number(value):
    """A weight_init_std as JSON keeps it: a name as it is, a number as a Python float."""
    return value if isinstance(value, str) else float(value)


def _affine_shapes(sizes: list, batchnorm: bool) -> dict:
    """{name: shape} of the Affine (and batch norm) parameters of a dense net with layer ``sizes``."""
    shapes = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        shapes[f"W{i}"], shapes[f"b{i}"] = (fan_in, fan_out), (fan_out,)
        if batchnorm and i < len(sizes) - 1:
            shapes[f"gamma{i}"] = shapes[f"beta{i}"] = (fan_out,)
    return shapes


def _affine_params(sizes, weight_init_std, rng, dtype):
    """The book's __init_weight: W_i ~ scale_i * N(0, 1) of (sizes[i-1], sizes[i]), b_i = 0, i = 1, 2, ..."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        scale = init_scale(weight_init_std, fan_in)
        params.append((normal_weights(rng, (fan_in, fan_out), scale, dtype), np.zeros(fan_out, dtype=dtype)))
    return params


class TwoLayerNet(Sequential):
    """The book's two-layer net (chapter 5): Affine1 - Relu1 - Affine2, softmax cross-entropy loss.

    Parameters
    ----------
    input_size, hidden_size, output_size : positive ints
    weight_init_std : float >= 0, or 'relu'/'he', 'sigmoid'/'xavier'
        The book: ``W = weight_init_std * randn(...)``; biases start at zero.
    dtype : float64 (default) or float32, keyword-only
    seed : None, int, SeedSequence, Generator or RandomState, keyword-only

    ``params``: W1 (input_size, hidden_size), b1, W2 (hidden_size, output_size), b2.
    ``lastLayer`` is the book's name for ``last_layer`` here.
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *,
                 dtype=np.float64, seed=None):
        sizes = [check_size(input_size, "input_size"), check_size(hidden_size, "hidden_size"),
                 check_size(output_size, "output_size")]
        check_init_std(weight_init_std)
        dtype = float_dtype(dtype)
        (W1, b1), (W2, b2) = _affine_params(sizes, weight_init_std, as_generator(seed, legacy=True), dtype)
        layers = OrderedDict()
        layers["Affine1"] = Affine(W1, b1)
        layers["Relu1"] = Relu()
        layers["Affine2"] = Affine(W2, b2)
        super().__init__(layers, SoftmaxWithLoss())
        #: The constructor arguments that rebuild this net (JSON-able): see ``fastnn.nets.build_net``.
        self.recipe = {"input_size": sizes[0], "hidden_size": sizes[1], "output_size": sizes[2],
                       "weight_init_std": _json_number(weight_init_std)}

    @classmethod
    def param_shapes(cls, input_size, hidden_size, output_size, weight_init_std=0.01) -> dict:
        """{parameter name: shape} of the net these arguments make, without making it."""
        return _affine_shapes([check_size(input_size, "input_size"), check_size(hidden_size, "hidden_size"),
                               check_size(output_size, "output_size")], False)

    @property
    def lastLayer(self):  # noqa: N802  (the book's name in ch05/two_layer_net.py)
        return self.last_layer


class MultiLayerNet(Sequential):
    """The book's fully connected net: (Affine - activation) × len(hidden_size_list), Affine, softmax loss.

    Parameters
    ----------
    input_size : positive int
    hidden_size_list : list of positive ints (may be empty: one Affine layer)
    output_size : positive int
    activation : 'relu' or 'sigmoid'
    weight_init_std : float >= 0, or 'relu'/'he' (√(2/n)), 'sigmoid'/'xavier' (√(1/n)), n the fan-in
    weight_decay_lambda : float >= 0
        Adds ½λΣ‖W‖² to the loss, λW to each weight gradient.
    dtype : float64 (default) or float32, keyword-only
    seed : None, int, SeedSequence, Generator or RandomState, keyword-only

    Layers: 'Affine1', 'Activation_function1', ..., 'Affine{n+1}' (the book's
    names); params W1, b1, ..., W{n+1}, b{n+1}.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, *, dtype=np.float64, seed=None):
        self._build(input_size, hidden_size_list, output_size, activation, weight_init_std,
                    weight_decay_lambda, dtype, seed)

    @classmethod
    def param_shapes(cls, input_size, hidden_size_list, output_size, activation="relu", weight_init_std="relu",
                     weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5, use_batchnorm=False) -> dict:
        """{parameter name: shape} of the net these arguments make, without making it.

        (The last three arguments are ``MultiLayerNetExtend``'s.)
        """
        sizes = ([check_size(input_size, "input_size")] + check_sizes(hidden_size_list, "hidden_size_list")
                 + [check_size(output_size, "output_size")])
        return _affine_shapes(sizes, _check_flag(use_batchnorm, "use_batchnorm"))

    def _build(self, input_size, hidden_size_list, output_size, activation, weight_init_std,
               weight_decay_lambda, dtype, seed, use_dropout=False, dropout_ration=0.5,
               use_batchnorm=False):
        self.input_size = check_size(input_size, "input_size")
        self.hidden_size_list = check_sizes(hidden_size_list, "hidden_size_list")
        self.output_size = check_size(output_size, "output_size")
        self.hidden_layer_num = len(self.hidden_size_list)
        activation = _check_activation(activation)
        check_init_std(weight_init_std)
        weight_decay_lambda = check_scalar(weight_decay_lambda, "weight_decay_lambda", nonnegative=True)
        self.use_dropout = _check_flag(use_dropout, "use_dropout")
        self.use_batchnorm = _check_flag(use_batchnorm, "use_batchnorm")
        if self.use_dropout:
            check_scalar(dropout_ration, "dropout_ration", nonnegative=True, below=1.0)
        dtype = float_dtype(dtype)
        rng = as_generator(seed, legacy=True)

        sizes = [self.input_size] + self.hidden_size_list + [self.output_size]
        affine = _affine_params(sizes, weight_init_std, rng, dtype)
        layers = OrderedDict()
        for idx, (W, b) in enumerate(affine[:-1], start=1):
            layers[f"Affine{idx}"] = Affine(W, b)
            if self.use_batchnorm:
                size = sizes[idx]
                layers[f"BatchNorm{idx}"] = BatchNormalization(np.ones(size, dtype=dtype),
                                                               np.zeros(size, dtype=dtype))
            layers[f"Activation_function{idx}"] = _activation_layer(activation)
            if self.use_dropout:
                layers[f"Dropout{idx}"] = Dropout(dropout_ration, seed=derive_seed(rng))
        W, b = affine[-1]
        layers[f"Affine{len(affine)}"] = Affine(W, b)
        Sequential.__init__(self, layers, SoftmaxWithLoss(), weight_decay_lambda=weight_decay_lambda)
        #: The constructor arguments that rebuild this net (JSON-able): see ``fastnn.nets.build_net``.
        self.recipe = {"input_size": self.input_size, "hidden_size_list": list(self.hidden_size_list),
                       "output_size": self.output_size, "activation": activation,
                       "weight_init_std": _json_number(weight_init_std),
                       "weight_decay_lambda": float(weight_decay_lambda)}
        if type(self) is not MultiLayerNet:
            self.recipe.update(use_dropout=self.use_dropout, dropout_ration=float(dropout_ration),
                               use_batchnorm=self.use_batchnorm)


class MultiLayerNetExtend(MultiLayerNet):
    """MultiLayerNet with the book's Dropout and BatchNormalization options (chapter 6).

    Parameters as ``MultiLayerNet``, plus:

    use_dropout : bool
        A Dropout layer after each hidden activation ('Dropout1', ...).
    dropout_ration : float in [0, 1)
        Its dropout ratio (the book's spelling).
    use_batchnorm : bool
        A BatchNormalization layer between each hidden Affine and its
        activation ('BatchNorm1', ...); params gamma1, beta1, ... (ones and
        zeros at the start).

    ``predict(x, train_flg=False)`` and ``loss(x, t, train_flg=False)`` as
    the book; ``gradient`` differentiates the training-mode loss. With a
    ``seed``, every Dropout layer gets its own generator seeded from it;
    without one, masks come from NumPy's global generator, as in the book.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, use_dropout=False,
                 dropout_ration=0.5, use_batchnorm=False, *, dtype=np.float64, seed=None):
        self._build(input_size, hidden_size_list, output_size, activation, weight_init_std,
                    weight_decay_lambda, dtype, seed, use_dropout=use_dropout,
                    dropout_ration=dropout_ration, use_batchnorm=use_batchnorm)
