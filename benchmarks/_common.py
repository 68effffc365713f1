"""Helpers shared by the benchmark suites: thread pinning, skipping, inputs.

PyTorch never runs in the asv process, where fastnn is loaded (and sets its
OpenMP wait policy, which PyTorch's libgomp would then follow): every suite
times ``fastnn`` and ``reference`` in process (``IMPLS``), and a twin class
named ``<Suite>Torch`` times PyTorch with ``timeraw_`` benchmarks, each
sample in a fresh interpreter that imports PyTorch and not fastnn
(``torch_timeraw``), in PyTorch's own default configuration but for the
thread count every suite pins.

A benchmark whose subject cannot be had — PyTorch not installed, or a fastnn
name that does not exist at the commit being measured — raises
``NotImplementedError`` in ``setup``, which asv records as skipped (n/a),
never as a failure. That keeps the suite usable over the whole history.
"""
import importlib
import os

import numpy as np

#: The environment before anything here imported fastnn (which may set variables such as
#: OMP_WAIT_POLICY): what a PyTorch process must start from.
_ENV_AT_IMPORT = dict(os.environ)

DTYPES = ["float32", "float64"]
#: The implementations timed in the asv process; PyTorch has its own (see the module docstring).
IMPLS = ["fastnn", "reference"]
#: Batch sizes of the training-step suites.
BATCHES = [1, 32, 100, 256]
#: Batch sizes of the layer suites: one sample and the book's batch. Fewer than
#: the nets', since every parameter combination costs asv a forked process
#: (numba's cache load, PyTorch's thread start) — about a second each.
LAYER_BATCHES = [1, 100]

#: Threads for numba, BLAS and PyTorch alike; fixed so timings compare.
THREADS = int(os.environ.get("FASTNN_BENCH_THREADS", "2"))


def _preimport():
    """Import the heavy modules once, so that asv's forkserver children inherit them.

    Nothing here starts a thread pool (numba and BLAS start theirs on first
    use, in the child), so forking afterwards is safe.
    """
    for name in ("numba", "scipy.linalg", "threadpoolctl", "fastnn", "fastnn.kernels",
                 "fastnn.layers", "fastnn.optimizer", "fastnn.nets", "fastnn.util",
                 "fastnn.reference"):  # never torch: it runs in processes of its own
        try:
            importlib.import_module(name)
        except Exception:  # a module missing at this commit, or torch not installed
            pass
    # numba fills its typing and lowering registries (importing numba.np.arraymath,
    # scipy.linalg, ...) at the first kernel call: 0.4 s of CPU in every child
    # unless done here, once. It imports modules only; it starts no thread.
    try:
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
        cpu_target.typing_context.refresh()
    except Exception:  # an internal API of numba: losing it only costs time
        pass


if os.environ.get("ASV") == "true":
    _preimport()


def pin_threads(impl="fastnn", n=None):
    """Pin thread counts for timing ``impl``; returns ``n`` (default ``THREADS``).

    ``fastnn``: ``fastnn.set_num_threads(n)`` — numba gets ``n`` threads and
    BLAS what fastnn's own thread policy gives it (one thread, see
    ``fastnn._runtime``; ``n`` at earlier commits). Any other
    ``impl``: BLAS gets ``n`` threads, as NumPy has on an ``n``-core machine
    (fastnn's policy, applied when ``fastnn.layers`` is imported, must not
    handicap the plain-NumPy reference); numba is not involved. PyTorch, if
    loaded, gets ``n`` threads either way.
    """
    from threadpoolctl import threadpool_limits

    n = THREADS if n is None else int(n)
    if impl == "fastnn":
        import numba

        n = max(1, min(n, numba.config.NUMBA_NUM_THREADS))
        try:
            from fastnn import set_num_threads
        except ImportError:  # commits before the thread policy existed
            import scipy.linalg.cython_blas  # noqa: F401  (load numba's BLAS so it is limited too)

            numba.set_num_threads(n)
            threadpool_limits(limits=n, user_api="blas")
        else:
            set_num_threads(n)
    else:
        n = max(1, n)
        import scipy.linalg.cython_blas  # noqa: F401

        threadpool_limits(limits=n, user_api="blas")
    torch = _loaded_torch()
    if torch is not None:
        torch.set_num_threads(n)
    return n


