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

__all__ = ["set_num_threads", "get_num_threads"]


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
