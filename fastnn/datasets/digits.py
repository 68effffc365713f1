"""scikit-learn's 8×8 handwritten digits (1,797 images, values 0–16) in the book's return convention.

Split deterministically and stratified, as :mod:`fastnn.datasets.mnist5k`:
within each class every fifth image is a test image (1,442 training / 355
test images). Needs scikit-learn, which ships the data (no download).
"""
from __future__ import annotations

import importlib.util

import numpy as np

from ._format import check_options, format_split
from ._split import stratified_split

__all__ = ["load_digits", "digits_available"]


def digits_available() -> bool:
    """True if scikit-learn (which ships the digits) is installed; nothing is imported."""
    try:
        return importlib.util.find_spec("sklearn") is not None
    except (ImportError, ValueError):
        return False


def load_digits(normalize=True, flatten=True, one_hot_label=False, *, dtype=None):
    """The 8×8 digits as ``((x_train, t_train), (x_test, t_test))``.

    ``normalize``: floats in [0, 1] (pixel / 16; float32 unless ``dtype``),
    else the raw values 0–16 as uint8. ``flatten``: (N, 64), else
    (N, 1, 8, 8). ``one_hot_label``: (N, 10) rows, else uint8 labels (N,).
    """
    check_options(normalize, flatten, one_hot_label, dtype)
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:
        raise ImportError("the digits data set ships with scikit-learn: pip install scikit-learn "
                          "(or pip install 'fastnn[data]')") from exc
    bunch = _sk_load_digits()
    images = bunch.images.astype(np.uint8)  # whole numbers 0..16
    labels = bunch.target.astype(np.uint8)
    train, test = stratified_split(labels)
    return format_split(images[train], labels[train], images[test], labels[test],
                        normalize=normalize, flatten=flatten, one_hot_label=one_hot_label,
                        dtype=dtype, scale=16.0)
