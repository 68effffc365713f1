"""Every layer kernel beside its ``fastnn.reference`` twin, each implementation in a fresh process of its own.

    python -m benchmarks.tools.layer_peers [--quick] [--suites Affine,Convolution] [--dtypes float32]
                                           [--batches 100] [--rounds N] [--threads N]

The asv layer suites (``bench_layers.py``, and ``bench_optim.OptimizerUpdate``)
time ``fastnn`` and ``reference`` in one process, where ``fastnn.layers`` is
imported and has tuned the host (malloc thresholds, SciPy's BLAS threads:
``fastnn._runtime``) and ``setup`` pins two threads. This tool times the very
same asv classes with each implementation in a fresh process of its own
(``_layer_worker.py``), in its own default configuration: fastnn with its
host tuning and thread policy, the NumPy reference without fastnn's host
tuning (the worker never imports ``fastnn.layers`` and runs with
``FASTNN_HOST_TUNING=0``) and with NumPy's own BLAS threads. ``--threads N``
pins N threads in both instead, each through its own API.

For every suite with an ``impl`` parameter, every combination of its other
parameters (``--dtypes`` and ``--batches`` narrow them) and each ``time_*``
method, the two workers (started afresh for each combination) are timed in
alternating rounds (A B, B A, ...); the table gives the medians in µs and
``reference / fastnn`` (below 1: fastnn is slower, marked). A combination
that asv skips for one implementation (``ConvReluPool`` ``run=fused`` exists
for fastnn only) shows ``n/a`` there. Run it from the repository root.
"""
import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time

from . import report
from ._layer_worker import timed_methods_of

#: The suites timed by default, ``MODULE.CLASS`` in the ``benchmarks`` package: every one with an ``impl``.
SUITES = {
    "Activation": "bench_layers.Activation",
    "Affine": "bench_layers.Affine",
    "SoftmaxWithLoss": "bench_layers.SoftmaxWithLoss",
    "BatchNorm": "bench_layers.BatchNorm",
    "Dropout": "bench_layers.Dropout",
    "Convolution": "bench_layers.Convolution",
    "Pooling": "bench_layers.Pooling",
    "ConvReluPool": "bench_layers.ConvReluPool",
    "Im2col": "bench_layers.Im2col",
    "OptimizerUpdate": "bench_optim.OptimizerUpdate",
}
IMPLS = ["fastnn", "reference"]
DTYPES = ["float32", "float64"]
BATCHES = ["1", "100"]

#: Sample length: these calls take microseconds to milliseconds, so shorter samples than the
#: report's (a whole training step), which keeps a full run within minutes. The pause before each
#: sample stays the report's (``report.SETTLE_S``): the other worker's BLAS threads must be asleep,
#: or fastnn's thread policy would see a busy core and drop to one thread.
MIN_SAMPLE_S, QUICK_MIN_SAMPLE_S = 0.1, 0.03
SETTLE_S = report.SETTLE_S
ROUNDS, QUICK_ROUNDS = 5, 3


def suite_classes(names):
    """{name: the asv class} of the named suites (imports ``benchmarks.bench_*``, which import NumPy only)."""
    from ._layer_worker import suite_class

    return {name: suite_class(SUITES[name])[1] for name in names}


def combinations(cls, dtypes, batches):
    """[{param: value}] of every combination of the suite's parameters but ``impl``, narrowed to
    ``dtypes`` and ``batches`` where the suite has those parameters."""
    keep = {"dtype": set(dtypes), "batch": {int(b) for b in batches}}
    names, values = [], []
    for name, options in zip(cls.param_names, cls.params):
        if name == "impl":
            continue
        names.append(name)
        values.append([v for v in options if name not in keep or v in keep[name]])
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def worker_env(impl):
    """The environment of a worker: ours without asv's flag (with it, ``benchmarks._common`` would
    import ``fastnn.layers`` first thing); the reference's with fastnn's host tuning switched off."""
    env = {k: v for k, v in os.environ.items() if k != "ASV"}
    if impl == "reference":
        env["FASTNN_HOST_TUNING"] = "0"
    return env


class LayerWorker(report.Worker):
    """One implementation of one suite's parameter combination, in a fresh process (``_layer_worker``)."""

    module = "benchmarks.tools._layer_worker"

    def __init__(self, impl, suite, params, threads):
        self.impl = impl
        self.spawn([impl, SUITES[suite], json.dumps(params), "default" if threads is None else str(threads)],
                   env=worker_env(impl))
        self.hello = None

    def greet(self):
        """Read the worker's first line; refuse a reference worker that fastnn's host tuning reached."""
        self.hello = self._read()
        if self.impl == "reference" and "config" in self.hello and (
                self.hello["host_tuning"] or "fastnn.layers" in self.hello["loaded"]):
            raise RuntimeError(f"the reference worker ran under fastnn's host tuning ({self.hello}); expected "
                               "neither fastnn.layers loaded nor the tuning applied: look for what imports "
                               "fastnn.layers in its suite")
        return self.hello


