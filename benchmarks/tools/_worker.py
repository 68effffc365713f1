"""One subject of ``benchmarks.tools.report`` in a process of its own.

    python -m benchmarks.tools._worker IMPL NET DTYPE BATCH THREADS

IMPL is fastnn, reference, torch, or gemm (``np.dot`` of two 1024×1024
matrices); THREADS is ``default`` (the implementation's own default) or a
count, set through the implementation's own API. This process imports only
what its subject needs: the PyTorch worker never imports fastnn, the
reference worker never imports ``fastnn.layers`` (so NumPy keeps its own
BLAS threads), and nothing sets an environment variable.

Protocol, one JSON object a line: first the worker writes
``{"config": "...", "loaded": [...]}`` (which of fastnn, fastnn.layers
and torch it imported; or ``{"skip": "why"}`` and exits); then for each
``{"cmd": "sample", "number": n}`` read from stdin it runs one untimed call
and answers ``{"seconds": s}``, the mean of ``n`` timed calls.
"""
import json
import sys


def blas_threads():
    """The BLAS threads of this process as threadpoolctl sees them, for a worker's description."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "?"
    counts = sorted({lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"})
    return ",".join(map(str, counts)) or "?"


def build(impl, net, dtype, batch, threads):
    """(a call running one step of the subject, a line describing its configuration)."""
    import os

    omp = os.environ.get("OMP_WAIT_POLICY", "unset")
    if impl == "gemm":
        import numpy as np

        from .report import gemm_subject

        if threads is not None:
            from threadpoolctl import threadpool_limits
            threadpool_limits(limits=threads, user_api="blas")
        return gemm_subject(np, dtype), f"np.dot 1024³, BLAS threads {blas_threads()}"
    if impl == "torch":
        try:
            import torch
        except ImportError:
            raise NotImplementedError("PyTorch is not installed") from None
        from .._nets import batch_data
        from .._torchnets import TorchStep

        if threads is not None:
            torch.set_num_threads(threads)
        x, t = batch_data(net, dtype, batch)
        step = TorchStep(net, x, t, dtype)
        return step.step, (f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
                           f"OMP_WAIT_POLICY {omp}")
    from .._nets import make_step

    subject = make_step(impl, net, dtype, batch)
    if impl == "fastnn":
        import numba

        import fastnn

        if threads is not None:
            fastnn.set_num_threads(threads)
        subject.step()  # the thread policy applies on first use
        return subject.step, (f"fastnn {fastnn.__version__}, numba {numba.__version__} "
                              f"{numba.get_num_threads()} threads, BLAS threads {blas_threads()}, "
                              f"OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    if threads is not None:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=threads, user_api="blas")
    subject.step()
    return subject.step, f"NumPy, BLAS threads {blas_threads()}"


def main(argv=None):
    impl, net, dtype, batch, threads = sys.argv[1:] if argv is None else argv
    threads = None if threads == "default" else int(threads)
    try:
        step, config = build(impl, net, dtype, int(batch), threads)
    except NotImplementedError as exc:
        print(json.dumps({"skip": str(exc)}), flush=True)
        return
    step()  # compile or load kernels, allocate state
    loaded = sorted(m for m in ("fastnn", "fastnn.layers", "torch") if m in sys.modules)
    serve({"config": config, "loaded": loaded}, lambda command: step)


def serve(hello, call_for):
    """The worker's side of the protocol: ``hello`` first, then for each command read from stdin one
    untimed call of ``call_for(command)`` and ``{"seconds": s}``, the mean of ``number`` timed calls."""
    from .report import timed_calls

    print(json.dumps(hello), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        call = call_for(command)
        call()
        print(json.dumps({"seconds": timed_calls(call, int(command["number"]))}), flush=True)


if __name__ == "__main__":
    main()
