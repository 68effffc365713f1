"""fastnn: the neural-network toolkit of *Deep Learning from Scratch*, on numba kernels.

Importing ``fastnn`` is cheap: submodules (``fastnn.layers``, ``fastnn.nets``,
...) are imported on first use, and numba compiles each kernel lazily, once
per dtype, caching it on disk.
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "functions", "gradient", "layers", "optimizer", "nets", "trainer", "util",
    "reference", "datasets", "perceptron", "testing", "kernels", "compat",
    "plot", "io", "schedules", "early_stopping", "augment",
}

_RUNTIME_FUNCTIONS = {"set_num_threads", "get_num_threads", "set_host_tuning"}

__all__ = sorted(_SUBMODULES | _RUNTIME_FUNCTIONS) + ["__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _RUNTIME_FUNCTIONS:
        return getattr(importlib.import_module(f"{__name__}._runtime"), name)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")