def measure(suite, params, threads, rounds, min_sample=MIN_SAMPLE_S, settle=SETTLE_S):
    """({method: {impl: median seconds a call}}, {impl: its hello}, {impl: why skipped}).

    Both workers start at once (nothing is timed then), then each method is
    timed in alternating rounds of the two.
    """
    workers, hellos, skipped = {}, {}, {}
    try:
        for impl in IMPLS:
            workers[impl] = LayerWorker(impl, suite, params, threads)
        for impl, w in list(workers.items()):
            hello = w.greet()
            if "skip" in hello:
                skipped[impl] = hello["skip"]
                w.close()
                del workers[impl]
            else:
                hellos[impl] = hello
        methods = next(iter(hellos.values()))["methods"] if hellos else []
        medians = {}
        for method in methods:
            samples = report.alternate(workers, rounds, min_sample, settle, method=method)
            medians[method] = {impl: statistics.median(s) for impl, s in samples.items()}
    finally:
        for w in workers.values():
            w.close()
    return medians, hellos, skipped


def _us(t):
    if t is None:
        return "n/a"
    us = t * 1e6
    return f"{us:.3g}" if us < 1000 else f"{us:.0f}"


def row(suite, params, method, med):
    """A table row: suite, params, method, fastnn µs, reference µs, reference / fastnn, the marker."""
    f, r = med.get("fastnn"), med.get("reference")
    ratio = None if f is None or r is None else r / f
    return [suite, ", ".join(f"{k}={v}" for k, v in params.items()), method.removeprefix("time_"),
            _us(f), _us(r), "n/a" if ratio is None else f"{ratio:.2f}×",
            "**fastnn slower**" if ratio is not None and ratio < 1 else ""]


HEAD = ["suite", "params", "method", "fastnn µs", "reference µs", "reference / fastnn", "fastnn slower"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.tools.layer_peers", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suites", default=",".join(SUITES), help="comma-separated subset of %(default)s")
    p.add_argument("--dtypes", default=",".join(DTYPES), help="comma-separated subset of %(default)s")
    p.add_argument("--batches", default=",".join(BATCHES),
                   help="comma-separated subset of %(default)s (the asv layer suites' batches)")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_ROUNDS} rounds of {QUICK_MIN_SAMPLE_S} s samples instead of {ROUNDS} of "
                        f"{MIN_SAMPLE_S} s: a smoke run, noisier")
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds per row (default %d, %d with --quick)"
                   % (ROUNDS, QUICK_ROUNDS))
    p.add_argument("--threads", type=int, default=None,
                   help="threads for both, each through its own API (fastnn.set_num_threads; NumPy's BLAS "
                        "through threadpoolctl); default: each implementation's own default")
    args = p.parse_args(argv)
    report.check_choices(p, args, {"suites": list(SUITES), "dtypes": DTYPES, "batches": BATCHES})
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else ROUNDS
    if args.rounds < 1:
        p.error(f"--rounds must be >= 1, got {args.rounds}")
    return args


def main(argv=None):
    args = parse_args(argv)
    min_sample, settle = QUICK_MIN_SAMPLE_S if args.quick else MIN_SAMPLE_S, SETTLE_S
    classes = suite_classes(args.suites)
    started = time.perf_counter()
    cmd = "python -m benchmarks.tools.layer_peers " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"fastnn layers beside fastnn.reference, each in its own process: `{cmd.strip()}`")
    print()
    print(f"- machine: {report.cpu_name()}, {report.cores()} cores; load average at start: {report.load_average()}")
    print("- each implementation in a fresh process of its own for each parameter combination, in its own "
          "default configuration" + ("" if args.threads is None else
                                     f" but {args.threads} threads set through its own API")
          + f"; Python {platform.python_version()}")
    print(f"- the asv classes' own setup and time_* methods; median of {args.rounds} alternating rounds, "
          f"each sample a {settle} s pause, one untimed call, then >= {min_sample} s of calls; µs a call")
    print()
    print("| " + " | ".join(HEAD) + " |")
    print("|" + "|".join("---" if i < 3 else ("---:" if i < 6 else "---") for i in range(len(HEAD))) + "|")
    sys.stdout.flush()
    configs, slower, rows, skips = {}, [], 0, {}
    for name, cls in classes.items():
        for params in combinations(cls, args.dtypes, args.batches):
            medians, hellos, skipped = measure(name, params, args.threads, args.rounds, min_sample, settle)
            for impl, hello in hellos.items():
                configs.setdefault(impl, hello["config"])
            for method in medians or {m: {} for m in timed_methods_of(cls)}:
                cells = row(name, params, method, medians.get(method, {}))
                rows += 1
                if cells[-1]:
                    slower.append(" ".join(cells[:3]))
                print("| " + " | ".join(cells) + " |")
            sys.stdout.flush()
            for impl, why in skipped.items():
                skips.setdefault((name, impl, why), []).append(", ".join(f"{k}={v}" for k, v in params.items()))
    print()
    for (name, impl, why), where in skips.items():
        print(f"- {impl} skipped, as asv skips it ({why}): {name} " + "; ".join(where))
    for impl, config in configs.items():
        print(f"- {impl}: {config}")
    print()
    print(f"Load average at the end: {report.load_average()}; {time.perf_counter() - started:.0f} s. "
          "`reference / fastnn` > 1 means fastnn is faster. "
          f"fastnn slower in {len(slower)} of {rows} rows" + (": " + "; ".join(slower) if slower else "."))


if __name__ == "__main__":
    main()
