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

numba's threading layer is chosen in ``fastnn.kernels`` (OpenMP, then
workqueue, then TBB, unless the environment says otherwise).
"""
from __future__ import annotations

import os

__all__ = ["set_num_threads", "get_num_threads", "apply_thread_policy",
           "ELEMENTWISE_WORK_LIMIT", "elementwise_kernel"]

BLAS_THREADS_ENV = "FASTNN_BLAS_THREADS"

_policy_applied = False


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


def _limit_blas(n: int) -> None:
    import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS numba's np.dot calls, so it is limited too)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")


def apply_thread_policy() -> None:
    """Limit BLAS to the policy's thread count, once per process (see the module docstring)."""
    global _policy_applied
    if _policy_applied:
        return
    _policy_applied = True
    n = _default_blas_threads()
    if n:
        _limit_blas(n)


def set_num_threads(n: int, blas: int = 1) -> None:
    """Use ``n`` threads in numba's parallel kernels and ``blas`` threads in BLAS (NumPy's and SciPy's).

    ``n`` must be between 1 and numba's ``NUMBA_NUM_THREADS`` (the number of
    cores unless set in the environment before numba starts). ``blas``
    defaults to 1, fastnn's policy (the module docstring says why).
    """
    import numba

    from . import kernels  # noqa: F401  (sets numba's threading-layer order first)
    from ._validate import check_scalar

    n = check_scalar(n, "n", integer=True, positive=True)
    blas = check_scalar(blas, "blas", integer=True, positive=True, below=(os.cpu_count() or 1) + 1)
    limit = numba.config.NUMBA_NUM_THREADS
    if n > limit:
        raise ValueError(f"n must be <= {limit} (NUMBA_NUM_THREADS), got {n}")
    global _policy_applied
    _policy_applied = True  # an explicit choice wins over the import-time default
    numba.set_num_threads(n)
    _limit_blas(blas)


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
