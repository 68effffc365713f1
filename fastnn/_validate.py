"""Input validation at the public boundary.

numba kernels do not check bounds, so everything a kernel will index with is
checked here first. Each failure is a ``TypeError`` (wrong kind of object or
dtype) or a ``ValueError`` (wrong shape, range or value) whose message names
the argument, what was expected and what was given.

All helpers return arrays a kernel can take as they are: C-contiguous, of a
float dtype (float32 or float64) or, for labels, ``np.intp``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_FLOAT32, _FLOAT64 = FLOAT_DTYPES
_INTP, _UINTP = np.dtype(np.intp), np.dtype(np.uintp)


def describe_value(x) -> str:
    """What ``x`` is, for an error message: "an array of shape (2, 3) and dtype float32", "a list", ..."""
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} and dtype {x.dtype}"
    return f"a {type(x).__name__}"


def float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """Return ``dtype`` as a ``np.dtype`` if it is float32 or float64, else raise."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        hint = ""
        if dt == np.float16 or dt.name == "bfloat16":
            hint = ("; half precision is for inference: build and train the net in float32, then "
                    f"net.half({dt.name!r}) gives an inference-only copy stored in {dt.name}")
        raise TypeError(f"{name} must be float32 or float64, got {dt}{hint}")
    return dt


def as_float_array(x, name: str, *, dtype=None, ndim=None, min_ndim: int = 0,
                   allow_int: bool = False, allow_empty: bool = False) -> np.ndarray:
    """Check ``x`` and return it as a C-contiguous float array.

    Parameters
    ----------
    x : array_like
        What the user passed.
    name : str
        The argument's name, used in error messages.
    dtype : float32 or float64, optional
        Convert to this dtype (the dtype of a layer's parameters). If None,
        a float32/float64 input keeps its dtype.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    min_ndim : int
        Smallest allowed number of dimensions.
    allow_int : bool
        Accept integer and bool input and convert it to float64 (or ``dtype``)
        — for the plain functions; layers want float arrays.
    allow_empty : bool
        Accept arrays with a zero-length axis.

    The result is never the caller's array when a conversion was needed, so
    a kernel that writes into it never writes through to a view the caller
    holds; when no conversion is needed the same array comes back (kernels
    only read their inputs).
    """
    if type(x) is np.ndarray:  # the common case first: nothing to convert, every check passes
        dt = x.dtype
        if (dt is dtype if dtype is not None else (dt is _FLOAT64 or dt is _FLOAT32)) \
                and (ndim is None or x.ndim == ndim or (type(ndim) is tuple and x.ndim in ndim)) \
                and x.ndim >= min_ndim and (allow_empty or x.size) and x.flags.c_contiguous:
            return x
    if isinstance(x, np.ndarray):
        arr = x
    elif isinstance(x, (numbers.Number, list, tuple, np.generic)):
        arr = np.asarray(x)
    else:
        raise TypeError(f"{name} must be a float array, got {describe_value(x)}")
    kind = arr.dtype.kind
    if kind == "f":
        if arr.dtype not in FLOAT_DTYPES:  # float16, longdouble
            arr = arr.astype(np.float64 if dtype is None else dtype)
    elif kind in "iub" and allow_int:
        arr = arr.astype(np.float64 if dtype is None else dtype)
    else:
        wanted = "a real numeric array" if allow_int else "a float32 or float64 array"
        raise TypeError(f"{name} must be {wanted}, got {describe_value(arr)}")
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    # (np.ascontiguousarray would turn a 0-d array into shape (1,))
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)


def check_shape(arr: np.ndarray, shape: tuple, name: str) -> None:
    """Raise ``ValueError`` unless ``arr.shape`` matches ``shape`` (None = any size)."""
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")


def as_labels(t, n_samples: int, n_classes: int, name: str = "t") -> np.ndarray:
    """Return class indices, shape (n_samples,) and dtype ``np.intp``, from labels or one-hot.

    Accepts what the book's code passes: integer labels of shape (N,), (N, 1)
    or () for a single sample, or one-hot/probability targets of shape
    (N, n_classes) (or (n_classes,) for one sample), from which the arg-max is
    taken. Labels outside ``[0, n_classes)`` raise ``ValueError``.
    """
    if type(t) is np.ndarray and t.dtype is _INTP and t.shape == (n_samples,) and n_classes > 0 \
            and (n_samples == 0 or t.view(_UINTP).max() < n_classes):
        # the common case first: labels (N,) of np.intp in [0, n_classes) (a negative label
        # viewed as unsigned is >= 2**63, so one max checks both ends); never one-hot, as
        # a one-hot t of shape (N,) would need n_classes == 1 and size N == N * n_classes
        return t.copy()
    if isinstance(t, (numbers.Integral, list, tuple, np.generic)):
        t = np.asarray(t)
    if not isinstance(t, np.ndarray):
        raise TypeError(f"{name} must be an array of labels or one-hot rows, got {describe_value(t)}")
    if t.dtype.kind not in "iubf":
        raise TypeError(f"{name} must hold integer labels or one-hot floats, got dtype {t.dtype}")
    if t.size == n_samples * n_classes and t.ndim >= 1 and t.shape[-1] == n_classes and n_classes > 1 \
            and (t.ndim == 2 and t.shape[0] == n_samples or t.ndim == 1 and n_samples == 1):
        if not np.all(np.isfinite(t)):
            raise ValueError(f"{name} (one-hot) must be finite")
        return np.ascontiguousarray(t.reshape(n_samples, n_classes).argmax(axis=1).astype(np.intp))
    if t.size != n_samples or t.ndim > 2 or (t.ndim == 2 and t.shape[1] != 1):
        raise ValueError(
            f"{name} must be labels of shape ({n_samples},) or ({n_samples}, 1), "
            f"or one-hot of shape ({n_samples}, {n_classes}); got shape {t.shape}")
    if t.dtype.kind == "f":
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            raise ValueError(f"{name} holds float labels that are not whole numbers")
    labels = t.reshape(n_samples)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{name} must hold labels in [0, {n_classes}), got values from "
            f"{labels.min()} to {labels.max()}")
    return np.ascontiguousarray(labels.astype(np.intp))


def check_scalar(value, name: str, *, positive: bool = False, nonnegative: bool = False,
                 below: float | None = None, integer: bool = False):
    """Check a hyperparameter: a finite real number, optionally > 0, ≥ 0, < ``below``, integral."""
    if type(value) is int and integer and -2 ** 63 <= value < 2 ** 63 and (not positive or value > 0) \
            and (not nonnegative or value >= 0) and (below is None or value < below):
        return value   # the common case (a layer's stride or pad at every call), without the ABC checks
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.generic)) \
            or (isinstance(value, np.generic) and not np.issubdtype(type(value), np.number)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if integer:
        if not isinstance(value, (numbers.Integral, np.integer)):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        value = int(value)
        if not -2 ** 63 <= value < 2 ** 63:  # kernels take int64 sizes
            raise ValueError(f"{name} must fit in a 64-bit integer, got {value!r}")
    else:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if nonnegative and not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    if below is not None and not value < below:
        raise ValueError(f"{name} must be < {below}, got {value!r}")
    return value
