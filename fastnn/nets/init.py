"""Weight initialisation and argument checks shared by the book's nets.

``weight_init_std`` follows the book's ``MultiLayerNet``: a number (the
standard deviation itself), ``'relu'``/``'he'`` for He's √(2/n) or
``'sigmoid'``/``'xavier'`` for Xavier's √(1/n), n the fan-in of the weight
(the number of inputs one output unit sums over: the rows of an Affine
weight, C·FH·FW of a convolution filter). Names are case-insensitive.

``seed`` chooses where the random numbers come from, by fastnn's one seed
rule (``fastnn._random.as_generator`` with ``legacy=True``):

- ``None`` — NumPy's legacy global generator (``np.random.randn``), exactly
  as the book draws them, so ``np.random.seed(0)`` before building a net
  gives the book's weights bit for bit (in float64);
- an int or a ``np.random.SeedSequence`` — a fresh ``np.random.default_rng(seed)``;
- a ``np.random.Generator`` or ``np.random.RandomState`` — used as it is.

Weights are drawn in float64 and then cast to the net's dtype, so a float32
net starts from the float64 net's weights rounded.
"""
from __future__ import annotations

import numpy as np

from .._random import as_generator, is_global_random_state
from .._validate import check_scalar

__all__ = ["init_scale", "check_init_std", "normal_weights", "derive_seed",
           "check_size", "check_sizes", "check_weight_shape", "MAX_SIZE", "MAX_WEIGHT_ENTRIES"]

_HE_NAMES = ("relu", "he")
_XAVIER_NAMES = ("sigmoid", "xavier")


def init_scale(weight_init_std, fan_in: int, name: str = "weight_init_std") -> float:
    """The standard deviation for a weight with ``fan_in`` inputs per output (see the module doc)."""
    if isinstance(weight_init_std, str):
        key = weight_init_std.lower()
        if key in _HE_NAMES:
            return float(np.sqrt(2.0 / fan_in))
        if key in _XAVIER_NAMES:
            return float(np.sqrt(1.0 / fan_in))
        raise ValueError(f"{name} must be a number >= 0, 'relu'/'he' or 'sigmoid'/'xavier', "
                         f"got {weight_init_std!r}")
    return check_scalar(weight_init_std, name, nonnegative=True)


def check_init_std(weight_init_std, name: str = "weight_init_std") -> None:
    """Validate ``weight_init_std`` before any weight is drawn (fan-in 1 stands in for the real one)."""
    init_scale(weight_init_std, 1, name)


def normal_weights(rng, shape: tuple, scale: float, dtype) -> np.ndarray:
    """``scale * N(0, 1)`` of ``shape``, drawn in float64 from ``rng`` (``as_generator(seed, legacy=True)``), cast to ``dtype``.

    NumPy's global RandomState's ``standard_normal`` is the stream of the
    book's ``np.random.randn``, so with ``seed=None`` and float64 the result is
    the book's ``scale * np.random.randn(*shape)`` bit for bit.
    """
    check_weight_shape(shape)
    if rng is None:
        rng = as_generator(None, legacy=True)
    z = rng.standard_normal(shape)
    return np.ascontiguousarray(scale * z, dtype=dtype)


def derive_seed(rng):
    """A seed for a layer's own generator (Dropout): None with NumPy's global generator, else drawn from ``rng``."""
    if rng is None or is_global_random_state(rng):
        return None
    return int(rng.integers(0, 2**63 - 1)) if isinstance(rng, np.random.Generator) \
        else int(rng.randint(0, 2**31 - 1))


#: Largest layer size (units, channels, filter side, input length) a net accepts: far above any
#: net of the book, low enough that a mistyped size is refused with a ValueError naming the
#: argument instead of failing with a MemoryError.
MAX_SIZE = 2**24

#: Largest number of entries of one weight array a net draws (8 GiB in float32): a plausibility
#: cap, so a recipe such as ``hidden_size=10**7`` is refused before anything is allocated.
MAX_WEIGHT_ENTRIES = 2**31


def check_size(value, name: str) -> int:
    """A layer size: a positive int up to ``MAX_SIZE`` (NumPy ints accepted, bools and floats refused)."""
    value = check_scalar(value, name, integer=True, positive=True)
    if value > MAX_SIZE:
        raise ValueError(f"{name} must be at most {MAX_SIZE:,}, got {value:,}; a size this large "
                         "is almost certainly a typo (and would not fit in memory)")
    return value


def check_weight_shape(shape: tuple, what: str = "a weight") -> None:
    """Refuse a weight of more than ``MAX_WEIGHT_ENTRIES`` entries before it is allocated."""
    entries = 1
    for n in shape:
        entries *= int(n)
    if entries > MAX_WEIGHT_ENTRIES:
        raise ValueError(f"{what} of shape {tuple(shape)} would have {entries:,} entries, more than the "
                         f"{MAX_WEIGHT_ENTRIES:,} a net may hold in one array; choose smaller layer sizes")


def check_sizes(values, name: str, length: int | None = None) -> list:
    """A list/tuple of positive ints (``length`` of them, if given)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list or tuple of positive ints, got {values!r}")
    values = list(values)
    if length is not None and len(values) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(values)}: {values!r}")
    return [check_size(v, f"{name}[{i}]") for i, v in enumerate(values)]
