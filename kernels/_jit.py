"""``njit`` for fastnn's kernels: numba's, with the disk cache in a folder of fastnn's own.

numba's ``cache=True`` writes its index and object files into ``__pycache__/``
beside the source. For an installed fastnn that is inside the package
(``site-packages/fastnn/kernels/__pycache__/``): a read-only install gets no
cache, and since ``pip uninstall`` removes only the files pip installed, the
cache files keep a ``site-packages/fastnn/`` folder alive that Python then
imports as an empty namespace package, ahead of any later install.

So ``njit(cache=True, ...)`` here compiles as numba's ``njit(...)`` and gives
the dispatcher a cache that lives

* under ``NUMBA_CACHE_DIR`` when it is set (numba's own variable, read by
  ``numba.config`` when numba is imported), else
* else in ``numba/`` of fastnn's cache folder, the one its data sets use:
  ``$FASTNN_CACHE``, else ``$XDG_CACHE_HOME/fastnn``, else
  ``~/.cache/fastnn`` (the rule of ``fastnn.datasets._cache``, restated
  here because kernels import nothing of fastnn),

in a folder per install and per version of the kernels' sources:
``kernels_<hash of the kernels' folder path>-<hash of every kernel file>``.
The second hash means that an edit of any kernel file, a helper that another
kernel inlined included, gives fresh compiled code (numba alone checks only
the file of the function it loads). Processes share the folder (numba writes
its files atomically); deleting it only costs a compile. Where no folder can
be written the kernels compile in each process (a ``RuntimeWarning`` says
so, once), and nothing is written inside the package. numba's behaviour for the user's own functions, and its
configuration, are left alone: only fastnn's dispatchers get this cache.
"""
import functools
import hashlib
import os
import warnings

import numba
from numba.core import caching

# older numba releases name the locator with a leading underscore
_UserProvidedLocator = getattr(caching, "UserProvidedCacheLocator", None) or caching._UserProvidedCacheLocator


def cache_root() -> str:
    """The folder that holds fastnn's numba caches: ``NUMBA_CACHE_DIR`` if set, else fastnn's cache's ``numba``."""
    if numba.config.CACHE_DIR:
        return numba.config.CACHE_DIR
    fastnn_cache = os.environ.get("FASTNN_CACHE")
    if fastnn_cache:
        return os.path.join(os.path.expanduser(fastnn_cache), "numba")
    base = os.path.expanduser(os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"))
    return os.path.join(base, "fastnn", "numba")


@functools.lru_cache(maxsize=None)
def _sources_hash(folder: str) -> str:
    """SHA-256 (16 hex digits) of the ``.py`` files of ``folder``, names and contents, in name order."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as f:
                digest.update(name.encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()[:16]


class KernelCacheLocator(_UserProvidedLocator):
    """numba's locator for a user-provided folder, pointed at ``cache_root()`` and keyed by the sources."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        folder = os.path.dirname(os.path.abspath(py_file))
        subpath = self.get_suitable_cache_subpath(py_file) + "-" + _sources_hash(folder)
        self._cache_path = os.path.join(cache_root(), subpath)

    @classmethod
    def from_function(cls, py_func, py_file):
        # the source-file checks of numba's mixin, without the user-provided locator's CACHE_DIR condition
        return super(_UserProvidedLocator, cls).from_function(py_func, py_file)


class _KernelCacheImpl(caching.CompileResultCacheImpl):
    _locator_classes = [KernelCacheLocator]


class KernelCache(caching.FunctionCache):
    """numba's function cache, located by ``KernelCacheLocator`` only."""

    _impl_class = _KernelCacheImpl


_warned_uncached = False


def _warn_uncached() -> None:
    global _warned_uncached
    if not _warned_uncached:
        _warned_uncached = True
        warnings.warn(f"fastnn cannot write numba's cache folder {cache_root()!r}: its kernels compile again in "
                      "every process; set FASTNN_CACHE (or NUMBA_CACHE_DIR) to a folder you can write",
                      RuntimeWarning, stacklevel=4)


def njit(*args, cache=False, **options):
    """``numba.njit(**options)``; with ``cache=True`` the dispatcher caches on disk through ``KernelCache``.

    Only the called form, ``@njit(...)``: a kernel states its options.
    """
    if args:
        raise TypeError("use fastnn.kernels' njit as @njit(cache=True, ...), with keyword options only")

    def build(func):
        dispatcher = numba.njit(**options)(func)
        if cache and hasattr(dispatcher, "enable_caching"):   # not where NUMBA_DISABLE_JIT made it the function
            try:
                # what numba's enable_caching does, with fastnn's cache class
                dispatcher._cache = KernelCache(dispatcher.py_func)
            except RuntimeError:   # no writable cache folder: compile in each process
                _warn_uncached()
        return dispatcher

    return build
