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

The state of a generator, as JSON-able values, is here too:
``generator_state(gen)`` (what ``state_dict()`` methods hold and a file
keeps), ``check_generator_state(gen, state)`` (refuses, touching nothing) and
``set_generator_state(gen, state)``; ``None`` stands for NumPy's global one.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_generator", "global_random_state", "is_global_random_state", "generator_state",
           "check_generator_state", "set_generator_state"]


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


# -- a generator's state as JSON-able values (what state_dict() holds and a file keeps) ----------

def _to_json(obj):
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str}
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _from_json(obj):
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            dtype = np.dtype(obj["dtype"])
            if dtype.kind not in "iu":
                raise ValueError(f"a generator state holds integers, got dtype {dtype}")
            return np.array(obj["__ndarray__"], dtype=dtype)
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


def generator_state(gen) -> dict:
    """The state of ``gen`` (a ``Generator``, ``RandomState``, or None for NumPy's global one) as JSON-able values."""
    if gen is None:
        return _to_json(np.random.get_state(legacy=False))
    if isinstance(gen, np.random.Generator):
        return _to_json(gen.bit_generator.state)
    return _to_json(gen.get_state(legacy=False))


def check_generator_state(gen, state, what: str = "generator state") -> None:
    """Raise ``ValueError`` unless ``state`` (from ``generator_state``) can be set on ``gen``; ``gen`` is not touched."""
    try:
        value = _from_json(state)
        if isinstance(gen, np.random.Generator):
            probe = type(gen.bit_generator)()
            if not isinstance(value, dict) or value.get("bit_generator") != type(probe).__name__:
                raise ValueError(f"it is not a {type(probe).__name__} state")
            probe.state = value
        else:
            np.random.RandomState().set_state(value)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise ValueError(f"{what} is not a valid random generator state ({exc})") from None


def set_generator_state(gen, state) -> None:
    """Put ``state`` (from ``generator_state``) into ``gen`` (None: NumPy's global generator)."""
    value = _from_json(state)
    if gen is None:
        np.random.set_state(value)
    elif isinstance(gen, np.random.Generator):
        gen.bit_generator.state = value
    else:
        gen.set_state(value)
