"""The book's nets on fastnn's layers: ``from fastnn.nets import *``.

- ``Sequential(layers, loss_layer)`` — the general container the others are built on;
- ``TwoLayerNet``, ``MultiLayerNet``, ``MultiLayerNetExtend`` (``fastnn.nets.mlp``);
- ``SimpleConvNet``, ``DeepConvNet`` (``fastnn.nets.convnet``).

Each has ``params`` (the layers' own arrays, by the book's names W1, b1,
...), ``predict``, ``loss``, ``accuracy``, ``gradient`` (backprop),
``numerical_gradient``, ``save_params``/``load_params`` (``.npz``, atomic,
checked: ``fastnn.nets.checkpoint``) and a ``dtype``.
"""
from .convnet import DeepConvNet, SimpleConvNet
from .mlp import MultiLayerNet, MultiLayerNetExtend, TwoLayerNet
from .sequential import ParamDict, Sequential

__all__ = ["Sequential", "ParamDict", "TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend",
           "SimpleConvNet", "DeepConvNet"]
