"""The book's ``params.pkl``, read without running any code it might carry.

The book saves a net's parameters with ``pickle.dump`` of a dict of names to
NumPy arrays. ``read_book_pickle`` reads exactly that through an unpickler
that admits, by name, only the few globals such a pickle needs (NumPy's
array reconstructors, a numeric dtype, latin1 bytes); anything else is
refused with a ``ValueError`` naming the global.
"""
from __future__ import annotations

import codecs
import importlib
import os
import pickle

import numpy as np

__all__ = ["is_pickle", "read_book_pickle"]


def is_pickle(path) -> bool:
    """Whether the file at ``path`` starts like a pickle (protocol 2 or later)."""
    with open(path, "rb") as f:
        return f.read(1) == b"\x80"


def _numpy_core(module: str):
    try:
        return importlib.import_module("numpy._core." + module)
    except ImportError:  # NumPy 1.x
        return importlib.import_module("numpy.core." + module)


def _safe_dtype(*args):
    dt = np.dtype(*args)
    if dt.hasobject or dt.kind not in "biufc" or dt.fields is not None:
        raise ValueError(f"dtype {dt}: a params pickle holds only numeric arrays")
    return dt


def _safe_encode(text, encoding="utf-8"):
    if encoding not in ("latin1", "latin-1"):
        raise ValueError(f"_codecs.encode with {encoding!r}: only latin1 (pickle protocol 2's bytes) is admitted")
    return codecs.encode(text, encoding)


class _ParamsUnpickler(pickle.Unpickler):
    """Builds only dicts, strings, numbers and NumPy arrays: every global but these few is refused by name."""

    def find_class(self, module, name):
        multiarray, numeric = _numpy_core("multiarray"), _numpy_core("numeric")
        admitted = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): _safe_dtype,
            ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy.core.multiarray", "scalar"): multiarray.scalar,
            ("numpy._core.multiarray", "scalar"): multiarray.scalar,
            ("numpy.core.numeric", "_frombuffer"): numeric._frombuffer,
            ("numpy._core.numeric", "_frombuffer"): numeric._frombuffer,
            ("_codecs", "encode"): _safe_encode,
        }
        try:
            return admitted[(module, name)]
        except KeyError:
            raise ValueError(f"refused the global {module}.{name}: a params pickle may hold only a dict of "
                             "names to NumPy arrays") from None

    def persistent_load(self, pid):
        raise ValueError("refused a persistent id: a params pickle may hold only a dict of names to NumPy arrays")


def read_book_pickle(path) -> dict:
    """The book's ``params.pkl`` as ``{name: ndarray}``, read without running any code it might carry.

    Raises ``ValueError`` naming the file (and the refused global) for
    anything but a dict of str to numeric ``numpy.ndarray``.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            obj = _ParamsUnpickler(f).load()
    except ValueError as exc:
        raise ValueError(f"{path!r}: {exc}; not loaded") from None
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError, RecursionError) as exc:
        raise ValueError(f"{path!r} is not a readable params pickle ({type(exc).__name__}: {exc}); "
                         "not loaded") from None
    if not isinstance(obj, dict) or not all(isinstance(k, str) and type(v) is np.ndarray for k, v in obj.items()):
        raise ValueError(f"{path!r} is not a params pickle: expected a dict of names to NumPy arrays, "
                         f"got {type(obj).__name__}")
    return obj


