"""The registry of the book's nets by name: what the command line trains and a model file rebuilds.

``NETS`` maps a name to its class; ``build_net(name, recipe)`` makes one
from a recipe (the JSON-able constructor arguments every registered net
keeps as ``net.recipe``); ``param_shapes(name, recipe)`` says which
parameter shapes a recipe implies without allocating anything, so that a
file can be checked before the net it describes is built;
``recipe_from_params(name, params)`` goes the other way: the recipe of the
net that a params file's shapes (W1 (input, hidden), ...) describe, so that a
file of any sizes rebuilds its own net.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping

# The registry is what the command line's --help lists: it imports neither NumPy nor the nets' modules
# (which load the layers and numba); the functions below import them when a net is asked for.

__all__ = ["NETS", "build_net", "param_shapes", "net_name", "recipe_from_params"]

_EXTEND_KEYS = ("use_dropout", "dropout_ration", "use_batchnorm")

#: How ``recipe_from_params`` says that a conv net's image size is wrong (a caller may reword it).
IMAGE_SIZE_HINT = "give the image size it was trained on (input_dim=(C, H, W))"


class _Registry(Mapping):
    """name -> class, importing a net's module only when its class is asked for (the names cost nothing)."""

    _where = {
        "simple_convnet": ("convnet", "SimpleConvNet"),
        "deep_convnet": ("convnet", "DeepConvNet"),
        "two_layer": ("mlp", "TwoLayerNet"),
        "multi_layer": ("mlp", "MultiLayerNet"),
    }

    def __getitem__(self, name):
        module, cls = self._where[name]
        return getattr(importlib.import_module(f"{__package__}.{module}"), cls)

    def __contains__(self, name):
        return isinstance(name, str) and name in self._where

    def __iter__(self):
        return iter(self._where)

    def __len__(self):
        return len(self._where)

    def __repr__(self):
        return f"NETS({', '.join(self._where)})"


#: Registered nets: name -> class. ``multi_layer`` becomes ``MultiLayerNetExtend`` when its
#: recipe asks for dropout or batch normalization.
NETS = _Registry()


def _check_name(name) -> None:
    if name not in NETS:
        raise ValueError(f"net must be one of {', '.join(NETS)}; got {name!r}")


def _class_for(name: str, recipe: dict):
    from .mlp import MultiLayerNetExtend

    _check_name(name)
    if name == "multi_layer" and any(k in recipe for k in _EXTEND_KEYS):
        return MultiLayerNetExtend
    return NETS[name]


def net_name(net):
    """The registered name of ``net``'s class (None for a class not registered)."""
    from .mlp import MultiLayerNetExtend

    if type(net) is MultiLayerNetExtend:
        return "multi_layer"
    for name, cls in NETS.items():
        if type(net) is cls:
            return name
    return None


def build_net(name: str, recipe: dict | None = None, dtype="float64", seed=None, **kwargs):
    """Make the registered net ``name`` from ``recipe`` (and/or keyword arguments): JSON-friendly values.

    ``build_net('two_layer', {'input_size': 784, 'hidden_size': 50, 'output_size': 10}, 'float32', seed=0)``
    is ``TwoLayerNet(784, 50, 10, dtype='float32', seed=0)``; lists stand for tuples.
    """
    import numpy as np

    recipe = {**(recipe or {}), **kwargs}
    cls = _class_for(name, recipe)
    if "input_dim" in recipe:
        recipe["input_dim"] = tuple(recipe["input_dim"])
    return cls(**recipe, dtype=np.dtype(dtype), seed=seed)


def param_shapes(name: str, recipe: dict) -> dict:
    """{parameter name: shape} of the net ``build_net(name, recipe)`` would make, computed without building it.

    Raises ``ValueError``/``TypeError`` for a recipe the net's constructor would refuse.
    """
    if not isinstance(recipe, dict):
        raise TypeError(f"recipe must be a dict of constructor arguments, got {type(recipe).__name__}")
    cls = _class_for(name, recipe)
    try:
        return cls.param_shapes(**recipe)
    except TypeError as exc:   # an argument the constructor does not take
        raise ValueError(str(exc)) from None


def _shapes_of(params) -> dict:
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of parameter names to arrays or shapes, "
                        f"got {type(params).__name__}")
    return {key: tuple(int(n) for n in getattr(value, "shape", value)) for key, value in params.items()}


