"""Side-by-side speed report: fastnn vs the book's NumPy code vs PyTorch, each in a process of its own.

    python -m benchmarks.tools.report [--quick] [--threads N] [--nets SimpleConvNet,DeepConvNet] [--in-process]

Times one training step (forward, backward, Adam update) of each net in each
implementation and prints medians, ratios and the attained GEMM rate as a
Markdown table. Run it from the repository root (it imports the
``benchmarks`` package beside ``fastnn``).

Each implementation runs in a fresh process of its own (``_worker.py``), one
per configuration, in its own default configuration: fastnn with its own
thread policy, PyTorch with its own threads and OpenMP settings (it never
sees fastnn's), the NumPy reference and ``np.dot`` with NumPy's defaults.
``--threads N`` sets each one's threads through its own API instead. The
report process itself imports neither fastnn nor PyTorch; it drives the
workers in alternating rounds (A B C D, B C D A, ...): a worker waits on
its pipe while the others run, and every sample starts after a short pause
so the previous worker's threads are asleep.

``--in-process`` times all implementations in this one process instead
(fastnn imported first, so PyTorch runs under fastnn's OpenMP wait policy):
a second, labelled table, for comparison only.

The GEMM work of a step counts the multiply-adds of the direct method (the
im2col products of every Convolution and the products of every Affine):
forward, weight gradient, and input gradient for all but the first layer
(nothing needs the gradient of the data). Dividing it by the step's time
gives the attained GFLOP/s, compared with ``np.dot`` of two 1024×1024
matrices timed in the same rounds, in its own process (SGEMM for float32,
DGEMM for float64); ``floor`` is the time the GEMM work alone would take at
that rate. A method doing fewer multiplications (Winograd) can pass 100%.
"""
import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time

NETS = ["TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet"]
#: (net, batch) pairs of the report: the issues' headline configurations.
CONFIGS = [("TwoLayerNet", 100), ("MultiLayerNetExtend", 100), ("SimpleConvNet", 100),
           ("DeepConvNet", 32), ("DeepConvNet", 100)]
IMPLS = ["fastnn", "reference", "torch"]
DTYPES = ["float32", "float64"]


def cores():
    """The cores this process may use (its affinity mask): the default thread count of every tool here."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_name():
    """The CPU's model name, as a report's header states it."""
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
    if args.threads is not None and args.threads < 1:
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
    p = argparse.ArgumentParser(prog="python -m benchmarks.tools.report", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 rounds instead of 7: about twice as fast, noisier")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for numba, PyTorch and the reference's BLAS, each set through its own API "
                        "(fastnn's BLAS follows its own policy); default: each implementation's own default "
                        "(with --in-process: the cores this process may use, %s)" % cores())
    p.add_argument("--in-process", action="store_true",
                   help="time every implementation in this one process (a labelled comparison table)")
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

def timed_calls(fn, number):
    """Seconds per call of ``fn()`` over ``number`` calls, the garbage collector off: one sample of the report."""
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
    times = [timed_calls(dot, 3) for _ in range(max(rounds, 5))]
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
        est = timed_calls(step, 1)
        numbers[name] = max(1, int(min_sample / max(est, 1e-9)))
    samples = {name: [] for name in subjects}
    names = list(subjects)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
        for name in order:
            before.get(name, nothing)()
            time.sleep(settle)
            subjects[name]()
            samples[name].append(timed_calls(subjects[name], numbers[name]))
    return {name: statistics.median(s) for name, s in samples.items()}


# -- output ----------------------------------------------------------------------------------

def format_ms(t):
    """Seconds ``t`` as a report's milliseconds cell ("n/a" for None)."""
    if t is None:
        return "n/a"
    ms = t * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def format_ratio(num, den):
    """``num / den`` as a report's ratio cell ("1.23×"; "n/a" when either is None)."""
    if num is None or den is None:
        return "n/a"
    return f"{num / den:.2f}×"


