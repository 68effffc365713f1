"""How fastnn runs: threads, where work is split, BLAS, memory, forks. Every decision is here.

Layers, optimizers and ``fastnn.util`` ask this module; they carry no
thresholds of their own. The thresholds are in ``THRESHOLDS`` (name, unit,
why, the asv benchmark in ``benchmarks/`` that guards it); figures are in
``benchmarks/README.md``.

Rules
-----
* numba's kernels parallelise over a batch on ``threads()`` threads:
  numba's count (``set_num_threads``), down to one while other processes
  keep the cores busy (``follow_load``: a thread that must wait for a busy
  core stalls every step at each hand-off; only the convolution's long
  slices keep their threads), and one in a child forked from
  a process whose GNU OpenMP workers were started (OpenMP cannot run
  there; a ``RuntimeWarning`` says so once).
* With one thread, element-wise kernels take their serial build (the same
  bits). Large Affine products always run as the split kernels, whose fixed
  halves give the same bits on any number of threads (their serial build,
  the halves one after the other, on one thread and in a forked child).
* BLAS runs on one thread inside fastnn: its threads cost more than they
  give on the book's small products and fight numba's workers. Affine
  products from ``WIDE_PRODUCT_MACS`` run on one BLAS thread per fastnn
  thread: the one result that depends on the thread count in use (the last
  bits differ between one thread and several, and so under a busy
  neighbour); ``set_num_threads(n, wide_products=False)`` makes every result
  the same bits for any thread count and load.
* A convolution runs by the strategy ``conv_algorithm`` picks: fastnn's
  direct kernels wherever they apply and pay (stride 1, padding below the
  filter size, ``DIRECT_MIN_TAPS`` multiply-adds per output), Winograd or
  im2col elsewhere. Its work (direct kernels, or im2col's
  per-image GEMMs) runs as one slice per thread on a pool of Python threads
  (named ``fastnn-gemm``, started by the first convolution that splits,
  reset in a forked child): whole images when the batch has at least one
  per thread, else a small batch's output rows, so both cores work at
  batch 1. The direct kernels' tiles come from the CPU numba compiles for
  (``vector_lanes``, ``vector_registers``: 512-bit vectors and 32 registers
  on AVX-512, 256-bit and 16 on AVX2) and the ``DIRECT_*`` thresholds.

Host process
------------
fastnn changes these things outside its own objects, when ``fastnn.layers``
is first imported; ``set_host_tuning(False)`` before that import, or
``FASTNN_HOST_TUNING=0`` in the environment, leaves all of them alone:

1. the BLAS that numba's ``np.dot`` calls (SciPy's) is set to one thread
   (``FASTNN_BLAS_THREADS=n`` for another count); NumPy's BLAS, which the
   convolution's GEMMs use, is set to that count only while fastnn's GEMMs
   run and put back after, so the user's own NumPy products keep theirs
   (where SciPy and NumPy share one BLAS library, that one is fastnn's);
2. where fastnn is what loads SciPy's OpenBLAS, it loads it with
   ``OPENBLAS_THREAD_TIMEOUT`` set (its workers spin briefly after a call),
   then removes the variable again;
3. glibc's malloc keeps freed blocks up to ``TRIM_THRESHOLD_BYTES`` and
   serves blocks up to ``MMAP_THRESHOLD_BYTES`` from its heap (``mallopt``;
   not where the user set any ``MALLOC_*_`` variable);
4. numba's threading layer is chosen in the order OpenMP, workqueue, TBB
   (unless ``NUMBA_THREADING_LAYER*`` is set) and started by fastnn's first
   parallel kernel with ``OMP_WAIT_POLICY=PASSIVE`` (unless set by the
   user), which is removed from ``os.environ`` right after so that child
   processes do not inherit it.

Not a change to the host: fastnn's kernels keep numba's disk cache in a
folder of their own (``fastnn.kernels._jit``: under ``NUMBA_CACHE_DIR`` when
set, else the user's cache folder), given to fastnn's dispatchers alone;
numba's configuration and the user's own cached functions are left as they
are.

Always (correctness, not tuning): an ``os.register_at_fork`` handler drops
the GEMM pool in a forked child and marks the child for the one-thread
fallback above: there every numba kernel runs as its serial build (GNU
OpenMP ends a forked child that enters a parallel region). A child forked before fastnn's first parallel kernel, or
from a process on numba's workqueue layer, or started by
``multiprocessing``'s "spawn" or "forkserver", keeps its full thread count.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from typing import NamedTuple

# Importing this module stays cheap and NumPy-free (the command line imports it for --threads, even for
# --help): numba, SciPy, threadpoolctl, NumPy (through _validate), ctypes, platform and the thread pool are
# imported by the functions that act on them, when they act.

__all__ = [
    "THRESHOLDS", "threads", "set_num_threads", "get_num_threads", "set_host_tuning",
    "apply_host_tuning", "elementwise_kernel", "affine_split", "split_kernel", "run_product", "split_over_threads",
    "conv_chunk", "conv_algorithm", "direct_covers", "winograd_covers", "vector_lanes", "vector_registers", "direct_forward_tile",
    "direct_weight_tile", "cpu_description",
]

HOST_TUNING_ENV = "FASTNN_HOST_TUNING"
BLAS_THREADS_ENV = "FASTNN_BLAS_THREADS"

# ------------------------------------------------------------------------------------------
# The thresholds (one table; THRESHOLDS below gives each one's unit, reason and benchmark)
# ------------------------------------------------------------------------------------------

ELEMENTWISE_PARALLEL_ELEMENTS = 1 << 18
GEMM_SPLIT_MACS = 1 << 20
BUSY_SPLIT_MACS = 1 << 24
CONV_CHUNK_BYTES = 1 << 20
WINOGRAD_CHUNK_BYTES = 1 << 20
WINOGRAD_MIN_CHANNELS = 32
WINOGRAD_MIN_PLANE = 14 * 14
WINOGRAD_SMALL_PLANE_CHANNELS = 64
AFFINE_SPLIT_WORK = 100_000_000
WIDE_PRODUCT_MACS = 3_000_000
OPENBLAS_SPIN_EXPONENT = 22
MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 256 << 20
LOAD_CHECK_SECONDS = 0.2
DIRECT_SPARE_REGISTERS = 4
DIRECT_MIN_TAPS = 64
DIRECT_SPLIT_MACS = 1 << 24
DIRECT_MAX_TILE_PIXELS = 14
DIRECT_TILE_OVERHEAD_PIXELS = 3


class Threshold(NamedTuple):
    name: str
    unit: str
    reason: str
    benchmark: str

    @property
    def value(self):
        return globals()[self.name]


THRESHOLDS = (
    Threshold("ELEMENTWISE_PARALLEL_ELEMENTS", "elements",
              "below it a parallel build's thread-team launch costs more than the loop",
              "bench_layers.Activation"),
    Threshold("GEMM_SPLIT_MACS", "multiply-adds of a convolution",
              "below it handing slices to the pool costs more than the GEMMs",
              "bench_layers.Convolution"),
    Threshold("BUSY_SPLIT_MACS", "multiply-adds of a convolution",
              "while the cores are busy, only slices this long pay for a hand-off that may wait a scheduler tick",
              "bench_nets.BusyNeighbour"),
    Threshold("CONV_CHUNK_BYTES", "bytes of columns",
              "a chunk's patches stay in cache until its GEMMs read them",
              "bench_layers.Convolution"),
    Threshold("WINOGRAD_CHUNK_BYTES", "bytes of transformed tiles",
              "a chunk's transformed input and products stay in cache between the transforms and the GEMMs",
              "bench_layers.ConvWinograd"),
    Threshold("WINOGRAD_MIN_CHANNELS", "input channels, and filters",
              "below it Winograd's 16 GEMMs per chunk (inner dimension C or FN) run too far below BLAS's peak",
              "bench_layers.ConvWinograd"),
    Threshold("WINOGRAD_MIN_PLANE", "output cells per plane (OH*OW)",
              "below it, and below WINOGRAD_SMALL_PLANE_CHANNELS, the transforms' short rows of tiles cost more "
              "than the saved multiplications",
              "bench_layers.ConvWinograd"),
    Threshold("WINOGRAD_SMALL_PLANE_CHANNELS", "input channels, and filters",
              "from here Winograd pays on planes of any size",
              "bench_layers.ConvWinograd"),
    Threshold("AFFINE_SPLIT_WORK", "multiply-adds x itemsize",
              "below it waking numba's second thread eats what the split kernels gain",
              "bench_nets.TrainStep"),
    Threshold("WIDE_PRODUCT_MACS", "multiply-adds",
              "from here a second BLAS thread pays for its wake-up (the MLPs' first layer)",
              "bench_nets.WideProducts"),
    Threshold("OPENBLAS_SPIN_EXPONENT", "log2 cycles",
              "OpenBLAS workers spin this long after a call: between one step's products, not into the next layers",
              "bench_nets.WideProducts"),
    Threshold("MMAP_THRESHOLD_BYTES", "bytes",
              "a step's big arrays come from the heap, not fresh page-faulting mmaps",
              "bench_nets.TrainStep"),
    Threshold("TRIM_THRESHOLD_BYTES", "bytes",
              "freed memory up to this stays in the process for the next step",
              "bench_nets.TrainStep"),
    Threshold("DIRECT_SPARE_REGISTERS", "vector registers",
              "a direct-convolution tile holds all but these in accumulators (the rest: filter vectors, the "
              "broadcast input value)",
              "bench_layers.DirectMicrokernel"),
    Threshold("DIRECT_MIN_TAPS", "multiply-adds per output value (C*FH*FW)",
              "below it (a first layer of one channel) the direct tile's store into the NCHW output, one scalar "
              "per lane and pixel, costs more than its FMAs, and im2col's GEMMs are faster",
              "bench_layers.ConvWinograd"),
    Threshold("DIRECT_SPLIT_MACS", "multiply-adds of a direct convolution pass",
              "below it the direct kernels run on the calling thread: at their FMA rate a hand-off to the pool "
              "costs more than half the pass (a DeepConvNet layer at batch 1)",
              "bench_inference.Predict"),
    Threshold("DIRECT_MAX_TILE_PIXELS", "output pixels",
              "longer tiles of one filter block touch more input lines per step than L1 serves at the FMA rate",
              "bench_layers.DirectMicrokernel"),
    Threshold("DIRECT_TILE_OVERHEAD_PIXELS", "output pixels",
              "a tile's fixed cost (loading and storing its accumulators), for choosing the tile width",
              "bench_layers.DirectMicrokernel"),
    Threshold("LOAD_CHECK_SECONDS", "seconds",
              "how often threads() looks again at how busy the other processes keep the cores",
              "bench_nets.BusyNeighbour"),
)

# ------------------------------------------------------------------------------------------
# Threads
# ------------------------------------------------------------------------------------------

_follow_load = True
_wide_products = True
_load_threads = None       # threads the cores' load allows (None: not measured yet)
_load_next = 0.0           # monotonic time of the next look at /proc/stat
_load_last = None          # (monotonic, busy cpu seconds of the machine, own cpu seconds)
_forked_serial = False     # a forked child of a process whose GNU OpenMP workers were started
_fork_warned = False
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_seconds():
    """CPU seconds all cores spent busy since boot (``/proc/stat``), or None where there is none."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return None
    ticks = [int(v) for v in fields[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _CLK_TCK   # less idle and iowait


def _running_now():
    """Threads runnable on the machine at this instant, this one included (``/proc/loadavg``), or None."""
    try:
        with open("/proc/loadavg", "rb") as f:
            return int(f.read().split()[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return None


def _own_running_threads() -> int:
    """This process's threads runnable at this instant (``/proc/self/task``), at least 1 (the caller).

    BLAS workers spinning after a product are runnable threads of this
    process: the load is what other processes run, not them.
    """
    count = 0
    try:
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat", "rb") as f:
                    stat = f.read()
            except OSError:      # the thread ended meanwhile
                continue
            if stat[stat.rfind(b")") + 2:][:1] == b"R":
                count += 1
    except OSError:
        pass
    return max(1, count)


def _threads_the_load_allows(numba_threads: int) -> int:
    """numba_threads, or fewer while the other processes keep that many cores busy.

    Looks at ``/proc/stat`` (the machine's busy time) and ``os.times()``
    (this process's) every ``LOAD_CHECK_SECONDS``: what the others used is
    the difference, and the cores it leaves free are the threads allowed.
    """
    global _load_threads, _load_next, _load_last
    now = time.monotonic()
    if now >= _load_next:
        _load_next = now + LOAD_CHECK_SECONDS
        busy = _machine_busy_seconds()
        if busy is not None:
            own = sum(os.times()[:2])
            last = _load_last
            if last is None or now - last[0] > 10 * LOAD_CHECK_SECONDS:   # none, or too old to tell
                _load_last = (now, busy, own)
                running = _running_now()
                if running is not None and last is None:   # until a whole interval is seen: who runs now
                    _load_threads = max(1, (os.cpu_count() or 1) - max(0, running - _own_running_threads()))
            else:
                others = max(0.0, (busy - last[1]) - (own - last[2])) / (now - last[0])
                _load_threads = max(1, int((os.cpu_count() or 1) - others + 0.5))
                _load_last = (now, busy, own)
    return numba_threads if _load_threads is None else min(_load_threads, numba_threads)


def _numba_threads() -> int:
    """numba's thread count, without starting its threading layer (``numba.get_num_threads`` would)."""
    import numba
    from numba.np.ufunc import parallel

    if getattr(parallel, "_is_initialized", True):
        return numba.get_num_threads()
    return numba.config.NUMBA_NUM_THREADS


def threads() -> int:
    """The threads fastnn's kernels use now (module docstring: numba's count, the load, a fork)."""
    n = _numba_threads()
    if _forked_serial:
        if n > 1:
            _warn_forked()
        return 1
    if n > 1 and _follow_load:
        return _threads_the_load_allows(n)
    return n


def _warn_forked():
    global _fork_warned
    if not _fork_warned:
        _fork_warned = True
        warnings.warn("fastnn's numba kernels run on one thread in this process: it was forked from a process that "
                      "had started numba's OpenMP threads, which cannot run in a forked child. "
                      "Use multiprocessing's 'spawn' or 'forkserver' start method for parallel children.",
                      RuntimeWarning, stacklevel=3)


def elementwise_kernel(module, name: str, size: int):
    """``module.<name>``, or its parallel build ``module.<name>_parallel`` for ``size`` elements from
    ``ELEMENTWISE_PARALLEL_ELEMENTS`` on when more than one thread runs (``fastnn.kernels._twins``)."""
    if size >= ELEMENTWISE_PARALLEL_ELEMENTS and threads() > 1:
        if _layer_pending:
            _start_threading_layer()
        return getattr(module, name + "_parallel")
    return getattr(module, name)


def affine_split(n: int, d: int, m: int, dtype) -> bool:
    """Whether an (n, d) x (d, m) product runs as the two-thread ``*_split`` kernels of ``fastnn.kernels.dense``.

    Decided by size alone, never by the thread count or the load: the split
    kernels cut the product in fixed halves, so their results are the same
    bits on any number of threads, and a run is reproducible on a busy machine.
    """
    return n >= 2 and n * d * m * dtype.itemsize >= AFFINE_SPLIT_WORK


def split_kernel(module, name: str):
    """``module.<name>_parallel``, the two halves of a ``*_split`` kernel on numba's threads, or its serial
    build ``module.<name>`` (the same halves one after the other: the same bits) where those threads cannot
    or need not run: numba on one thread, or a forked child of a process whose GNU OpenMP workers were
    started (any parallel kernel there would end the process; ``RuntimeWarning`` once, as ``threads()``)."""
    n = _numba_threads()
    if _forked_serial:
        if n > 1:
            _warn_forked()
        return getattr(module, name)
    if n <= 1:
        return getattr(module, name)
    if _layer_pending:
        _start_threading_layer()
    return getattr(module, name + "_parallel")


def run_product(kernel, n: int, d: int, m: int, *args):
    """``kernel(*args)`` for an (n, d) x (d, m) product; from ``WIDE_PRODUCT_MACS`` on with SciPy's BLAS
    on one thread per fastnn thread, then back to the policy's count. Returns what ``kernel`` returns."""
    setter, policy = _scipy_blas_setter, _blas_threads
    if n * d * m < WIDE_PRODUCT_MACS or setter is None or policy is None or not _wide_products:
        return kernel(*args)
    wide = threads()
    if wide <= policy:
        return kernel(*args)
    setter(wide)
    try:
        return kernel(*args)
    finally:
        setter(policy)


def conv_chunk(image_bytes: int) -> int:
    """Images a convolution thread handles at a time: as many as fit in ``CONV_CHUNK_BYTES``, at least one."""
    return max(1, CONV_CHUNK_BYTES // max(1, image_bytes))


def winograd_pays(c: int, fn: int, oh: int, ow: int) -> bool:
    """Whether a 3x3, stride-1 convolution with c input channels, fn filters and an OH x OW output runs by
    Winograd F(2x2, 3x3) rather than by im2col GEMMs (forward and backward alike).

    Winograd cuts the multiplications 2.25-fold, but its 16 products per
    chunk have C (forward) or FN (dx) as their inner dimension, which BLAS
    runs far below its peak at a few channels, and its transforms are
    memory passes of their own whose loops run along a row of tiles, short
    on small planes. So it takes WINOGRAD_MIN_CHANNELS channels and filters,
    and either a WINOGRAD_MIN_PLANE output or WINOGRAD_SMALL_PLANE_CHANNELS
    of both. ``bench_layers.ConvWinograd`` times both per DeepConvNet layer.
    """
    if c < WINOGRAD_MIN_CHANNELS or fn < WINOGRAD_MIN_CHANNELS:
        return False
    return oh * ow >= WINOGRAD_MIN_PLANE or min(c, fn) >= WINOGRAD_SMALL_PLANE_CHANNELS


def conv_algorithm(c: int, fn: int, fh: int, fw: int, stride: int, pad: int, oh: int, ow: int) -> str:
    """How a Convolution whose ``algorithm`` is 'auto' computes: 'direct', 'winograd' or 'im2col'.

    The direct kernels (``fastnn.layers.conv_direct``: register-tiled
    microkernels on channel-blocked copies) take every convolution they
    cover (stride 1, padding below the filter size) with at least
    ``DIRECT_MIN_TAPS`` multiply-adds per output value: at 50-90% of the FMA
    peak on the book's layers they are faster than im2col's GEMMs, which
    OpenBLAS runs far below its peak on these thin shapes, and than
    Winograd's transforms plus GEMMs (``bench_layers.Convolution``,
    ``benchmarks/tools/microkernel.py``). The rest go to Winograd where
    ``winograd_pays``, else im2col.
    """
    if direct_covers(fh, fw, stride, pad) and c * fh * fw >= DIRECT_MIN_TAPS:
        return "direct"
    if winograd_covers(fh, fw, stride, pad) and winograd_pays(c, fn, oh, ow):
        return "winograd"
    return "im2col"


def direct_covers(fh: int, fw: int, stride: int, pad: int) -> bool:
    """Whether the direct kernels compute this convolution: stride 1, a padding below the filter size
    (backward-data pads the gradient by FH - 1 - pad)."""
    return stride == 1 and pad <= fh - 1 and pad <= fw - 1


def winograd_covers(fh: int, fw: int, stride: int, pad: int) -> bool:
    """Whether the Winograd F(2x2, 3x3) kernels compute this convolution: 3x3, stride 1, pad <= 2."""
    return fh == 3 and fw == 3 and stride == 1 and pad <= 2


_vector_shape = None


def _vector_unit():
    """(vector bytes, vector registers) of the CPU that numba compiles for (AVX-512: 64, 32; AVX2: 32, 16)."""
    global _vector_shape
    if _vector_shape is None:
        from llvmlite import binding

        features = binding.get_host_cpu_features()
        if features.get("avx512f"):
            _vector_shape = (64, 32)
        elif features.get("avx2") or features.get("avx"):
            _vector_shape = (32, 16)
        else:
            _vector_shape = (16, 16)
    return _vector_shape


def vector_lanes(dtype) -> int:
    """Elements of ``dtype`` in one vector register: the channel block of the direct convolution."""
    return _vector_unit()[0] // _itemsize(dtype)


def _itemsize(dtype) -> int:
    """A float dtype's bytes (np.float32, np.dtype('float32') or 'float32'; this module does not import NumPy)."""
    size = getattr(dtype, "itemsize", None)
    if isinstance(size, int):
        return size
    name = getattr(dtype, "__name__", dtype)
    return {"float32": 4, "float64": 8}[str(name)]


def vector_registers() -> int:
    return _vector_unit()[1]


def cpu_description() -> str:
    """The CPU's model name and vector unit, for benchmark reports."""
    from llvmlite import binding

    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    width, regs = _vector_unit()
    return f"{model} ({binding.get_host_cpu_name()}, {width * 8}-bit vectors, {regs} registers)"


def _accumulators() -> int:
    return vector_registers() - DIRECT_SPARE_REGISTERS


def direct_forward_tile(filter_blocks: int, ow: int, dtype) -> tuple:
    """(RW, OB) of the direct forward's tile: RW output pixels x OB blocks of filters.

    Two filter blocks where the layer has an even number (each broadcast
    input value then feeds two FMAs), else one; RW up to what the
    accumulator registers and ``DIRECT_MAX_TILE_PIXELS`` allow, chosen to
    cover a row of ``ow`` pixels with the least work, counting
    ``DIRECT_TILE_OVERHEAD_PIXELS`` per tile.
    """
    ob = 2 if filter_blocks % 2 == 0 and _accumulators() >= 8 else 1
    widest = max(1, min(ow, DIRECT_MAX_TILE_PIXELS, _accumulators() // ob))
    return min(range(1, widest + 1),
               key=lambda rw: (-(-ow // rw) * (rw + DIRECT_TILE_OVERHEAD_PIXELS), -rw)), ob


def direct_weight_tile(filter_blocks: int, taps: int, dtype) -> tuple:
    """(RW, OB) of the direct weight gradient's tile: RW consecutive taps (a divisor of ``taps``) x OB
    filter blocks, as many accumulators as the registers hold."""
    ob = 2 if filter_blocks % 2 == 0 and _accumulators() >= 8 else 1
    budget = max(1, _accumulators() // ob)
    return max(d for d in range(1, min(taps, budget) + 1) if taps % d == 0), ob


def winograd_chunk(tile_bytes: int) -> int:
    """Images a Winograd chunk holds: as many whose transformed tiles fit in ``WINOGRAD_CHUNK_BYTES``, at least one."""
    return max(1, WINOGRAD_CHUNK_BYTES // max(1, tile_bytes))


# ------------------------------------------------------------------------------------------
# The GEMM pool
# ------------------------------------------------------------------------------------------

_pool_lock = threading.Lock()
_pool = None
_pool_size = 0


def _executor(workers: int):
    """The pool, with at least ``workers`` threads (made again, bigger, when asked for more)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            from concurrent.futures import ThreadPoolExecutor

            old = _pool
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastnn-gemm")
            _pool_size = workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def split_over_threads(n: int, work: int, task, least: int = None) -> None:
    """Call ``task(lo, hi)`` on contiguous slices [lo, hi) covering range(n), one per thread.

    One slice per numba thread (at most ``n``), the first on the calling
    thread; one call ``task(0, n)`` below ``least`` (default
    ``GEMM_SPLIT_MACS``) of ``work``.
    While ``threads()`` is lower (busy cores, a forked child), slices need
    ``BUSY_SPLIT_MACS`` of work: one hand-off per call, long slices, so two
    threads still get two shares of busy cores. NumPy's BLAS runs on
    fastnn's BLAS count meanwhile. ``task`` must release the GIL to gain
    anything and write disjoint outputs per slice. Returns when every slice
    is done; the first exception is re-raised.
    """
    with _numpy_blas_for_fastnn():
        count = 1
        if work >= (GEMM_SPLIT_MACS if least is None else least):
            count = _numba_threads()
            if work < BUSY_SPLIT_MACS:
                count = threads()
            count = min(count, n)
        if count <= 1:
            task(0, n)
            return
        bounds = [n * i // count for i in range(count + 1)]
        pool = _executor(count - 1)
        futures = [pool.submit(task, lo, hi) for lo, hi in zip(bounds[1:-1], bounds[2:])]
        try:
            task(0, bounds[1])
        finally:
            for f in futures:
                f.result()


def _after_fork_in_child() -> None:
    """Forget the parent's pool (its threads are gone) and fall back to one thread where OpenMP ran."""
    global _pool, _pool_size, _pool_lock, _numpy_blas_lock, _numpy_blas_depth, _forked_serial, _load_last
    _pool, _pool_size = None, 0
    _pool_lock = threading.Lock()
    _numpy_blas_lock, _numpy_blas_depth = threading.Lock(), 0
    _load_last = None
    if _gnu_openmp_started():
        _forked_serial = True


def _gnu_openmp_started() -> bool:
    """Whether numba's OpenMP layer was started in this process (its workers cannot run after a fork)."""
    numba = sys.modules.get("numba")
    if numba is None:
        return False
    try:
        layer = numba.threading_layer()
    except ValueError:   # no parallel kernel has started a threading layer yet
        return False
    if layer != "omp":
        return False
    try:
        from numba.np.ufunc import omppool
        return getattr(omppool, "openmp_vendor", "GNU") != "Intel"
    except ImportError:
        return True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

# ------------------------------------------------------------------------------------------
# BLAS
# ------------------------------------------------------------------------------------------

_blas_threads = None          # fastnn's BLAS thread count (None: BLAS left alone)
_scipy_blas_setter = None     # set_num_threads of the BLAS numba's np.dot calls
_scipy_blas_getter = None
_scipy_blas_saved = None      # its count before fastnn changed it
_numpy_blas = []              # threadpoolctl controllers of the other BLAS libraries (NumPy's)
_numpy_blas_lock = threading.Lock()
_numpy_blas_depth = 0
_numpy_blas_saved = []


def _openblas_functions(path):
    """(set_num_threads, get_num_threads) of the OpenBLAS at ``path`` (ctypes), or (None, None)."""
    import ctypes

    lib = ctypes.CDLL(path)
    for prefix in ("scipy_openblas_", "openblas_"):
        for suffix in ("", "64_"):
            setter = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return setter, getter
    return None, None


def _blas_libraries():
    from threadpoolctl import ThreadpoolController

    return [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]


def _find_scipy_blas():
    """The path of the BLAS library numba's ``np.dot`` calls (SciPy's), loading it if need be.

    Where this import is what loads it, the library is the one that
    appeared, loaded with short-spinning workers (``OPENBLAS_SPIN_EXPONENT``);
    otherwise the BLAS library inside SciPy's installation, or the only one
    loaded (SciPy and NumPy then share it). None where none of these holds.
    """
    before = {lib.filepath for lib in _blas_libraries()}
    if "scipy.linalg.cython_blas" not in sys.modules:
        timeout_env = "OPENBLAS_THREAD_TIMEOUT"
        ours = timeout_env not in os.environ
        if ours:
            os.environ[timeout_env] = str(OPENBLAS_SPIN_EXPONENT)  # read once, when the library loads
        try:
            import scipy.linalg.cython_blas  # noqa: F401
        finally:
            if ours:
                del os.environ[timeout_env]
    libraries = [lib.filepath for lib in _blas_libraries()]
    new = [p for p in libraries if p not in before]
    if len(new) == 1:
        return new[0]
    import scipy

    roots = (os.path.dirname(os.path.realpath(scipy.__file__)),)
    roots += (roots[0] + ".libs",)
    inside = [p for p in libraries if os.path.realpath(p).startswith(roots)]
    if len(inside) == 1:
        return inside[0]
    return libraries[0] if len(libraries) == 1 else None


def _limit_blas(n: int) -> None:
    """fastnn's BLAS on ``n`` threads: SciPy's now, NumPy's while fastnn's GEMMs run."""
    global _blas_threads, _scipy_blas_setter, _scipy_blas_getter, _scipy_blas_saved, _numpy_blas
    if _scipy_blas_setter is None:
        path = _find_scipy_blas()
        if path is not None:
            _scipy_blas_setter, _scipy_blas_getter = _openblas_functions(path)
            if _scipy_blas_setter is not None:
                _scipy_blas_saved = _scipy_blas_getter()
        real = os.path.realpath(path) if path else None
        _numpy_blas = [lib for lib in _blas_libraries() if os.path.realpath(lib.filepath) != real]
    if _scipy_blas_setter is not None:
        _scipy_blas_setter(n)
    _blas_threads = n


def _release_blas() -> None:
    """Give SciPy's BLAS its own count back; leave NumPy's alone from now on."""
    global _blas_threads
    if _scipy_blas_setter is not None and _scipy_blas_saved is not None:
        _scipy_blas_setter(_scipy_blas_saved)
    _blas_threads = None


@contextmanager
def _numpy_blas_for_fastnn():
    """NumPy's BLAS on fastnn's count inside; the user's count again once no fastnn GEMM runs."""
    global _numpy_blas_depth, _numpy_blas_saved
    count = _blas_threads
    if count is None or not _numpy_blas:
        yield
        return
    with _numpy_blas_lock:
        if _numpy_blas_depth == 0:
            _numpy_blas_saved = [lib.num_threads for lib in _numpy_blas]
            for lib in _numpy_blas:
                lib.set_num_threads(count)
        _numpy_blas_depth += 1
    try:
        yield
    finally:
        with _numpy_blas_lock:
            _numpy_blas_depth -= 1
            if _numpy_blas_depth == 0:
                for lib, saved in zip(_numpy_blas, _numpy_blas_saved):
                    lib.set_num_threads(saved)


def _default_blas_threads() -> int:
    raw = os.environ.get(BLAS_THREADS_ENV, "1")
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{BLAS_THREADS_ENV} must be a whole number >= 0 (0 leaves BLAS alone), got {raw!r}")
    return value


# ------------------------------------------------------------------------------------------
# Memory
# ------------------------------------------------------------------------------------------

_GLIBC_MALLOC_VARS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
_malloc_tuned = False


def _tune_malloc() -> bool:
    """glibc keeps a step's big freed arrays for the next step (module docstring, item 3); True if set."""
    if any(v in os.environ for v in _GLIBC_MALLOC_VARS):
        return False
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    m_trim_threshold, m_mmap_threshold = -1, -3   # malloc.h; the mmap threshold first: it moves the other
    return bool(mallopt(m_mmap_threshold, MMAP_THRESHOLD_BYTES)) and bool(mallopt(m_trim_threshold, TRIM_THRESHOLD_BYTES))


# ------------------------------------------------------------------------------------------
# numba's threading layer
# ------------------------------------------------------------------------------------------

_layer_pending = False   # numba's layer is fastnn's to start (host tuning on, the user chose none)
_layer_tuned = False     # fastnn started it


def _choose_threading_layer() -> None:
    """numba's threading layer in the order OpenMP, workqueue, TBB, unless the user chose (TBB often
    fails to load); started by fastnn's first parallel kernel (``_start_threading_layer``)."""
    global _layer_pending
    if "NUMBA_THREADING_LAYER" in os.environ or "NUMBA_THREADING_LAYER_PRIORITY" in os.environ:
        return
    import numba

    numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]
    _layer_pending = True


def _start_threading_layer() -> None:
    """Start numba's threading layer with passive OpenMP workers, then take the variable back.

    Workers that spin while they wait take the cores BLAS and other
    programs need. libgomp reads ``OMP_WAIT_POLICY`` once, when it loads,
    so it is set (unless the user set it) only around that start, and
    removed again so that child processes do not inherit it. Not at import:
    a process forked before this point (a forkserver) keeps its threads.
    """
    global _layer_pending, _layer_tuned
    _layer_pending = False
    ours = "OMP_WAIT_POLICY" not in os.environ
    if ours:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        from numba.np.ufunc import parallel

        parallel._launch_threads()
        _layer_tuned = True
    except Exception:  # a numba without this private entry: the layer starts at the first parallel kernel
        pass
    finally:
        if ours:
            del os.environ["OMP_WAIT_POLICY"]


# ------------------------------------------------------------------------------------------
# The switches
# ------------------------------------------------------------------------------------------

_host_tuning = None   # None: not decided yet (the environment decides at the first apply)
_applied = False


def _host_tuning_on() -> bool:
    global _host_tuning
    if _host_tuning is None:
        raw = os.environ.get(HOST_TUNING_ENV, "1").strip()
        if raw not in ("0", "1"):
            raise ValueError(f"{HOST_TUNING_ENV} must be 0 or 1, got {raw!r}")
        _host_tuning = raw == "1"
    return _host_tuning


def apply_host_tuning() -> None:
    """Make the host changes of the module docstring, once per process, unless switched off."""
    global _applied, _malloc_tuned
    if _applied:
        return
    _applied = True
    if not _host_tuning_on():
        return
    _choose_threading_layer()
    n = _default_blas_threads()
    if n and _blas_threads is None:
        _limit_blas(n)
    _malloc_tuned = _tune_malloc()


def host_tuning_applied() -> bool:
    """Whether fastnn's host changes were made in this process (applied, and not switched off).

    A query for tools that report which configuration a process ran in
    (the benchmarks' workers); it changes nothing.
    """
    return bool(_applied and _host_tuning_on())


def set_host_tuning(enabled: bool) -> None:
    """Switch fastnn's changes to the host process (module docstring, "Host process") on or off.

    Call it before ``fastnn.layers`` is imported for the full effect (the
    environment variable ``FASTNN_HOST_TUNING=0`` does the same). Later,
    ``False`` gives SciPy's BLAS its own thread count back and leaves
    NumPy's alone; what cannot be undone in a running process (malloc
    settings, the started threading layer) stays, with a ``RuntimeWarning``.
    """
    global _host_tuning, _layer_pending
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True or False, got {enabled!r}")
    _host_tuning = enabled
    if not _applied:
        return
    _layer_pending = False
    if enabled:
        n = _default_blas_threads()
        if n and _blas_threads is None:
            _limit_blas(n)
        return
    _release_blas()
    stays = [what for what, done in (("glibc's malloc thresholds", _malloc_tuned),
                                     ("numba's OpenMP layer with passive workers", _layer_tuned)) if done]
    if stays:
        warnings.warn("fastnn.set_host_tuning(False) after fastnn.layers was imported: "
                      + " and ".join(stays) + " stay as set for this process; set FASTNN_HOST_TUNING=0 "
                      "in the environment to avoid them", RuntimeWarning, stacklevel=2)


def set_num_threads(n: int, blas: int = 1, wide_products: bool = True, follow_load: bool = True) -> None:
    """Use ``n`` threads in fastnn's kernels and ``blas`` threads in the BLAS calls fastnn makes.

    ``n`` must be between 1 and numba's ``NUMBA_NUM_THREADS`` (the number of
    cores unless set in the environment before numba starts). ``blas``:
    threads of SciPy's BLAS (the one numba's ``np.dot`` calls), and of
    NumPy's while fastnn's convolution GEMMs run; the user's own NumPy
    products keep their count. ``wide_products=False`` keeps the mid-sized
    Affine products on ``blas`` threads (results then equal for any ``n``).
    ``follow_load=False`` keeps ``n`` threads even while other processes
    keep the cores busy.
    """
    import numba

    from ._validate import check_scalar

    n = check_scalar(n, "n", integer=True, positive=True)
    blas = check_scalar(blas, "blas", integer=True, positive=True, below=(os.cpu_count() or 1) + 1)
    for name, flag in (("wide_products", wide_products), ("follow_load", follow_load)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    limit = numba.config.NUMBA_NUM_THREADS
    if n > limit:
        raise ValueError(f"n must be <= {limit} (NUMBA_NUM_THREADS), got {n}")
    global _wide_products, _follow_load
    apply_host_tuning()
    if _layer_pending:
        _start_threading_layer()
    numba.set_num_threads(n)
    _limit_blas(blas)
    _wide_products, _follow_load = wide_products, follow_load


def get_num_threads() -> dict:
    """``{'numba': numba's count, 'blas': fastnn's BLAS count (None: left alone), 'now': threads()}``."""
    return {"numba": _numba_threads(), "blas": _blas_threads, "now": threads()}
