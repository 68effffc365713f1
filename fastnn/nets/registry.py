"""The registry of the book's nets by name: what the command line trains and a model file rebuilds.

``NETS`` maps a name to its class; ``build_net(name, recipe)`` makes one
from a recipe (the JSON-able constructor arguments every registered net
keeps as ``net.recipe``); ``param_shapes(name, recipe)`` says which
parameter shapes a recipe implies without allocating anything, so that a
file can be checked before the net it describes is built.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping

__all__ = ["NETS", "build_net", "param_shapes", "net_name"]

_EXTEND_KEYS = ("use_dropout", "dropout_ration", "use_batchnorm")


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


def _affine_shapes(sizes: list, batchnorm: bool) -> dict:
    shapes = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        shapes[f"W{i}"], shapes[f"b{i}"] = (fan_in, fan_out), (fan_out,)
        if batchnorm and i < len(sizes) - 1:
            shapes[f"gamma{i}"] = shapes[f"beta{i}"] = (fan_out,)
    return shapes


def _known(recipe: dict, allowed: tuple) -> None:
    unknown = sorted(set(recipe) - set(allowed))
    if unknown:
        raise ValueError(f"unknown arguments {unknown}")


def param_shapes(name: str, recipe: dict) -> dict:
    """{parameter name: shape} of the net ``build_net(name, recipe)`` would make, computed without building it."""
    from .convnet import _DEEP_DEFAULTS, SimpleConvNet, _check_input_dim, _conv_out, _conv_param, _pool_out
    from .init import check_size, check_sizes
    from .mlp import MultiLayerNet, MultiLayerNetExtend, TwoLayerNet

    if not isinstance(recipe, dict):
        raise TypeError(f"recipe must be a dict of constructor arguments, got {type(recipe).__name__}")
    cls = _class_for(name, recipe)
    if cls is TwoLayerNet:
        _known(recipe, ("input_size", "hidden_size", "output_size", "weight_init_std"))
        return _affine_shapes([check_size(recipe.get("input_size"), "input_size"),
                               check_size(recipe.get("hidden_size"), "hidden_size"),
                               check_size(recipe.get("output_size"), "output_size")], False)
    if cls in (MultiLayerNet, MultiLayerNetExtend):
        _known(recipe, ("input_size", "hidden_size_list", "output_size", "activation", "weight_init_std",
                        "weight_decay_lambda") + _EXTEND_KEYS)
        sizes = ([check_size(recipe.get("input_size"), "input_size")]
                 + check_sizes(recipe.get("hidden_size_list"), "hidden_size_list")
                 + [check_size(recipe.get("output_size"), "output_size")])
        return _affine_shapes(sizes, bool(recipe.get("use_batchnorm", False)))
    c, h, w = _check_input_dim(recipe.get("input_dim", (1, 28, 28)))
    hidden = check_size(recipe.get("hidden_size", 100 if cls is SimpleConvNet else 50), "hidden_size")
    out = check_size(recipe.get("output_size", 10), "output_size")
    if cls is SimpleConvNet:
        _known(recipe, ("input_dim", "conv_param", "hidden_size", "output_size", "weight_init_std"))
        p = _conv_param(recipe.get("conv_param", {}), {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
                        "conv_param")
        ph, pw = _pool_out(_conv_out((h, w), p, "conv_param"), "the pooling layer")
        fn, fs = p["filter_num"], p["filter_size"]
        return {"W1": (fn, c, fs, fs), "b1": (fn,), "W2": (fn * ph * pw, hidden), "b2": (hidden,), "W3": (hidden, out), "b3": (out,)}
    _known(recipe, ("input_dim", "hidden_size", "output_size") + tuple(f"conv_param_{i}" for i in range(1, 7)))
    shapes, hw, channels = {}, (h, w), c
    for i, default in enumerate(_DEEP_DEFAULTS, start=1):
        p = _conv_param(recipe.get(f"conv_param_{i}", default), default, f"conv_param_{i}")
        hw = _conv_out(hw, p, f"conv_param_{i}")
        if i % 2 == 0:
            hw = _pool_out(hw, f"the pooling layer after conv {i}")
        fn, fs = p["filter_num"], p["filter_size"]
        shapes[f"W{i}"], shapes[f"b{i}"] = (fn, channels, fs, fs), (fn,)
        channels = fn
    flat = channels * hw[0] * hw[1]
    shapes.update({"W7": (flat, hidden), "b7": (hidden,), "W8": (hidden, out), "b8": (out,)})
    return shapes
