"""Where a dense net's training step goes: fastnn's kernels against the layer code around them.

    python -m benchmarks.tools.overhead [--quick] [--nets TwoLayerNet,MultiLayerNetExtend] [--dtypes float64]

Records the numba kernel calls of one fastnn training step (every function
of ``fastnn.kernels`` the step calls, with the very arrays and numbers it
passed), then times side by side, interleaved as in ``benchmarks.tools.report``:

* ``step``: the training step (forward, backward, Adam update);
* ``kernels``: the recorded calls replayed back to back — the same work
  with no layer, net or optimizer code, no validation, no Python objects;
* ``reference``: the NumPy reference's step.

``step - kernels`` is what the Python around the kernels costs, and
``reference / kernels`` the most a fastnn step could gain over the reference
with these kernels, were that Python free. Dense nets only: a Convolution
layer's GEMMs are BLAS calls made from its own threads, outside
``fastnn.kernels``, which a replay would miss.
"""
import argparse
import contextlib
import importlib
import pkgutil
import sys

from .report import DTYPES, blas_setters, check_choices, cores, format_ms, format_ratio, measure_config, set_thread_env

#: The nets whose whole step runs in ``fastnn.kernels`` (see the module docstring).
DENSE_NETS = ["TwoLayerNet", "MultiLayerNetExtend"]
BATCH = 100


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.tools.overhead", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    p.add_argument("--threads", type=int, default=cores(), help="as in benchmarks.tools.report (default %(default)s)")
    p.add_argument("--nets", default=",".join(DENSE_NETS), help="comma-separated subset of %(default)s")
    p.add_argument("--dtypes", default=",".join(DTYPES), help="comma-separated subset of %(default)s")
    args = p.parse_args(argv)
    check_choices(p, args, {"nets": DENSE_NETS, "dtypes": DTYPES})
    args.rounds = 3 if args.quick else 7
    return args


def _kernel_modules():
    import fastnn.kernels

    return [importlib.import_module(f"fastnn.kernels.{m.name}") for m in pkgutil.iter_modules(fastnn.kernels.__path__)]


@contextlib.contextmanager
def recording_kernel_calls(calls):
    """Within the block, every call of a ``fastnn.kernels`` function appends ``(kernel, args, product)`` to ``calls``.

    ``product`` is the (n, d, m) of the products the Affine layer ran on the
    wide-product BLAS threads (``fastnn._runtime.run_product``; None for the
    other kernels); ``replay`` runs them so again.
    The kernels are module attributes looked up at call time, so replacing
    them in their modules reaches every layer; all are put back on exit.
    """
    from numba.core.dispatcher import Dispatcher

    from fastnn import _runtime

    def recorder(kernel):
        def record(*args):
            calls.append((kernel, args, None))
            return kernel(*args)
        record.kernel = kernel
        return record

    run_product = _runtime.run_product

    def record_product(kernel, n, d, m, *args):
        kernel = getattr(kernel, "kernel", kernel)
        calls.append((kernel, args, (n, d, m) if n * d * m >= _runtime.WIDE_PRODUCT_MACS else None))
        return run_product(kernel, n, d, m, *args)

    replaced = [(_runtime, "run_product", run_product)]
    for module in _kernel_modules():
        replaced += [(module, name, obj) for name, obj in vars(module).items() if isinstance(obj, Dispatcher)]
    try:
        for module, name, obj in replaced[1:]:
            setattr(module, name, recorder(obj))
        _runtime.run_product = record_product
        yield calls
    finally:
        for module, name, obj in replaced:
            setattr(module, name, obj)


def replay(calls):
    """Run recorded kernel calls again, in order, as the step ran them."""
    from fastnn._runtime import run_product

    for kernel, args, product in calls:
        if product:
            run_product(kernel, *product, *args)
        else:
            kernel(*args)


def record_step(step):
    """The kernel calls of one ``step()`` (run twice before, so buffers and optimizer state exist)."""
    step()
    step()
    calls = []
    with recording_kernel_calls(calls):
        step()
    return calls


def main(argv=None):
    args = parse_args(argv)
    set_thread_env(args.threads)

    import fastnn.layers  # noqa: F401  (fastnn's thread policy, before the reference's BLAS is used)

    from .._common import pin_threads
    from .._nets import make_step

    threads = pin_threads("fastnn", args.threads)
    fastnn_blas, before = blas_setters(threads, ["step", "kernels"], ["reference"])

    cmd = "python -m benchmarks.tools.overhead " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"`{cmd.strip()}`")
    print(f"batch {BATCH}; median of {args.rounds} interleaved rounds, ms a step; "
          f"BLAS threads: {fastnn_blas} for fastnn (its policy), {threads} for the reference")
    print()
    print("| net | dtype | kernel calls | step ms | kernels ms | layer code ms | reference ms "
          "| reference / step | reference / kernels |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for net in args.nets:
        for dtype in args.dtypes:
            step = make_step("fastnn", net, dtype, BATCH).step
            calls = record_step(step)
            subjects = {"step": step, "kernels": lambda c=calls: replay(c),
                        "reference": make_step("reference", net, dtype, BATCH).step}
            med = measure_config(subjects, args.rounds, before=before)
            s, k, r = med["step"], med["kernels"], med["reference"]
            print(f"| {net} | {dtype} | {len(calls)} | {format_ms(s)} | {format_ms(k)} | {format_ms(s - k)} | {format_ms(r)} "
                  f"| {format_ratio(r, s)} | {format_ratio(r, k)} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
