"""The book's convolutional nets: SimpleConvNet (chapter 7) and DeepConvNet (chapter 8).

Same signatures, architectures and parameter names (W1, b1, ...) as the
book's ``ch07/simple_convnet.py`` and ``ch08/deep_convnet.py``, built on
``Sequential``, with two fixes:

- every size is computed, not assumed: the convolution's output size comes
  from ``fastnn.util.conv_output_size`` (a stride that does not divide
  ``H + 2*pad - filter_size`` is refused), and each 2×2, stride-2 pooling
  floors as the Pooling layer does (the book sizes SimpleConvNet's Affine
  as if the convolution's output were even, and DeepConvNet's as if the
  input were 28×28); non-square inputs work;
- ``accuracy`` counts the last partial batch (the book's drops it).

Extra keyword-only arguments: ``dtype`` and ``seed``, as for the dense nets.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .._random import as_generator
from .._validate import check_scalar, float_dtype
from ..layers import Affine, Convolution, Dropout, Pooling, Relu, SoftmaxWithLoss
from ..util import conv_output_size
from .init import check_init_std, check_size, check_sizes, derive_seed, init_scale, normal_weights
from .sequential import Sequential

__all__ = ["SimpleConvNet", "DeepConvNet"]

_CONV_KEYS = ("filter_num", "filter_size", "pad", "stride")
#: 2×2 max pooling with stride 2, as both of the book's conv nets use.
_POOL = 2


def _conv_param(value, defaults: dict, name: str) -> dict:
    """The book's conv_param dict, checked; keys left out take ``defaults``' values."""

    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict with keys {', '.join(_CONV_KEYS)}, got {value!r}")
    unknown = set(value) - set(_CONV_KEYS)
    if unknown:
        raise ValueError(f"{name} has unknown keys {sorted(map(str, unknown))}; "
                         f"expected {', '.join(_CONV_KEYS)}")
    p = {**defaults, **value}
    return {
        "filter_num": check_size(p["filter_num"], f"{name}['filter_num']"),
        "filter_size": check_size(p["filter_size"], f"{name}['filter_size']"),
        "pad": check_scalar(p["pad"], f"{name}['pad']", integer=True, nonnegative=True),
        "stride": check_size(p["stride"], f"{name}['stride']"),
    }


def _conv_out(hw: tuple, p: dict, name: str) -> tuple:
    """(OH, OW) of a convolution with conv_param ``p`` on an (H, W) input."""
    try:
        return tuple(conv_output_size(n, p["filter_size"], p["stride"], p["pad"]) for n in hw)
    except ValueError as exc:
        raise ValueError(f"{name} does not fit its {hw[0]}x{hw[1]} input: {exc}") from None


def _pool_out(hw: tuple, name: str) -> tuple:
    """(OH, OW) of 2×2, stride-2 pooling (floor, as the Pooling layer)."""
    if min(hw) < _POOL:
        raise ValueError(f"the input is too small: {name} needs at least 2x2, gets {hw[0]}x{hw[1]}")
    return tuple((n - _POOL) // _POOL + 1 for n in hw)


def _json_number(value):
    """A weight_init_std as JSON keeps it: a name as it is, a number as a Python float."""
    return value if isinstance(value, str) else float(value)


def _check_input_dim(input_dim) -> tuple:
    return tuple(check_sizes(input_dim, "input_dim", length=3))


class SimpleConvNet(Sequential):
    """The book's simple conv net: conv - relu - pool - affine - relu - affine - softmax.

    Parameters
    ----------
    input_dim : (C, H, W), positive ints
    conv_param : dict with 'filter_num', 'filter_size', 'pad', 'stride'
        (keys left out keep the defaults 30, 5, 0, 1)
    hidden_size, output_size : positive ints
    weight_init_std : float >= 0, or 'relu'/'he', 'sigmoid'/'xavier' (fan-in:
        C·FH·FW for the filters, the input size for each Affine)
    dtype : float64 (default) or float32, keyword-only
    seed : None, int, SeedSequence, Generator or RandomState, keyword-only

    Layers 'Conv1', 'Relu1', 'Pool1' (2×2, stride 2), 'Affine1', 'Relu2',
    'Affine2'; params W1 (FN, C, FS, FS), b1, W2 (FN·PH·PW, hidden_size), b2,
    W3 (hidden_size, output_size), b3, where PH×PW is the pooled size.
    ``predict`` and ``accuracy`` take x of shape (N, C, H, W).
    """

    @classmethod
    def param_shapes(cls, input_dim=(1, 28, 28), conv_param={},  # noqa: B006 (never mutated)
                     hidden_size=100, output_size=10, weight_init_std=0.01) -> dict:
        """{parameter name: shape} of the net these arguments make, without making it."""
        c, h, w = _check_input_dim(input_dim)
        p = _conv_param(conv_param, {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}, "conv_param")
        hidden, out = check_size(hidden_size, "hidden_size"), check_size(output_size, "output_size")
        ph, pw = _pool_out(_conv_out((h, w), p, "conv_param"), "the pooling layer")
        fn, fs = p["filter_num"], p["filter_size"]
        return {"W1": (fn, c, fs, fs), "b1": (fn,), "W2": (fn * ph * pw, hidden), "b2": (hidden,),
                "W3": (hidden, out), "b3": (out,)}

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},  # noqa: B006 (the book's)
                 hidden_size=100, output_size=10, weight_init_std=0.01, *,
                 dtype=np.float64, seed=None):
        self.input_dim = _check_input_dim(input_dim)
        p = _conv_param(conv_param, {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
                        "conv_param")
        hidden_size = check_size(hidden_size, "hidden_size")
        output_size = check_size(output_size, "output_size")
        check_init_std(weight_init_std)
        dtype = float_dtype(dtype)
        rng = as_generator(seed, legacy=True)

        channels, h, w = self.input_dim
        fn, fs = p["filter_num"], p["filter_size"]
        conv_hw = _conv_out((h, w), p, "conv_param")
        pool_hw = _pool_out(conv_hw, "the pooling layer")
        pool_output_size = fn * pool_hw[0] * pool_hw[1]

        fan_in = channels * fs * fs
        W1 = normal_weights(rng, (fn, channels, fs, fs), init_scale(weight_init_std, fan_in), dtype)
        W2 = normal_weights(rng, (pool_output_size, hidden_size),
                            init_scale(weight_init_std, pool_output_size), dtype)
        W3 = normal_weights(rng, (hidden_size, output_size), init_scale(weight_init_std, hidden_size), dtype)

        layers = OrderedDict()
        layers["Conv1"] = Convolution(W1, np.zeros(fn, dtype=dtype), p["stride"], p["pad"])
        layers["Relu1"] = Relu()
        layers["Pool1"] = Pooling(pool_h=_POOL, pool_w=_POOL, stride=_POOL)
        layers["Affine1"] = Affine(W2, np.zeros(hidden_size, dtype=dtype))
        layers["Relu2"] = Relu()
        layers["Affine2"] = Affine(W3, np.zeros(output_size, dtype=dtype))
        super().__init__(layers, SoftmaxWithLoss())
        #: The constructor arguments that rebuild this net (JSON-able): see ``fastnn.nets.build_net``.
        self.recipe = {"input_dim": list(self.input_dim), "conv_param": p, "hidden_size": hidden_size,
                       "output_size": output_size, "weight_init_std": _json_number(weight_init_std)}


DEEP_CONV_PARAMS = (
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
)


class DeepConvNet(Sequential):
    """The book's deep conv net (chapter 8), He-initialised, with dropout.

    conv - relu - conv - relu - pool ×3, then affine - relu - dropout -
    affine - dropout - softmax. Every pooling is 2×2 with stride 2; Dropout
    ratio 0.5.

    Parameters
    ----------
    input_dim : (C, H, W), positive ints
    conv_param_1 ... conv_param_6 : dicts with 'filter_num', 'filter_size', 'pad', 'stride'
        The book's defaults: 16, 16, 32, 32, 64, 64 filters of 3×3, stride 1,
        pad 1 — except conv_param_4's pad 2 (which takes 28×28 MNIST to the
        book's 64·4·4 features). Keys left out keep these defaults.
    hidden_size, output_size : positive ints
    dtype : float64 (default) or float32, keyword-only
    seed : None, int, SeedSequence, Generator or RandomState, keyword-only
        Also seeds the two Dropout layers' generators (None: NumPy's global
        generator, as the book).

    Weights: He, √(2/n) × N(0, 1), n the fan-in (C·3·3 for a filter, the
    flattened size for the first Affine, hidden_size for the last); biases
    zero. Params W1..W6 (convolutions), W7, W8 (affines) and their b's, as
    the book.

    Unlike the book, whose ``loss`` always runs in training mode, ``loss(x,
    t, train_flg=False)`` follows its argument; ``gradient`` uses training
    mode, as the book.
    """

    @classmethod
    def param_shapes(cls, input_dim=(1, 28, 28), conv_param_1=DEEP_CONV_PARAMS[0], conv_param_2=DEEP_CONV_PARAMS[1],
                     conv_param_3=DEEP_CONV_PARAMS[2], conv_param_4=DEEP_CONV_PARAMS[3],
                     conv_param_5=DEEP_CONV_PARAMS[4], conv_param_6=DEEP_CONV_PARAMS[5],
                     hidden_size=50, output_size=10) -> dict:
        """{parameter name: shape} of the net these arguments make, without making it."""
        channels, *hw = _check_input_dim(input_dim)
        hw = tuple(hw)
        given = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6)
        shapes = {}
        for i, (p, default) in enumerate(zip(given, DEEP_CONV_PARAMS), start=1):
            p = _conv_param(p, default, f"conv_param_{i}")
            hw = _conv_out(hw, p, f"conv_param_{i}")
            if i % 2 == 0:
                hw = _pool_out(hw, f"the pooling layer after conv {i}")
            fn, fs = p["filter_num"], p["filter_size"]
            shapes[f"W{i}"], shapes[f"b{i}"] = (fn, channels, fs, fs), (fn,)
            channels = fn
        hidden, out = check_size(hidden_size, "hidden_size"), check_size(output_size, "output_size")
        flat = channels * hw[0] * hw[1]
        shapes.update({"W7": (flat, hidden), "b7": (hidden,), "W8": (hidden, out), "b8": (out,)})
        return shapes

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param_1=DEEP_CONV_PARAMS[0], conv_param_2=DEEP_CONV_PARAMS[1],
                 conv_param_3=DEEP_CONV_PARAMS[2], conv_param_4=DEEP_CONV_PARAMS[3],
                 conv_param_5=DEEP_CONV_PARAMS[4], conv_param_6=DEEP_CONV_PARAMS[5],
                 hidden_size=50, output_size=10, *, dtype=np.float64, seed=None):
        self.input_dim = _check_input_dim(input_dim)
        given = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6)
        conv_params = [_conv_param(p, d, f"conv_param_{i}")
                       for i, (p, d) in enumerate(zip(given, DEEP_CONV_PARAMS), start=1)]
        hidden_size = check_size(hidden_size, "hidden_size")
        output_size = check_size(output_size, "output_size")
        dtype = float_dtype(dtype)
        rng = as_generator(seed, legacy=True)

        # Size every stage first, so a bad configuration fails before any weight is drawn.
        channels, *hw = self.input_dim
        hw = tuple(hw)
        for i, p in enumerate(conv_params, start=1):
            hw = _conv_out(hw, p, f"conv_param_{i}")
            if i % 2 == 0:
                hw = _pool_out(hw, f"the pooling layer after conv {i}")
        flat = conv_params[-1]["filter_num"] * hw[0] * hw[1]

        layers = []
        pre_channels = channels
        for i, p in enumerate(conv_params, start=1):
            fn, fs = p["filter_num"], p["filter_size"]
            W = normal_weights(rng, (fn, pre_channels, fs, fs), init_scale("he", pre_channels * fs * fs), dtype)
            layers += [Convolution(W, np.zeros(fn, dtype=dtype), p["stride"], p["pad"]), Relu()]
            if i % 2 == 0:
                layers.append(Pooling(pool_h=_POOL, pool_w=_POOL, stride=_POOL))
            pre_channels = fn
        W7 = normal_weights(rng, (flat, hidden_size), init_scale("he", flat), dtype)
        W8 = normal_weights(rng, (hidden_size, output_size), init_scale("he", hidden_size), dtype)
        layers += [Affine(W7, np.zeros(hidden_size, dtype=dtype)), Relu(),
                   Dropout(0.5, seed=derive_seed(rng)),
                   Affine(W8, np.zeros(output_size, dtype=dtype)),
                   Dropout(0.5, seed=derive_seed(rng))]
        super().__init__(layers, SoftmaxWithLoss())
        #: The constructor arguments that rebuild this net (JSON-able): see ``fastnn.nets.build_net``.
        self.recipe = {"input_dim": list(self.input_dim),
                       **{f"conv_param_{i}": p for i, p in enumerate(conv_params, start=1)},
                       "hidden_size": hidden_size, "output_size": output_size}
