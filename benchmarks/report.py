"""Side-by-side speed report: fastnn vs the book's NumPy code vs PyTorch, in one process.

    python -m benchmarks.report [--quick] [--threads N] [--nets SimpleConvNet,DeepConvNet]

Times one training step (forward, backward, Adam update) of each net in each
implementation, interleaving the implementations round by round so that a
busy machine slows them alike, and prints medians, ratios and the attained
GEMM rate as a Markdown table to paste into an issue. Run it from the
repository root (it imports the ``benchmarks`` package beside ``fastnn``).

The GEMM work of a step counts the matrix products of every Convolution and
Affine layer: forward, weight gradient, and input gradient for all but the
first layer (nothing needs the gradient of the data). Dividing it by the
step's time gives the attained GFLOP/s, compared with ``np.dot`` of two
1024×1024 matrices timed in the same interleaved rounds (SGEMM for float32,
DGEMM for float64); ``floor`` is the time the GEMM work alone would take at
that rate.
"""
import argparse
import gc
import os
import platform
import statistics
import sys
import time

NETS = ["TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet"]
#: (net, batch) pairs of the report: the issues' headline configurations.
CONFIGS = [("TwoLayerNet", 100), ("MultiLayerNetExtend", 100), ("SimpleConvNet", 100),
           ("DeepConvNet", 32), ("DeepConvNet", 100)]
IMPLS = ["fastnn", "reference", "torch"]
DTYPES = ["float32", "float64"]


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def check_choices(parser, args, choices):
    """Each option named in ``choices`` (a comma-separated string) becomes a list of the names it
    gives, refused (``parser.error``) when empty or naming one outside ``choices[option]``; and
    ``--threads`` must be >= 1."""
    for name, allowed in choices.items():
        chosen = [s.strip() for s in getattr(args, name).split(",") if s.strip()]
        if not chosen or any(s not in allowed for s in chosen):
            parser.error(f"--{name}: expected a comma-separated subset of {','.join(allowed)}, "
                         f"got {getattr(args, name)!r}")
        setattr(args, name, chosen)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")


def blas_setters(threads, fastnn_subjects, other_subjects):
    """(fastnn's BLAS thread count, {subject: a call that sets every BLAS library's threads for it}).

    Call after ``pin_threads("fastnn", threads)``: fastnn's count is what its
    runtime chose (``fastnn.get_num_threads()["blas"]``); the other subjects
    get ``threads``, what NumPy uses on that many cores.
    """
    from threadpoolctl import ThreadpoolController

    import fastnn

    blas = ThreadpoolController()
    fastnn_blas = fastnn.get_num_threads()["blas"] or threads
    counts = dict.fromkeys(fastnn_subjects, fastnn_blas) | dict.fromkeys(other_subjects, threads)
    return fastnn_blas, {name: (lambda k=k: blas.limit(limits=k, user_api="blas")) for name, k in counts.items()}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 rounds instead of 7: about twice as fast, noisier")
    p.add_argument("--threads", type=int, default=_cores(),
                   help="threads for numba, PyTorch and the reference's BLAS (fastnn's BLAS follows its own policy); "
                        "default: the cores this process may use, %(default)s")
    p.add_argument("--nets", default=",".join(NETS),
                   help="comma-separated subset of %(default)s")
    p.add_argument("--dtypes", default=",".join(DTYPES), help="comma-separated subset of %(default)s")
    p.add_argument("--impls", default=",".join(IMPLS), help="comma-separated subset of %(default)s")
    p.add_argument("--rounds", type=int, default=None,
                   help="interleaved rounds per configuration (default 7, 3 with --quick)")
    args = p.parse_args(argv)
    check_choices(p, args, {"nets": NETS, "dtypes": DTYPES, "impls": IMPLS})
    if args.rounds is None:
        args.rounds = 3 if args.quick else 7
    if args.rounds < 1:
        p.error(f"--rounds must be >= 1, got {args.rounds}")
    return args


def set_thread_env(n):
    """Thread counts for BLAS, OpenMP and numba: must happen before NumPy is imported."""
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)


# -- GEMM work of a training step ------------------------------------------------------------

def _affine(n, d_in, d_out):
    return 2.0 * n * d_in * d_out


def _conv(n, c, hw, fn, k, pad):
    out = hw + 2 * pad - k + 1
    return 2.0 * n * out * out * c * k * k * fn, out


