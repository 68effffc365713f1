"""One implementation of one asv layer suite in a process of its own, for ``benchmarks.tools.layer_peers``.

    python -m benchmarks.tools._layer_worker IMPL MODULE.CLASS PARAMS THREADS

MODULE.CLASS names an asv suite of the ``benchmarks`` package
(``bench_layers.Affine``); PARAMS is a JSON object of its parameters but
``impl`` (``{"dtype": "float32", "batch": 100}``); IMPL is ``fastnn`` or
``reference``; THREADS is ``default`` or a count. For each of the suite's
``time_*`` methods the worker makes an instance of the asv class and calls
its ``setup`` with the parameters, as asv does, so it times what asv times.

What differs from the asv process is the configuration around it:

* the suites pin threads in ``setup`` (``benchmarks._common.pin_threads``,
  two by default, so that asv's figures compare across machines); here that
  call does nothing with THREADS ``default``, so each implementation keeps
  its own default (numba's threads and fastnn's BLAS policy; NumPy's BLAS
  threads), and with a count it pins that count through each one's own API
  (``fastnn.set_num_threads(n)``; NumPy's BLAS through threadpoolctl);
* the fastnn worker imports ``fastnn.layers``, as any program using fastnn
  does, so fastnn's host tuning applies (``fastnn._runtime``); the
  reference worker never imports it (``fastnn.reference`` depends on NumPy
  only), and ``layer_peers`` starts it with ``FASTNN_HOST_TUNING=0`` as
  well, so NumPy runs in its own default configuration.

Protocol, one JSON object a line (``benchmarks.tools._worker``'s): first
``{"config": "...", "loaded": [...], "host_tuning": bool, "pid": n,
"methods": [...]}`` (or ``{"skip": "why"}``, as asv skips a ``setup`` that
raises ``NotImplementedError``, and exits); then for each
``{"cmd": "sample", "method": "time_forward", "number": n}`` it runs one
untimed call and answers ``{"seconds": s}``, the mean of ``n`` timed calls.
"""
import importlib
import json
import os
import sys

#: Modules whose presence tells which configuration a worker ran in.
WATCHED = ("fastnn", "fastnn.layers", "fastnn._runtime", "scipy", "torch")


def host_tuning_applied():
    """Whether fastnn changed this process (malloc, SciPy's BLAS threads, numba's layer): ``fastnn._runtime``'s state."""
    runtime = sys.modules.get("fastnn._runtime")
    if runtime is None:
        return False
    return runtime.host_tuning_applied()


def own_threads(threads):
    """What a suite's ``pin_threads(impl)`` becomes here: nothing (``threads`` None: each implementation's
    own default), or ``threads`` pinned through the implementation's own API."""
    from .._common import pin_threads

    def pin(impl, n=None):
        return None if threads is None else pin_threads(impl, threads)

    return pin


def suite_class(name):
    """The asv class ``MODULE.CLASS`` of the ``benchmarks`` package."""
    module_name, cls_name = name.rsplit(".", 1)
    module = importlib.import_module(f"benchmarks.{module_name}")
    return module, getattr(module, cls_name)


def timed_methods_of(cls):
    """The suite's ``time_*`` methods, forward first."""
    return sorted((m for m in dir(cls) if m.startswith("time_")), key=lambda m: (m != "time_forward", m))


def setup_args(cls, impl, params):
    """The suite's parameters in ``param_names`` order, ``impl`` included."""
    values = dict(params, impl=impl)
    missing = set(cls.param_names) - set(values)
    if missing or len(values) != len(cls.param_names):
        raise ValueError(f"{cls.__name__} takes the parameters {cls.param_names}, got {sorted(values)}")
    return [values[n] for n in cls.param_names]


def config_line(impl):
    from ._worker import blas_threads

    tuning = "on" if host_tuning_applied() else "off"
    if impl == "fastnn":
        import numba

        import fastnn

        threads = fastnn.get_num_threads()
        return (f"fastnn {fastnn.__version__}, numba {numba.__version__} {threads['numba']} threads, "
                f"BLAS threads {blas_threads()}, host tuning {tuning}")
    import numpy as np

    layers = "loaded" if "fastnn.layers" in sys.modules else "not loaded"
    return (f"NumPy {np.__version__}, BLAS threads {blas_threads()}, fastnn.layers {layers}, "
            f"host tuning {tuning}")


def build(impl, suite, params, threads):
    """({method: a call of it on its own set-up instance}, hello line)."""
    if impl == "fastnn":
        import fastnn.layers  # noqa: F401  (what a program using fastnn imports: its host tuning applies)
    module, cls = suite_class(suite)
    if hasattr(module, "pin_threads"):
        module.pin_threads = own_threads(threads)
    args = setup_args(cls, impl, params)
    calls = {}
    for method in timed_methods_of(cls):
        bench = cls()   # one instance per method, as asv sets each benchmark up on its own
        bench.setup(*args)
        bound = getattr(bench, method)
        calls[method] = lambda bound=bound: bound(*args)
    loaded = sorted(m for m in WATCHED if m in sys.modules)
    return calls, {"config": config_line(impl), "loaded": loaded, "host_tuning": host_tuning_applied(),
                   "pid": os.getpid(), "methods": list(calls)}


def main(argv=None):
    impl, suite, params, threads = sys.argv[1:] if argv is None else argv
    threads = None if threads == "default" else int(threads)
    try:
        calls, hello = build(impl, suite, json.loads(params), threads)
    except NotImplementedError as exc:
        print(json.dumps({"skip": str(exc)}), flush=True)
        return
    from ._worker import serve

    serve(hello, lambda command: calls[command["method"]])


if __name__ == "__main__":
    main()
