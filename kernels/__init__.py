"""numba kernels of fastnn, installed as ``fastnn.kernels``.

One module per op family. Rules:

* imports numpy and numba only; no validation, no Python objects, no state;
* inputs are C-contiguous float32 or float64 arrays that the caller has
  checked (shapes agree, indices in range): a kernel never checks bounds;
* every kernel is ``@njit(cache=True)`` and type-generic, so it compiles
  lazily, once per dtype, on first use, and is cached on disk;
* a kernel never calls a cached ``@njit`` function from *another* module
  (numba's disk cache checks only the caller's own source file, so it would
  keep the old callee after an edit);
  shared helpers live in the module that uses them;
* results go into ``out`` arrays the caller passes (so layers can reuse
  buffers) unless the docstring says otherwise.

Importing this package compiles nothing.
"""

import os as _os

# OpenMP workers that spin while they wait take the cores BLAS (and, on a
# shared machine, everyone else) needs (benchmark: bench_nets.TrainStep under
# load). libgomp reads this when numba's OpenMP layer first loads, i.e. after
# this import.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# numba's threading layer: OpenMP first, then workqueue (needs nothing
# installed); TBB last, since it often fails to load. The user's
# environment variables win. (Kept here so every kernel sees it; numba
# picks the layer at the first parallel launch.)
if "NUMBA_THREADING_LAYER" not in _os.environ and "NUMBA_THREADING_LAYER_PRIORITY" not in _os.environ:
    import numba as _numba

    _numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]
