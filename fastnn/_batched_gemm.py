"""Stacks of small GEMMs spread over the cores, each BLAS call on one thread.

fastnn keeps BLAS on one thread (see ``fastnn._threads``): BLAS threads cost
far more than they give on the small products of the book's nets and fight
numba's workers for the cores. A convolution's GEMMs come as a stack, one
product per image; ``np.matmul`` walks that stack on one core. Here the
stack is cut into contiguous slices of whole images, one per numba thread
(the policy's thread count), and each slice's ``np.matmul`` runs on its own
Python thread (NumPy releases the GIL inside BLAS). Each image's product is
the same single-threaded BLAS call whatever the slicing, so the results are
bit-identical for any number of threads.

Measured on the 2-core development machine (float32, a DeepConvNet layer,
32 products (16×145)@(145×784)): 3.9 ms as one ``np.matmul``, 1.8 ms in two
slices.
"""
from __future__ import annotations

import threading

import numpy as np

__all__ = ["stacked_matmul", "split_over_threads"]

#: Below this many multiply-adds, a stack runs as one np.matmul on the calling thread.
SPLIT_WORK_LIMIT = 1 << 20

_lock = threading.Lock()
_pool = None
_pool_size = 0


def _executor(workers: int):
    """A lazily made thread pool with at least ``workers`` threads (grown when asked for more)."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            from concurrent.futures import ThreadPoolExecutor

            old = _pool
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastnn-gemm")
            _pool_size = workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def split_over_threads(n: int, work: int, task) -> None:
    """Call ``task(lo, hi)`` on contiguous slices [lo, hi) covering range(n), one per thread.

    One slice per numba thread (at most ``n``), the first on the calling
    thread; a single call ``task(0, n)`` when there is one thread or
    ``work`` (multiply-adds, or elements touched) is below ``SPLIT_WORK_LIMIT``.
    ``task`` must release the GIL to gain anything (BLAS calls, ``nogil``
    numba kernels) and must write disjoint outputs per slice. Returns when
    every slice is done; the first exception raised is re-raised.
    """
    import numba

    threads = min(numba.get_num_threads(), n)
    if threads <= 1 or work < SPLIT_WORK_LIMIT:
        task(0, n)
        return
    bounds = [n * i // threads for i in range(threads + 1)]
    pool = _executor(threads - 1)
    futures = [pool.submit(task, lo, hi) for lo, hi in zip(bounds[1:-1], bounds[2:])]
    try:
        task(0, bounds[1])
    finally:
        for f in futures:
            f.result()


def _slice(a, lo, hi):
    return a[lo:hi] if a.ndim == 3 else a


def stacked_matmul(a, b, out):
    """``np.matmul(a, b, out=out)`` for a stack, its images split over the cores.

    a : (N, M, K) or (M, K); b : (N, K, P) or (K, P) (at least one of them
    3-D); out : (N, M, P), written in full. Same dtype throughout; any strides
    ``np.matmul`` takes. Returns ``out``.
    """
    def task(lo, hi):
        np.matmul(_slice(a, lo, hi), _slice(b, lo, hi), out=out[lo:hi])

    split_over_threads(out.shape[0], out.size * a.shape[-1], task)
    return out
