"""The book's conventions for what a loader returns: normalize, flatten, one-hot."""
from __future__ import annotations

import numpy as np

from .._validate import float_dtype


def check_options(normalize, flatten, one_hot_label, dtype=None) -> None:
    """Reject bad loader options before anything is read."""
    for name, value in (("normalize", normalize), ("flatten", flatten), ("one_hot_label", one_hot_label)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    if dtype is not None:
        float_dtype(dtype)


def format_images(images: np.ndarray, normalize: bool, flatten: bool, dtype, scale: float) -> np.ndarray:
    """uint8 images (N, H, W) -> (N, H*W) or (N, 1, H, W); float in [0, 1] when ``normalize``.

    ``dtype`` (float32 or float64) is the float dtype when ``normalize``
    (default float32, as the book); without ``normalize`` the raw uint8
    values are kept unless ``dtype`` asks for a float type.
    """
    n = images.shape[0]
    x = images.reshape(n, -1) if flatten else images.reshape(n, 1, *images.shape[1:])
    if normalize:
        dt = np.dtype(np.float32) if dtype is None else float_dtype(dtype)
        x = x.astype(dt)
        x /= dt.type(scale)
    elif dtype is not None:
        x = x.astype(float_dtype(dtype))
    return np.ascontiguousarray(x)


def one_hot(labels: np.ndarray, n_classes: int, dtype) -> np.ndarray:
    """Labels (N,) -> one-hot rows (N, n_classes) of ``dtype``."""
    t = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    t[np.arange(labels.shape[0]), labels] = 1
    return t


def format_split(x_train, t_train, x_test, t_test, *, normalize, flatten, one_hot_label,
                 dtype=None, scale=255.0, n_classes=10):
    """Apply the book's options to raw (uint8) arrays; return ``((x_train, t_train), (x_test, t_test))``.

    Labels are uint8 class indices (N,) as in the book, or with
    ``one_hot_label`` rows (N, n_classes) in the images' float dtype (uint8
    when the images stay raw).
    """
    check_options(normalize, flatten, one_hot_label, dtype)
    out = []
    for x, t in ((x_train, t_train), (x_test, t_test)):
        x = format_images(x, normalize, flatten, dtype, scale)
        t = np.ascontiguousarray(t, dtype=np.uint8)
        if one_hot_label:
            t = one_hot(t, n_classes, x.dtype if x.dtype.kind == "f" else np.uint8)
        out.append((x, t))
    return tuple(out)
