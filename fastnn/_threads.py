"""One thread policy for numba's kernels and the BLAS behind GEMM.

fastnn parallelises in its own numba kernels, over the images of a batch.
The matrix products of the book's nets are small (a 100×784 by 784×50
Affine, a 30×25 by 25×576 product per image), and there BLAS threads cost
more than they give; worse, BLAS threads that spin while numba's workers
run (or the other way round) fight over the cores. Measured on the 2-core
development machine, one training step (float32):

=================  =================  =================  =================
                    numba 2, BLAS 1    numba 2, BLAS 2    numba 1, BLAS 1
=================  =================  =================  =================
MLP 64-100-100-10   0.90 ms            1.49 ms            0.88 ms
SimpleConvNet b100  16.8 ms            17.6 ms            19.6 ms
DeepConvNet b32     74 ms              1150 ms (217 min)  68 ms
=================  =================  =================  =================

So the policy is: numba uses ``n`` threads (by default one per core), BLAS
one thread. It is applied once, when ``fastnn.layers`` is first imported,
to the BLAS libraries of NumPy and SciPy (the one numba's ``np.dot``
calls) — which also affects the user's own NumPy products in that process.
``FASTNN_BLAS_THREADS`` in the environment sets another BLAS thread count
(``FASTNN_BLAS_THREADS=0`` leaves BLAS alone). ``set_num_threads(n,
blas=1)`` changes both at run time.

One exception: mid-sized Affine products (``WIDE_PRODUCT_MACS`` multiply-adds
and up, below the size where the Affine layer cuts a product in two
halves itself), the MLPs' 784-wide first layer, run on one BLAS thread per
numba thread. What made BLAS threads costly beside numba's is that
OpenBLAS's workers spin for about 0.1 s after each call (2**28 cycles), so
fastnn loads SciPy's OpenBLAS with ``OPENBLAS_THREAD_TIMEOUT=22`` (2**22
cycles, under 2 ms: enough to stay awake between the wide products of one
step, too short to starve the next layers' threads for long). Measured on
the 2-core machine, interleaved in one process, one training step at batch
100, wide products on two threads against one: TwoLayerNet 1.1-1.25x
faster (float64; float32 1.0-1.15x), MultiLayerNetExtend 1.05-1.15x,
SimpleConvNet and DeepConvNet unchanged within the noise (0.94-1.13x);
with OpenBLAS's default 0.1 s spin DeepConvNet's step was 1.5x slower.
This needs fastnn to be the one that loads SciPy's BLAS (an
``OPENBLAS_THREAD_TIMEOUT`` the user set is kept); where SciPy's BLAS was
loaded before ``fastnn.layers``, or is not OpenBLAS, every product stays on
the policy's BLAS threads. OpenBLAS on two threads splits a product
differently from one thread, so these products differ in the last bits
between a one-thread and a multi-thread fastnn (the same thread count gives
the same bits, run after run); ``set_num_threads(n, wide_products=False)``
turns them off.

numba's threading layer is chosen in ``fastnn.kernels`` (OpenMP, then
workqueue, then TBB, unless the environment says otherwise).
"""
from __future__ import annotations

import os
import sys

__all__ = ["set_num_threads", "get_num_threads", "apply_thread_policy",
           "ELEMENTWISE_WORK_LIMIT", "elementwise_kernel", "WIDE_PRODUCT_MACS", "run_wide_product"]

BLAS_THREADS_ENV = "FASTNN_BLAS_THREADS"

#: Affine products of at least this many multiply-adds run on one BLAS thread
#: per numba thread (module docstring). Measured per product, float64, one
#: thread -> two: (100, 784)x(784, 50) 293 -> 179 us; (100, 100)x(100, 100)
#: 74 -> 60 us, too little to pay for waking the second thread in a step.
WIDE_PRODUCT_MACS = 3_000_000

#: OPENBLAS_THREAD_TIMEOUT under which fastnn loads SciPy's OpenBLAS: its
#: workers spin 2**22 cycles after a call. A shorter spin lets them fall
#: asleep between MultiLayerNetExtend's first-layer products (2.5 ms apart),
#: and waking them costs what the second thread gains; the default 2**28
#: (0.1 s) made DeepConvNet's step at batch 100 1.5x slower.
OPENBLAS_SPIN_EXPONENT = 22

_policy_applied = False
_blas_threads = None     # SciPy's BLAS thread count by policy (None: BLAS left alone)
_numba_blas_setter = None  # SciPy OpenBLAS's set_num_threads (ctypes), when fastnn loaded it
_wide_products = True      # set_num_threads(..., wide_products=False) turns them off


def _default_blas_threads() -> int:
    """BLAS threads by policy: ``$FASTNN_BLAS_THREADS`` (0 = leave BLAS alone), else 1."""
    raw = os.environ.get(BLAS_THREADS_ENV, "1")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{BLAS_THREADS_ENV} must be a whole number >= 0, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{BLAS_THREADS_ENV} must be a whole number >= 0, got {raw!r}")
    return value


def _openblas_paths() -> set:
    from threadpoolctl import ThreadpoolController

    return {lib.filepath for lib in ThreadpoolController().lib_controllers if lib.internal_api == "openblas"}


