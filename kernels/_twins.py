"""Compile one ``prange`` loop twice: a serial kernel and a parallel one.

A ``parallel=True`` kernel costs a thread-team launch on every call, even on
one thread, and more when the caller switches numba's thread count around
the call (libgomp rebuilds its team); for a small array that launch costs
more than the loop. Small arrays (most parameters and activations of an
MLP) therefore go to a serial build of the same loop, large ones to the
parallel build (benchmark: ``bench_layers.Activation`` at batch 1 and 100;
figures in ``benchmarks/README.md``).

``serial_and_parallel(func, **options)`` returns both: ``njit(cache=True)``
of ``func`` (where ``prange`` is plain ``range``) and ``njit(parallel=True,
cache=True)`` of a copy of ``func`` named ``<name>_parallel``. The copy has a
name of its own because numba's disk cache is keyed by the function's
qualified name and line: two builds of one function object would overwrite
each other's cache entries.
"""
import types

from ._jit import njit


def serial_and_parallel(func, **options):
    """(serial dispatcher, parallel dispatcher) of ``func``; ``options`` go to both ``njit`` calls."""
    twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + "_parallel",
                              func.__defaults__, func.__closure__)
    twin.__qualname__ = func.__qualname__ + "_parallel"
    twin.__doc__ = func.__doc__
    return njit(cache=True, **options)(func), njit(parallel=True, cache=True, **options)(twin)