def load_average():
    """The 1-minute load average as text, beside every figure a report prints."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "unknown"


def _footer():
    print()
    print(f"Load average at the end: {load_average()}. "
          "`x / fastnn` > 1 means fastnn is faster. GEMM work: the direct method's conv and affine matrix "
          "products (forward, weight gradient, input gradient but the first layer's); % of GEMM = attained "
          "rate over np.dot's (SGEMM for float32, DGEMM for float64) in the same rounds; floor = that work "
          "at that rate.")


# -- each implementation in a process of its own -----------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Worker:
    """One subject in a fresh process (``benchmarks.tools._worker``, or a subclass's ``module``), driven over its pipes.

    The protocol is ``_worker``'s: a first JSON line (``hello``), then one
    answer a line to each command written to its stdin.
    """

    module = "benchmarks.tools._worker"

    def __init__(self, impl, net, dtype, batch, threads):
        self.spawn([impl, net, dtype, str(batch), "default" if threads is None else str(threads)])
        self.hello = self._read()

    def spawn(self, argv, env=None):
        """Start ``python -m self.module *argv`` in the repository root (``env``: its environment, default ours)."""
        cmd = [sys.executable, "-m", self.module] + list(argv)
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            raise RuntimeError(f"worker died: {err.strip()[-2000:]}")
        return json.loads(line)

    def ask(self, **command):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=60)


def alternate(workers, rounds, min_sample=MIN_SAMPLE_S, settle=SETTLE_S, **command):
    """{name: [seconds a call, one a round]} of ``workers`` ({name: Worker}) timed in alternating rounds.

    Each worker first times one call, which sets how many calls make a sample
    of about ``min_sample`` seconds; then ``rounds`` rounds, the order rotating
    (A B C, B C A, ...), each sample after a pause of ``settle`` seconds.
    ``command`` goes with every ``sample`` request (say, which method to time).
    """
    numbers = {}
    for name, w in workers.items():
        time.sleep(settle)
        est = w.ask(cmd="sample", number=1, **command)["seconds"]
        numbers[name] = max(1, int(min_sample / max(est, 1e-9)))
    samples = {name: [] for name in workers}
    names = list(workers)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(settle)
            samples[name].append(workers[name].ask(cmd="sample", number=numbers[name], **command)["seconds"])
    return samples


def measure_separately(impls, net, dtype, batch, threads, rounds, min_sample=MIN_SAMPLE_S, settle=SETTLE_S):
    """({subject: median seconds a call}, {subject: its configuration}, {impl: why skipped}).

    Subjects: the ``impls`` and ``gemm`` (np.dot 1024³ in ``dtype``), each in
    a fresh process started one after the other; then ``rounds`` alternating
    rounds (the order rotates), each sample >= ``min_sample`` seconds after
    one untimed call and a pause of ``settle`` seconds.
    """
    workers, skipped = {}, {}
    try:
        for name in list(impls) + ["gemm"]:
            w = Worker(name, net, dtype, batch, threads)
            if "skip" in w.hello:
                skipped[name] = w.hello["skip"]
                w.close()
            else:
                workers[name] = w
        samples = alternate(workers, rounds, min_sample, settle)
        config = {name: w.hello.get("config", "") for name, w in workers.items()}
    finally:
        for w in workers.values():
            w.close()
    return {name: statistics.median(s) for name, s in samples.items()}, config, skipped


def _pct(flops, t, rate):
    return "n/a" if t is None else f"{100 * flops / t / 1e9 / rate:.0f}%"


def main_separate(args, argv):
    import numpy as np

    cmd = "python -m benchmarks.tools.report " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"fastnn speed report: `{cmd.strip()}`")
    print()
    print(f"- machine: {cpu_name()}, {cores()} cores; load average at start: {load_average()} "
          "(a busy machine slows every column; alternating rounds keep the ratios fairer than the times)")
    print(f"- each implementation in a fresh process of its own, one per row, in its own default configuration"
          f"{'' if args.threads is None else f' but {args.threads} threads set through its own API'}; "
          f"numpy {np.__version__}, Python {platform.python_version()}")
    print(f"- one training step = forward, backward, Adam update; median of {args.rounds} alternating rounds "
          f"(each sample: one untimed step, then >= {MIN_SAMPLE_S} s of steps), ms")
    print()
    impls = args.impls
    head = ["net", "batch", "dtype"] + [f"{i} ms" for i in impls]
    if "fastnn" in impls:
        head += [f"{i} / fastnn" for i in impls if i != "fastnn"]
    head += ["GEMM GFLOP", "GEMM GFLOP/s"] + [f"{i} % of GEMM" for i in impls if i != "reference"] + ["floor ms"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i < 3 else "---:" for i in range(len(head))) + "|")
    sys.stdout.flush()
    configs_seen = {}
    for net, batch in CONFIGS:
        if net not in args.nets:
            continue
        for dt in args.dtypes:
            med, config, skipped = measure_separately(impls, net, dt, batch, args.threads, args.rounds)
            for name, c in config.items():
                configs_seen.setdefault(name, c)
            rate = GEMM_FLOPS / med.pop("gemm") / 1e9 if "gemm" in med else None
            flops = gemm_flops(net, batch)
            row = [net, str(batch), dt] + [format_ms(med.get(i)) for i in impls]
            if "fastnn" in impls:
                row += [format_ratio(med.get(i), med.get("fastnn")) for i in impls if i != "fastnn"]
            row += [f"{flops / 1e9:.3f}", "n/a" if rate is None else f"{rate:.1f}"]
            row += ["n/a" if rate is None else _pct(flops, med.get(i), rate) for i in impls if i != "reference"]
            row.append("n/a" if rate is None else f"{flops / rate / 1e9 * 1e3:.2f}")
            print("| " + " | ".join(row) + " |")
            sys.stdout.flush()
            for impl, why in skipped.items():
                print(f"  ({impl} skipped: {why})", file=sys.stderr)
    print()
    for name, c in configs_seen.items():
        print(f"- {name}: {c}")
    _footer()


def main(argv=None):
    args = parse_args(argv)
    if not args.in_process:
        return main_separate(args, argv)
    if args.threads is None:
        args.threads = cores()
    set_thread_env(args.threads)

    import numpy as np

    # fastnn before torch: importing fastnn.layers starts numba's OpenMP layer with passive
    # workers (fastnn._runtime); libgomp reads its wait policy once, when first loaded, and with
    # torch first numba's OpenMP workers spun and starved fastnn's GEMM threads.
    import fastnn
    import fastnn.layers  # noqa: F401

    from .._common import pin_threads
    from .._nets import make_step
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

    cmd = "python -m benchmarks.tools.report " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"fastnn {fastnn.__version__} speed report, IN ONE PROCESS (fastnn imported first: PyTorch runs under "
          f"fastnn's OpenMP wait policy; for comparison only, the separate-process table is the fair one): "
          f"`{cmd.strip()}`")
    print()
    print(f"- machine: {cpu_name()}, {cores()} cores; "
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
            row = [net, str(batch), dt] + [format_ms(med.get(i)) for i in impls]
            if "fastnn" in impls:
                f = med.get("fastnn")
                row += [format_ratio(med.get(i), f) for i in impls if i != "fastnn"]
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
    _footer()


if __name__ == "__main__":
    main()
