"""Layer classes of the book, forward/backward on numba kernels.

``from fastnn.layers import *`` stands where ``from common.layers import *``
stood: it also brings ``np`` and the functions of ``fastnn.functions``, as
the book's chapter scripts expect.
"""
import numpy as np  # noqa: F401  (the book's scripts get np through the star import)

from .. import _runtime
from ..functions import *  # noqa: F401,F403
from ..functions import __all__ as _functions_all
from .activation import Relu, Sigmoid
from .base import Layer
from .conv import Convolution
from .dense import AddLayer, Affine, MulLayer, SoftmaxWithLoss
from .dropout import Dropout
from .norm import BatchNormalization
from .pool import AvgPooling, Pooling

_runtime.apply_host_tuning()  # BLAS threads, malloc, numba's threading layer: see fastnn._runtime

__all__ = ["np", "Layer", "MulLayer", "AddLayer", "Affine", "SoftmaxWithLoss", "Convolution", "Pooling", "AvgPooling", "Relu", "Sigmoid", "Dropout", "BatchNormalization"] + list(_functions_all)
