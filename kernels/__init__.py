"""numba kernels of fastnn, installed as ``fastnn.kernels``.

One module per op family. Rules:

* imports numpy and numba only; no validation, no Python objects, no state;
* inputs are C-contiguous float32 or float64 arrays that the caller has
  checked (shapes agree, indices in range): a kernel never checks bounds;
* every kernel is ``@njit(cache=True)`` (``njit`` from ``_jit``: numba's,
  with the disk cache outside the package) and type-generic, so it compiles
  lazily, once per dtype, on first use, and is cached on disk;
* a kernel never calls a cached ``@njit`` function from *another* module
  (numba's cache would keep the old callee after an edit);
  shared helpers live in the module that uses them;
* results go into ``out`` arrays the caller passes (so layers can reuse
  buffers) unless the docstring says otherwise.

Importing this package compiles nothing and changes nothing in the process:
numba's threading layer and the number of threads are chosen by
``fastnn._runtime``.
"""
