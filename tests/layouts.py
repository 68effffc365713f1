"""Memory layouts for tests: the same values Fortran-ordered, strided, read-only, offset, or in the other float dtype.

Imported by name (tests/ is on pytest's pythonpath).
"""
import numpy as np

LAYOUTS = ["fortran", "strided", "readonly", "offset_view", "other_float"]


def relayout(arr, how):
    """``arr``'s values in another layout; 'other_float' gives the other float dtype (exactly representable)."""
    if how == "fortran":
        out = np.asfortranarray(arr)
        assert arr.ndim < 2 or not out.flags.c_contiguous
        return out
    if how == "strided":
        big = np.full(arr.shape[:-1] + (arr.shape[-1] * 3,), 7.0, dtype=arr.dtype)
        big[..., 1::3] = arr
        out = big[..., 1::3]
        assert not out.flags.c_contiguous
        return out
    if how == "readonly":
        out = arr.copy()
        out.flags.writeable = False
        return out
    if how == "offset_view":
        flat = np.full(arr.size + 5, 7.0, dtype=arr.dtype)
        flat[2:-3] = arr.ravel()
        return flat[2:-3].reshape(arr.shape)
    if how == "other_float":
        return arr.astype(np.float64 if arr.dtype == np.float32 else np.float32)
    raise AssertionError(how)


def exact_values(rng, shape, dtype, scale=1.0):
    """Random values exactly representable in float32 (so a dtype round trip keeps them), as ``dtype``."""
    return (rng.standard_normal(shape) * scale).astype(np.float32).astype(dtype)


def _frozen(*arrays):
    return [(a, a.copy()) for a in arrays]


def _assert_untouched(frozen):
    for a, before in frozen:
        np.testing.assert_array_equal(a, before, err_msg="the caller's array was written through")


def _assert_identical(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