def gemm_flops(net, n):
    """FLOPs of the matrix products of one training step of ``net`` at batch ``n`` (see the module doc)."""
    layers = []  # forward FLOPs of each GEMM layer, in order
    if net == "TwoLayerNet":
        layers = [_affine(n, 784, 50), _affine(n, 50, 10)]
    elif net == "MultiLayerNetExtend":
        layers = [_affine(n, 784, 100)] + [_affine(n, 100, 100)] * 4 + [_affine(n, 100, 10)]
    elif net == "SimpleConvNet":
        f, _ = _conv(n, 1, 28, 30, 5, 0)
        layers = [f, _affine(n, 30 * 12 * 12, 100), _affine(n, 100, 10)]
    elif net == "DeepConvNet":
        hw, c = 28, 1
        for i, (fn, pad) in enumerate(((16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1))):
            f, hw = _conv(n, c, hw, fn, 3, pad)
            layers.append(f)
            c = fn
            if i % 2 == 1:
                hw //= 2
        layers += [_affine(n, 64 * 4 * 4, 50), _affine(n, 50, 10)]
    else:
        raise ValueError(net)
    # forward + weight gradient for every layer, input gradient for all but the first
    return 3 * sum(layers) - layers[0]


# -- timing ------------------------------------------------------------------------------------

def _time_calls(fn, number):
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number
    finally:
        if gc_was:
            gc.enable()


GEMM_N = 1024
GEMM_FLOPS = 2.0 * GEMM_N ** 3


def gemm_subject(np, dtype):
    """A closure running np.dot on two 1024x1024 matrices of ``dtype`` (GEMM_FLOPS a call)."""
    rng = np.random.default_rng(0)
    a = rng.random((GEMM_N, GEMM_N), dtype=dtype)
    b = rng.random((GEMM_N, GEMM_N), dtype=dtype)
    out = np.empty((GEMM_N, GEMM_N), dtype=dtype)
    return lambda: np.dot(a, b, out=out)


def gemm_rate(np, dtype, rounds):
    """Median GFLOP/s of np.dot on 1024x1024 matrices of ``dtype``."""
    dot = gemm_subject(np, dtype)
    for _ in range(3):  # wake BLAS's threads, fault the pages in
        dot()
    times = [_time_calls(dot, 3) for _ in range(max(rounds, 5))]
    return GEMM_FLOPS / statistics.median(times) / 1e9


#: Pause after each sample, so that the thread pools of the implementation just
#: timed (OpenBLAS's workers spin for up to ~0.1 s after a GEMM; PyTorch's
#: OpenMP workers spin too) are asleep before the next one starts.
SETTLE_S = 0.2

#: Length of each timed sample. Training runs steps back to back; the first
#: steps after another implementation ran (its data in the caches, its threads
#: just gone to sleep) are slower. Measured here, SimpleConvNet float32
#: interleaved with PyTorch and np.dot: fastnn 18.0 ms a step in 0.1 s
#: samples, 15.8 ms in 0.4 s samples (PyTorch 30.4 / 32.0 ms).
MIN_SAMPLE_S = 0.4


def measure_config(subjects, rounds, min_sample=MIN_SAMPLE_S, settle=SETTLE_S, before=None):
    """Interleaved timing; returns the median seconds per call of each subject.

    Per round, each subject in turn (the order rotates) settles, runs one
    untimed call (its threads wake up, its working set returns to the caches:
    training runs steps back to back, so the steady state is what counts),
    then a timed sample of calls lasting about ``min_sample`` seconds.
    ``before[name]()``, where given, runs first (untimed): the subject's thread settings.
    """
    before = before or {}
    nothing = lambda: None  # noqa: E731
    numbers = {}
    for name, step in subjects.items():
        before.get(name, nothing)()
        step()  # warm: compile or load kernels, allocate state
        time.sleep(settle)
        est = _time_calls(step, 1)
        numbers[name] = max(1, int(min_sample / max(est, 1e-9)))
    samples = {name: [] for name in subjects}
    names = list(subjects)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
        for name in order:
            before.get(name, nothing)()
            time.sleep(settle)
            subjects[name]()
            samples[name].append(_time_calls(subjects[name], numbers[name]))
    return {name: statistics.median(s) for name, s in samples.items()}


# -- output ----------------------------------------------------------------------------------

def _ms(t):
    if t is None:
        return "n/a"
    ms = t * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _ratio(num, den):
    if num is None or den is None:
        return "n/a"
    return f"{num / den:.2f}×"


