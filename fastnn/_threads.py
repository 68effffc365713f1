"""One thread policy for numba's kernels and the BLAS behind GEMM.

fastnn runs numba's parallel kernels and BLAS calls one after the other,
never nested (no kernel calls BLAS inside a parallel loop), so giving both
the same number of threads — by default, one per core — never puts more
threads than cores to work at once. ``set_num_threads(n)`` sets both; use it
(or ``fastnn train --threads``) rather than setting one side alone.

numba's threading layer is chosen in ``fastnn.kernels`` (OpenMP, then
workqueue, then TBB, unless the environment says otherwise).
"""
from __future__ import annotations

from contextlib import contextmanager

__all__ = ["set_num_threads", "get_num_threads", "serial_if_small"]


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in numba's parallel kernels and in BLAS (OpenBLAS/MKL, NumPy's and SciPy's).

    ``n`` must be between 1 and numba's ``NUMBA_NUM_THREADS`` (the number of
    cores unless set in the environment before numba starts).
    """
    import numba
    import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS numba's np.dot calls, so it is limited too)
    from threadpoolctl import threadpool_limits

    from . import kernels  # noqa: F401  (sets numba's threading-layer order first)
    from ._validate import check_scalar

    n = check_scalar(n, "n", integer=True, positive=True)
    limit = numba.config.NUMBA_NUM_THREADS
    if n > limit:
        raise ValueError(f"n must be <= {limit} (NUMBA_NUM_THREADS), got {n}")
    numba.set_num_threads(n)
    threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> dict:
    """Return ``{'numba': n, 'blas': [n per loaded BLAS library]}``."""
    import numba
    from threadpoolctl import threadpool_info

    return {"numba": numba.get_num_threads(),
            "blas": [lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"]}


#: Below this many array elements of work, a parallel kernel runs on one thread.
SERIAL_WORK_LIMIT = 1 << 15


@contextmanager
def serial_if_small(work: int):
    """Run the numba kernels inside on one thread when ``work`` (elements touched) is small.

    Waking numba's worker threads costs tens of microseconds on a quiet
    machine and up to a scheduler time slice (milliseconds) on a busy one,
    far more than a small kernel's work (a 2x2x6x5 pooling: 9 us on one
    thread, 0.3-16 ms on two here). ``numba.set_num_threads`` is
    thread-local, so this does not affect other Python threads.
    """
    if work >= SERIAL_WORK_LIMIT:
        yield
        return
    import numba

    n = numba.get_num_threads()
    if n == 1:
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(n)
