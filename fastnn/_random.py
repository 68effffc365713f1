"""The one seed rule: every public API that draws random numbers takes ``seed=`` through ``as_generator``.

``seed`` may be (as SciPy's SPEC 7 describes):

- an ``int`` >= 0 (or a ``numpy.random.SeedSequence``): a fresh
  ``numpy.random.default_rng(seed)``, private to the object that asked;
- a ``numpy.random.Generator``: that very generator, shared with the caller
  (its state advances as fastnn draws);
- ``None``: what the book does where fastnn follows a book function that
  draws from NumPy's global generator — the nets' initial weights
  (``np.random.randn``), Dropout's masks (``np.random.rand``) and
  ``util.shuffle_dataset`` (``np.random.permutation``): there ``None`` means
  *NumPy's global legacy generator*, the one ``np.random.seed(...)`` seeds, so
  the book's ``np.random.seed(0)`` still makes a run reproducible and gives
  the book's weights bit for bit (in float64). Those callers pass
  ``legacy=True``; the generator they get is then NumPy's global
  ``RandomState`` itself (``random``, ``standard_normal``, ``permutation``
  draw the book's streams). Everywhere else (the Trainer's mini-batch
  order) ``None`` means fresh entropy from the operating system, as
  ``numpy.random.default_rng()``.

A ``numpy.random.RandomState`` is accepted (and kept as it is) only where
``legacy=True``; elsewhere it is refused, since those objects save the
``Generator``'s state.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_generator", "global_random_state", "is_global_random_state"]


def global_random_state() -> np.random.RandomState:
    """NumPy's global legacy generator: the object behind ``np.random.rand`` and ``np.random.seed``."""
    return np.random.random_sample.__self__


def is_global_random_state(rng) -> bool:
    """Whether ``rng`` is NumPy's global legacy generator (``np.random.seed`` reseeds it in place)."""
    return rng is global_random_state()


def as_generator(seed, name: str = "seed", *, legacy: bool = False):
    """The random generator ``seed`` stands for (see the module docstring for the rule).

    Parameters
    ----------
    seed : None, int >= 0, numpy.random.SeedSequence or numpy.random.Generator
        (or numpy.random.RandomState where ``legacy``).
    name : str
        The argument's name, for error messages.
    legacy : bool
        True for the draws the book makes from NumPy's global generator:
        ``None`` then returns that global ``RandomState``, and a
        ``RandomState`` passes through. False: ``None`` returns a fresh
        ``Generator`` and the result is always a ``numpy.random.Generator``.

    Raises
    ------
    TypeError
        For anything else (a float, a bool, a string, a RandomState where
        ``legacy`` is False).
    ValueError
        For a negative integer.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return global_random_state() if legacy else np.random.default_rng()
    if isinstance(seed, np.random.RandomState):
        if legacy:
            return seed
        raise TypeError(f"{name} must be None, an int or a numpy.random.Generator (a legacy "
                        f"RandomState is not accepted here: pass np.random.default_rng(...)), got {seed!r}")
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        if seed < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {seed}")
        return np.random.default_rng(int(seed))
    raise TypeError(f"{name} must be None, a non-negative int or a numpy.random.Generator, got {seed!r}")