def main(argv=None):
    args = parse_args(argv)
    set_thread_env(args.threads)

    import numpy as np

    # fastnn before torch: importing fastnn.layers starts numba's OpenMP layer with passive
    # workers (fastnn._runtime); libgomp reads its wait policy once, when first loaded, and with
    # torch first numba's OpenMP workers spun and starved fastnn's GEMM threads.
    import fastnn
    import fastnn.layers  # noqa: F401

    from ._common import pin_threads
    from ._nets import make_step
    try:
        import fastnn.layers  # noqa: F401  (applies fastnn's BLAS thread policy, where it has one)
    except ImportError:
        pass

    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch, torch_version = None, None
    impls = [i for i in args.impls if i != "torch" or torch is not None]

    import numba

    threads = pin_threads("fastnn", args.threads)  # numba: threads; BLAS: fastnn's policy
    # BLAS threads per subject, set before each sample: fastnn's policy for fastnn; for the
    # plain-NumPy reference and np.dot, what NumPy uses on this many cores.
    fastnn_blas, before = blas_setters(threads, ["fastnn"], ["reference", "torch", "gemm"])
    if torch is not None:
        torch.set_num_threads(threads)

    before["gemm"]()
    peak = {dt: gemm_rate(np, dt, args.rounds) for dt in args.dtypes}
    peak_name = {"float32": "SGEMM", "float64": "DGEMM"}

    cmd = "python -m benchmarks.report " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"fastnn {fastnn.__version__} speed report: `{cmd.strip()}`")
    print()
    print(f"- machine: {_cpu_name()}, {_cores()} cores; "
          f"{threads} threads for numba and PyTorch; BLAS {fastnn_blas} for fastnn (its thread policy), "
          f"{threads} for the NumPy reference and np.dot")
    try:
        load = f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        load = "unknown"
    print(f"- load average at start: {load} (a busy machine slows every column; "
          "interleaved rounds keep the ratios fairer than the absolute times)")
    print(f"- numpy {np.__version__}, numba {numba.__version__}, "
          f"torch {torch_version or 'not installed'}; Python {platform.python_version()}")
    print("- " + ", ".join(f"{peak_name[dt]} (np.dot 1024³) {peak[dt]:.1f} GFLOP/s" for dt in args.dtypes)
          + " at start; each row's % and floor use np.dot timed in that row's own rounds")
    print(f"- one training step = forward, backward, Adam update; median of {args.rounds} interleaved rounds "
          f"(each: one untimed step, then >= {MIN_SAMPLE_S} s of steps), ms")
    print()
    head = ["net", "batch", "dtype"] + [f"{i} ms" for i in impls]
    if "fastnn" in impls:
        head += [f"{i} / fastnn" for i in impls if i != "fastnn"]
        head += ["GEMM GFLOP", "fastnn GFLOP/s", "% of GEMM peak", "floor ms"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i < 3 else "---:" for i in range(len(head))) + "|")
    sys.stdout.flush()

    for net, batch in CONFIGS:
        if net not in args.nets:
            continue
        for dt in args.dtypes:
            subjects, skipped = {}, {}
            for impl in impls:
                try:
                    subjects[impl] = make_step(impl, net, dt, batch).step
                except NotImplementedError as exc:
                    skipped[impl] = str(exc)
            if subjects:
                # np.dot runs in the same rounds, so the peak it sets saw the same machine load
                subjects["gemm"] = gemm_subject(np, dt)
                med = measure_config(subjects, args.rounds, before=before)
                rate_now = GEMM_FLOPS / med.pop("gemm") / 1e9
            else:
                med, rate_now = {}, peak[dt]
            subjects.clear()
            gc.collect()
            row = [net, str(batch), dt] + [_ms(med.get(i)) for i in impls]
            if "fastnn" in impls:
                f = med.get("fastnn")
                row += [_ratio(med.get(i), f) for i in impls if i != "fastnn"]
                flops = gemm_flops(net, batch)
                row.append(f"{flops / 1e9:.3f}")
                if f is None:
                    row += ["n/a", "n/a"]
                else:
                    rate = flops / f / 1e9
                    row += [f"{rate:.1f}", f"{100 * rate / rate_now:.0f}%"]
                row.append(f"{flops / rate_now / 1e9 * 1e3:.2f}")
            print("| " + " | ".join(row) + " |")
            sys.stdout.flush()
            for impl, why in skipped.items():
                print(f"  ({impl} skipped: {why})", file=sys.stderr)
    print()
    try:
        print(f"Load average at the end: {os.getloadavg()[0]:.1f}. ", end="")
    except (AttributeError, OSError):
        pass
    print("`x / fastnn` > 1 means fastnn is faster. GEMM work: conv and affine matrix products "
          "(forward, weight gradient, input gradient but the first layer's); "
          "% of GEMM peak = attained rate over np.dot's (SGEMM for float32, DGEMM for float64) in the same rounds; "
          "floor = that work at that rate.")


if __name__ == "__main__":
    main()