def _count(shapes: dict, prefix: str) -> int:
    n = 0
    while f"{prefix}{n + 1}" in shapes:
        n += 1
    return n


def _inferred(name: str, shapes: dict) -> dict:
    """The constructor arguments that the shapes tell (what they cannot tell keeps the net's default)."""
    def need(key, rank):
        if key not in shapes or len(shapes[key]) != rank:
            got = shapes[key] if key in shapes else "none"
            raise ValueError(f"the params do not fit {name}: it needs {key} with {rank} dimensions, "
                             f"got {got}; is it a params file of another net?")
        return shapes[key]

    if name == "two_layer":
        (d, h), (_, k) = need("W1", 2), need("W2", 2)
        return {"input_size": d, "hidden_size": h, "output_size": k}
    if name == "multi_layer":
        ws = [need(f"W{i}", 2) for i in range(1, max(_count(shapes, "W"), 1) + 1)]
        recipe = {"input_size": ws[0][0], "hidden_size_list": [w[1] for w in ws[:-1]],
                  "output_size": ws[-1][1]}
        if "gamma1" in shapes:
            recipe["use_batchnorm"] = True
        return recipe
    if name == "simple_convnet":
        fn, c, fs, _ = need("W1", 4)
        return {"input_dim": [c, 28, 28], "hidden_size": need("W2", 2)[1], "output_size": need("W3", 2)[1],
                "conv_param": {"filter_num": fn, "filter_size": fs, "pad": 0, "stride": 1}}
    from .convnet import DEEP_CONV_PARAMS  # the one name left: deep_convnet

    recipe = {"input_dim": [need("W1", 4)[1], 28, 28]}
    for i, default in enumerate(DEEP_CONV_PARAMS, start=1):
        fn, _, fs, _ = need(f"W{i}", 4)
        recipe[f"conv_param_{i}"] = {**default, "filter_num": fn, "filter_size": fs}
    recipe.update(hidden_size=need("W7", 2)[1], output_size=need("W8", 2)[1])
    return recipe


def recipe_from_params(name: str, params, **overrides) -> dict:
    """The recipe (constructor arguments) of the net ``name`` whose parameters have the shapes of ``params``.

    ``params`` maps the book's parameter names (``W1``, ``b1``, ``gamma1``,
    ...) to arrays or shapes, as a params file holds them. The sizes come from
    the shapes: a ``TwoLayerNet(784, 100, 10)`` file gives ``hidden_size=100``,
    a ``MultiLayerNet`` file with four weight matrices three hidden layers, a
    conv net file its filter counts and sizes; ``gamma1`` in a multi_layer
    file means batch normalization. What shapes cannot tell keeps the
    constructor's default unless given in ``overrides`` (any constructor
    argument): a conv net's image size (``input_dim``, default
    ``(C, 28, 28)`` with C read from the filters), a dense net's
    ``activation``, dropout.

    The recipe is then checked against every shape of ``params``: a
    ``ValueError`` says which parameter does not fit and how to fix it, so
    ``build_net(name, recipe)`` followed by ``load_params`` cannot fail on a
    shape.
    """
    _check_name(name)
    shapes = _shapes_of(params)
    recipe = {**_inferred(name, shapes), **overrides}
    expected = param_shapes(name, recipe)
    image_keys = {"simple_convnet": ("W1", "W2"), "deep_convnet": ("W1", "W7")}.get(name, ())
    for key, shape in expected.items():
        hint = f"; {IMAGE_SIZE_HINT}" if key in image_keys else ""
        if key not in shapes:
            raise ValueError(f"the params do not fit {name}: the net needs {key} of shape {tuple(shape)}, "
                             "which the params lack; is it a params file of another net?")
        if shapes[key] != tuple(shape):
            raise ValueError(f"the params do not fit {name}: {key} has shape {shapes[key]}, the {name} net "
                             f"these shapes describe needs {tuple(shape)}{hint}")
    extra = sorted(set(shapes) - set(expected))
    if extra:
        raise ValueError(f"the params do not fit {name}: {', '.join(extra)} belong to no parameter of "
                         f"a {name} net; is it a params file of another net?")
    return recipe
