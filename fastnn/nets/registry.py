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
