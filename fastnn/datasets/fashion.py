"""Fashion-MNIST: 70,000 28×28 grey images of clothes in 10 classes, MNIST's format and sizes.

It installs offline on Debian and Ubuntu: ``apt-get install dataset-fashion-mnist``
puts the four gzipped IDX files in ``/usr/share/datasets/fashion-mnist/``.
``load_fashion_mnist`` looks in ``data_home`` when given, else in
``$FASTNN_DATA/fashion-mnist`` (or ``$FASTNN_DATA`` itself), in
``~/.cache/fastnn/fashion-mnist`` and in the Debian directory, checks and
caches the files exactly as ``load_mnist`` does.

Classes: 0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal,
6 shirt, 7 sneaker, 8 bag, 9 ankle boot.
"""
from __future__ import annotations

from . import _idxset
from ._format import check_options, format_split

__all__ = ["load_fashion_mnist", "FASHION_MNIST", "CLASS_NAMES", "DEBIAN_DIR", "fashion_mnist_available"]

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

FASHION_MNIST = _idxset.IdxDataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    subdir="fashion-mnist",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    extra_dirs=(DEBIAN_DIR,),
    hint="On Debian or Ubuntu: sudo apt-get install dataset-fashion-mnist (no download needed at run time).",
)


def load_fashion_mnist(normalize=True, flatten=True, one_hot_label=False, data_home=None, *,
                       dtype=None, download=True, cache=True):
    """Load Fashion-MNIST: ``((x_train, t_train), (x_test, t_test))``, 60,000 / 10,000 samples.

    The options mean what they mean for :func:`fastnn.datasets.mnist.load_mnist`:
    ``normalize`` (float in [0, 1], float32 unless ``dtype``), ``flatten``
    ((N, 784) or (N, 1, 28, 28)), ``one_hot_label`` ((N, 10) rows or uint8
    labels (N,)), ``data_home`` (a directory of your own holding the four files).
    """
    check_options(normalize, flatten, one_hot_label, dtype)
    raw = _idxset.load_raw(FASHION_MNIST, data_home, download=download, cache=cache)
    return format_split(raw["x_train"], raw["t_train"], raw["x_test"], raw["t_test"],
                        normalize=normalize, flatten=flatten, one_hot_label=one_hot_label, dtype=dtype)


def fashion_mnist_available(data_home=None) -> bool:
    """True if the Fashion-MNIST files are on this machine (nothing is read or downloaded)."""
    return _idxset.is_available(FASHION_MNIST, data_home)