def _load_numba_blas() -> None:
    """Load SciPy's BLAS (the one numba's ``np.dot`` calls) with short-spinning workers.

    Once per process. Where this load is what brought SciPy's OpenBLAS in
    (nobody had loaded it before), its ``set_num_threads`` is kept for
    ``run_wide_product``; otherwise wide products stay on the policy's threads.
    """
    global _numba_blas_setter
    if "scipy.linalg.cython_blas" in sys.modules:
        return
    import ctypes

    timeout_env = "OPENBLAS_THREAD_TIMEOUT"
    user_timeout = timeout_env in os.environ
    before = _openblas_paths()
    if not user_timeout:
        os.environ[timeout_env] = str(OPENBLAS_SPIN_EXPONENT)  # read once, when the library loads
    try:
        import scipy.linalg.cython_blas  # noqa: F401
    finally:
        if not user_timeout:
            del os.environ[timeout_env]  # not for child processes
    loaded = _openblas_paths() - before
    if len(loaded) != 1:
        return
    lib = ctypes.CDLL(loaded.pop())
    for name in ("scipy_openblas_set_num_threads", "openblas_set_num_threads",
                 "scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_"):
        setter = getattr(lib, name, None)
        if setter is not None:
            setter.argtypes, setter.restype = [ctypes.c_int], None
            _numba_blas_setter = setter
            return


def _limit_blas(n: int) -> None:
    """All BLAS libraries (NumPy's, SciPy's) on ``n`` threads; wide products then go from ``n``."""
    global _blas_threads
    _load_numba_blas()
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")
    _blas_threads = n


def run_wide_product(kernel, *args):
    """``kernel(*args)`` with SciPy's BLAS on one thread per numba thread, then back to the policy's count.

    For the kernels of one product of at least ``WIDE_PRODUCT_MACS``
    multiply-adds (module docstring). A plain call where fastnn did not
    load SciPy's OpenBLAS, BLAS is left alone, wide products are turned off
    (``set_num_threads(..., wide_products=False)``), or there are no more
    numba threads than BLAS threads. Returns what ``kernel`` returns.
    """
    setter, policy = _numba_blas_setter, _blas_threads
    if setter is None or policy is None or not _wide_products:
        return kernel(*args)
    import numba

    threads = numba.get_num_threads()
    if threads <= policy:
        return kernel(*args)
    setter(threads)
    try:
        return kernel(*args)
    finally:
        setter(policy)


def apply_thread_policy() -> None:
    """Limit BLAS to the policy's thread count, once per process (see the module docstring)."""
    global _policy_applied
    if _policy_applied:
        return
    _policy_applied = True
    n = _default_blas_threads()
    if n:
        _limit_blas(n)


def set_num_threads(n: int, blas: int = 1, wide_products: bool = True) -> None:
    """Use ``n`` threads in numba's parallel kernels and ``blas`` threads in BLAS (NumPy's and SciPy's).

    ``n`` must be between 1 and numba's ``NUMBA_NUM_THREADS`` (the number of
    cores unless set in the environment before numba starts). ``blas``
    defaults to 1, fastnn's policy (the module docstring says why).
    ``wide_products=False`` keeps the mid-sized Affine products on ``blas``
    threads too (by default they run on ``n``: faster MLP steps, but results
    that differ in the last bits between one thread and several; with
    False, every result is bit-identical for any ``n``).
    """
    import numba

    from . import kernels  # noqa: F401  (sets numba's threading-layer order first)
    from ._validate import check_scalar

    n = check_scalar(n, "n", integer=True, positive=True)
    blas = check_scalar(blas, "blas", integer=True, positive=True, below=(os.cpu_count() or 1) + 1)
    if not isinstance(wide_products, bool):
        raise TypeError(f"wide_products must be True or False, got {wide_products!r}")
    limit = numba.config.NUMBA_NUM_THREADS
    if n > limit:
        raise ValueError(f"n must be <= {limit} (NUMBA_NUM_THREADS), got {n}")
    global _policy_applied, _wide_products
    _policy_applied = True  # an explicit choice wins over the import-time default
    numba.set_num_threads(n)
    _limit_blas(blas)
    _wide_products = wide_products


def get_num_threads() -> dict:
    """Return ``{'numba': n, 'blas': [n per loaded BLAS library]}``."""
    import numba
    from threadpoolctl import threadpool_info

    return {"numba": numba.get_num_threads(),
            "blas": [lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"]}


#: Where element-wise kernels (activations, optimizer updates, pooling, the
#: book-layout im2col/col2im), a few instructions an element, switch to their
#: parallel builds. Measured on the 2-core machine, one thread -> two: 432,000 elements ReLU forward float32 69 ->
#: 76 us, float64 138 -> 107 us, Adam float32 207 -> 129 us; 1,728,000
#: elements ReLU forward float32 504 -> 358 us, Adam 2.3 -> 0.85 ms;
#: 100,000 elements ReLU 16 -> 31 us.
ELEMENTWISE_WORK_LIMIT = 1 << 18


def elementwise_kernel(module, name: str, size: int):
    """``module.<name>``, or from ``ELEMENTWISE_WORK_LIMIT`` elements on its parallel build
    ``module.<name>_parallel`` (see ``fastnn.kernels._twins``: even on one thread a parallel
    build costs 2-10x a serial one's call on a small array)."""
    return getattr(module, name + "_parallel" if size >= ELEMENTWISE_WORK_LIMIT else name)