def _loaded_torch():
    import sys

    return sys.modules.get("torch")


def need(module, *names):
    """Import ``module`` and return its attributes ``names``; skip the benchmark if any is missing."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise NotImplementedError(f"{module} cannot be imported: {exc}") from None
    out = []
    for name in names:
        if not hasattr(mod, name):
            raise NotImplementedError(f"{module}.{name} does not exist here")
        out.append(getattr(mod, name))
    return out[0] if len(out) == 1 else tuple(out)


def need_torch():
    """Return the torch module pinned to ``THREADS`` threads, or skip the benchmark."""
    try:
        import torch
    except ImportError:
        raise NotImplementedError("PyTorch is not installed") from None
    torch.set_num_threads(pin_threads("torch"))
    return torch


def torch_dtype(torch, dtype):
    return {"float32": torch.float32, "float64": torch.float64}[np.dtype(dtype).name]


def rng(seed=0):
    return np.random.default_rng(seed)


def randn(shape, dtype, seed=0, scale=1.0):
    """C-contiguous array of the given shape and dtype, normal with mean 0 and standard deviation ``scale``.

    Drawn directly in ``dtype`` (``Generator.standard_normal`` takes float32),
    so a float32 input costs no float64 draw and conversion.
    """
    dtype = np.dtype(dtype)
    x = rng(seed).standard_normal(shape, dtype=dtype)
    x *= dtype.type(scale)
    return x


def uniform(shape, dtype, seed=0, low=0.0, high=1.0):
    """C-contiguous array of the given shape and dtype, uniform in [low, high)."""
    dtype = np.dtype(dtype)
    x = rng(seed).random(shape, dtype=dtype)
    x *= dtype.type(high - low)
    x += dtype.type(low)
    return x


def torch_timeraw(setup, stmt):
    """``(stmt, setup)`` for a ``timeraw_`` benchmark that times PyTorch in a fresh interpreter.

    ``setup`` (run untimed; it may use the ``benchmarks`` package) builds the
    subject; ``stmt`` is timed ``number`` times. The child starts from the
    environment this module saw before fastnn was imported, without asv's
    ``ASV`` flag (so ``benchmarks._common`` imports nothing there), and then
    imports PyTorch: it never sees fastnn or its settings.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    root, package = os.path.dirname(here), os.path.basename(here)
    changed = {k: _ENV_AT_IMPORT.get(k) for k in set(os.environ) | set(_ENV_AT_IMPORT)
               if os.environ.get(k) != _ENV_AT_IMPORT.get(k)}
    prelude = (
        "import os, sys\n"
        f"for _k, _v in {changed!r}.items():\n"
        "    os.environ.pop(_k, None) if _v is None else os.environ.__setitem__(_k, _v)\n"
        "os.environ.pop('ASV', None)\n"
        f"sys.path.insert(0, {root!r})\n"
        f"import importlib; _bench = importlib.import_module({package!r})\n"
        "assert 'fastnn' not in sys.modules\n"
    )
    return stmt, prelude + setup + "\n"


class TorchTwin:
    """Base of a ``<Suite>Torch`` class: the ``torch`` column of an in-process suite, in processes of its own.

    A subclass names the suite module and class (``suite = "bench_layers.Affine"``),
    copies its parameters without ``impl``, and sets ``impl_index`` (where ``impl``
    goes back into the suite's ``setup`` arguments). ``subject_code(attr, *params)``
    is the child's setup: it builds the suite with ``impl="torch"`` and binds
    ``subject`` to its closure ``attr``.
    """

    suite = ""
    impl_index = 0
    number = 20
    repeat = (2, 5, 30.0)
    timeout = 300

    def subject_code(self, attr, *params):
        module, cls = self.suite.rsplit(".", 1)
        args = list(params)
        args.insert(self.impl_index, "torch")
        return torch_timeraw(
            f"_b = getattr(importlib.import_module(_bench.__name__ + '.{module}'), {cls!r})()\n"
            f"_b.setup(*{args!r})\n"
            f"subject = _b.{attr}\n"
            "subject()", "subject()")


def labels(n, classes=10, seed=1):
    return rng(seed).integers(0, classes, size=n).astype(np.int64)
