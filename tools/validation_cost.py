"""Measure the share of a training step spent in fastnn's input validation.

    python tools/validation_cost.py [--net SimpleConvNet] [--batch 100] [--dtype float32] [--steps 30]

Every validation helper (``fastnn._validate``'s functions wherever they were
imported, the layers' ``_check_*`` methods, Affine's ``_contiguous_params``,
``util._window_geometry``, ``functions._as_targets``, the optimizers'
``_prepare``) is wrapped by a timer that counts only the outermost call
(nested checks are not counted twice). One step is ``net.gradient(x, t)``
followed by ``optimizer.update(net.params, grads)`` (SGD). Prints the median
time per step, the median time in the checks per step and their share
(medians, since a loaded machine makes single steps noisy).
"""
from __future__ import annotations

import argparse
import functools
import sys
import time

import numpy as np

import fastnn
from fastnn import _validate, nets, optimizer

_spent = [0.0]
_depth = [0]
_calls = [0]


_by_name: dict = {}


def _timed(fn):
    name = fn.__qualname__

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _depth[0]:
            return fn(*args, **kwargs)
        _depth[0] += 1
        _calls[0] += 1
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            dt = time.perf_counter() - t0
            _spent[0] += dt
            _by_name[name] = _by_name.get(name, 0.0) + dt
            _depth[0] -= 1
    wrapper.__wrapped_check__ = True
    return wrapper


def instrument() -> list:
    """Wrap every validation helper; return the names wrapped."""
    import fastnn.functions
    import fastnn.layers
    import fastnn.util
    names = []
    helpers = {getattr(_validate, n) for n in ("as_float_array", "as_labels", "check_shape", "check_scalar",
                                                "float_dtype")}
    helpers |= {fastnn.util._window_geometry, fastnn.functions._as_targets}
    for mod in [m for name, m in list(sys.modules.items()) if name.startswith("fastnn") and m is not None]:
        for attr, value in list(vars(mod).items()):
            if callable(value) and value in helpers:
                setattr(mod, attr, _timed(value))
                names.append(f"{mod.__name__}.{attr}")
    import inspect
    for mod in [m for name, m in list(sys.modules.items()) if name.startswith("fastnn") and m is not None]:
        for cls in [v for v in vars(mod).values() if inspect.isclass(v) and v.__module__ == mod.__name__]:
            for meth in ("_check_input", "_check_dout", "_check_params", "_contiguous_params", "_prepare"):
                if meth in vars(cls):
                    setattr(cls, meth, _timed(vars(cls)[meth]))
                    names.append(f"{cls.__module__}.{cls.__name__}.{meth}")
    return names


def make_net(kind, dtype):
    if kind == "SimpleConvNet":
        return nets.SimpleConvNet(dtype=dtype, seed=0), (1, 28, 28)
    if kind == "TwoLayerNet":
        return nets.TwoLayerNet(784, 50, 10, dtype=dtype, seed=0), (784,)
    return nets.MultiLayerNetExtend(784, [100] * 5, 10, use_batchnorm=True, dtype=dtype, seed=0), (784,)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", default="SimpleConvNet", choices=["SimpleConvNet", "TwoLayerNet", "MultiLayerNetExtend"])
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    if a.threads:
        fastnn.set_num_threads(a.threads)
    dtype = np.dtype(a.dtype)
    net, in_shape = make_net(a.net, dtype)
    rng = np.random.default_rng(0)
    x = rng.random((a.batch,) + in_shape).astype(dtype)
    t = rng.integers(0, 10, a.batch)
    opt = optimizer.SGD(lr=0.01)

    def step():
        opt.update(net.params, net.gradient(x, t))

    for _ in range(3):  # compile and warm up
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    plain = (time.perf_counter() - t0) / a.steps

    wrapped = instrument()
    step()
    _by_name.clear()
    _calls[0] = 0
    per_step, checks_per_step = [], []
    for _ in range(a.steps):
        _spent[0] = 0.0
        t0 = time.perf_counter()
        step()
        per_step.append(time.perf_counter() - t0)
        checks_per_step.append(_spent[0])
    total, checks = float(np.median(per_step)), float(np.median(checks_per_step))
    print(f"{a.net}, batch {a.batch}, {dtype}: step {plain * 1e3:.2f} ms mean uninstrumented, "
          f"{total * 1e3:.2f} ms median instrumented; checks {checks * 1e6:.1f} us/step median "
          f"({_calls[0] // a.steps} outermost calls/step) = {100 * checks / total:.3f}% of the step "
          f"(ratio of the sums: {100 * sum(checks_per_step) / sum(per_step):.3f}%)")
    print(f"wrapped {len(wrapped)} helpers; per step: "
          + ", ".join(f"{k} {v / a.steps * 1e6:.0f} us" for k, v in sorted(_by_name.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
