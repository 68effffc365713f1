"""Helpers to check numbers: dtype-aware closeness and backprop-vs-numerical gradient checks.

Used by fastnn's own tests and offered to users who write their own layers
(the book's chapter 5 "gradient check", made reusable).
"""
from __future__ import annotations

import numpy as np

from .gradient import numerical_gradient

__all__ = ["TOLERANCES", "assert_allclose_dtype", "relative_error", "layer_gradient_errors"]

#: (rtol, atol-relative-to-scale) by dtype: how close a kernel must be to the reference.
TOLERANCES = {
    np.dtype(np.float64): (1e-10, 1e-12),
    np.dtype(np.float32): (1e-4, 1e-5),
}


def assert_allclose_dtype(actual, desired, dtype=None, err_msg=""):
    """Assert ``actual`` ≈ ``desired`` to the tolerance of ``dtype`` (default: ``actual``'s).

    The absolute tolerance scales with the largest magnitude in ``desired``,
    so sums that cancel are judged against the size of their terms. Also
    asserts that the shapes are equal and that ``actual`` has that dtype.
    """
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    dtype = np.dtype(dtype or actual.dtype)
    assert actual.dtype == dtype, f"dtype {actual.dtype}, expected {dtype}. {err_msg}"
    assert actual.shape == desired.shape, f"shape {actual.shape}, expected {desired.shape}. {err_msg}"
    rtol, atol_rel = TOLERANCES[dtype]
    scale = float(np.max(np.abs(desired))) if desired.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol_rel * max(scale, 1.0),
                               err_msg=err_msg)


def relative_error(a, b) -> float:
    """‖a − b‖ / max(‖a‖ + ‖b‖, 1e-300): 0 for equal arrays, ~1 for unrelated ones."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def layer_gradient_errors(layer, x, forward_kwargs=None, seed=0, h=1e-5) -> dict:
    """Compare a layer's backward pass with numerical gradients; return relative errors.

    The scalar checked is ``sum(forward(x) * R)`` for a fixed random ``R``, so
    ``backward(R)`` must give its gradient. Returns ``{'x': err, 'W': err, ...}``
    for the input and every parameter in ``layer.param_names``. Use float64.
    Layers with randomness (Dropout) must be made deterministic first (a fixed
    mask or seed), since ``forward`` runs many times.
    """
    forward_kwargs = forward_kwargs or {}
    x = np.array(x, dtype=np.float64)
    r = np.random.default_rng(seed).standard_normal(np.shape(layer.forward(x, **forward_kwargs)))

    def f(_):
        return float(np.sum(layer.forward(x, **forward_kwargs) * r))

    analytic = {"x": np.array(layer.backward(r.copy()))}  # backward right after the forward above
    for name in layer.param_names:
        analytic[name] = np.array(getattr(layer, "d" + name))
    errors = {"x": relative_error(analytic["x"], numerical_gradient(f, x, h=h))}
    for name in layer.param_names:
        errors[name] = relative_error(analytic[name], numerical_gradient(f, getattr(layer, name), h=h))
    return errors
