"""The book's nets on fastnn's layers: ``from fastnn.nets import *``.

- ``Sequential(layers, loss_layer)`` — the general container the others are built on;
- ``TwoLayerNet``, ``MultiLayerNet``, ``MultiLayerNetExtend`` (``fastnn.nets.mlp``);
- ``SimpleConvNet``, ``DeepConvNet`` (``fastnn.nets.convnet``).

Each has ``params`` (the layers' own arrays, by the book's names W1, b1,
...), ``predict``, ``loss``, ``accuracy``, ``gradient`` (backprop),
``numerical_gradient``, ``save_params``/``load_params`` (``.npz``, atomic,
checked: ``fastnn.io``), ``state_dict``/``load_state_dict`` and a ``dtype``.

``NETS`` registers the nets by name (simple_convnet, deep_convnet, two_layer,
multi_layer) and ``build_net(name, recipe, dtype, seed)`` makes one: what
the command line trains and a model file rebuilds; ``recipe_from_params(name,
params)`` reads a params file's sizes from its shapes (``fastnn.nets.registry``).
"""
import importlib

from .registry import NETS, build_net, net_name, param_shapes, recipe_from_params

__all__ = ["Sequential", "ParamDict", "TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend",
           "SimpleConvNet", "DeepConvNet",
           "NETS", "build_net", "param_shapes", "net_name", "recipe_from_params"]

#: The classes, imported on first use: ``import fastnn.nets`` (the command line's --help) stays light.
_LAZY = {"Sequential": "sequential", "ParamDict": "sequential", "TwoLayerNet": "mlp", "MultiLayerNet": "mlp",
         "MultiLayerNetExtend": "mlp", "SimpleConvNet": "convnet", "DeepConvNet": "convnet"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
