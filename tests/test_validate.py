"""The validation layer every public entry point goes through."""
import numpy as np
import pytest

from fastnn._validate import as_float_array, as_labels, check_scalar, check_shape, float_dtype


def test_as_float_array_keeps_float_and_makes_contiguous():
    x = np.arange(12.0).reshape(3, 4)[:, ::2]
    out = as_float_array(x, "x")
    assert out.flags.c_contiguous and out.dtype == np.float64
    np.testing.assert_array_equal(out, x)
    same = np.ones((2, 2), np.float32)
    assert as_float_array(same, "x") is same


def test_as_float_array_converts_dtype_and_odd_floats():
    assert as_float_array(np.ones(3, np.float16), "x").dtype == np.float64
    assert as_float_array(np.ones(3), "x", dtype=np.float32).dtype == np.float32
    assert as_float_array([1, 2], "x", allow_int=True).dtype == np.float64
    assert as_float_array(np.float64(2.0), "x").shape == ()


@pytest.mark.parametrize("bad", [np.array([1, 2]), np.array(["a"]), np.array([None], dtype=object),
                                 np.array([1j]), "abc", {"a": 1}])
def test_as_float_array_rejects_non_floats(bad):
    with pytest.raises(TypeError, match="weights must be"):
        as_float_array(bad, "weights")


def test_as_float_array_shape_rules():
    with pytest.raises(ValueError, match="x must be 2-D or 4-D, got shape"):
        as_float_array(np.ones(3), "x", ndim=(2, 4))
    with pytest.raises(ValueError, match="at least 2"):
        as_float_array(np.ones(3), "x", min_ndim=2)
    with pytest.raises(ValueError, match="must not be empty"):
        as_float_array(np.ones((0, 3)), "x")
    assert as_float_array(np.ones((0, 3)), "x", allow_empty=True).shape == (0, 3)


def test_check_shape():
    check_shape(np.ones((2, 3)), (2, None), "W")
    with pytest.raises(ValueError, match=r"W must have shape \(2, \*\), got \(3, 3\)"):
        check_shape(np.ones((3, 3)), (2, None), "W")
    with pytest.raises(ValueError, match=r"b must have shape \(4,\)"):
        check_shape(np.ones(3), (4,), "b")


@pytest.mark.parametrize("t", [np.array([2, 0, 1]), np.array([[2], [0], [1]]),
                               np.eye(3)[[2, 0, 1]], np.array([2.0, 0.0, 1.0])])
def test_as_labels_accepts_the_books_forms(t):
    labels = as_labels(t, 3, 3)
    assert labels.dtype == np.intp
    np.testing.assert_array_equal(labels, [2, 0, 1])


def test_as_labels_single_sample_forms():
    np.testing.assert_array_equal(as_labels(np.array([[1]]), 1, 4), [1])
    np.testing.assert_array_equal(as_labels(np.array(3), 1, 4), [3])
    np.testing.assert_array_equal(as_labels(np.array([0, 0, 1, 0.0]), 1, 4), [2])


@pytest.mark.parametrize("t, msg", [
    (np.array([0, 3]), r"labels in \[0, 3\)"),
    (np.array([-1, 0]), r"labels in \[0, 3\)"),
    (np.array([0, 1, 2]), "labels of shape"),
    (np.array([0.5, 1.0]), "not whole numbers"),
    (np.array([[0, 1], [1, 0]]), "labels of shape"),
])
def test_as_labels_rejects(t, msg):
    with pytest.raises(ValueError, match=msg):
        as_labels(t, 2, 3)
    with pytest.raises(TypeError, match="t must"):
        as_labels(np.array(["a", "b"]), 2, 3)


def test_check_scalar():
    assert check_scalar(0.1, "lr", positive=True) == 0.1
    assert check_scalar(np.float32(0.5), "lr") == 0.5
    assert check_scalar(3, "n", integer=True) == 3
    for bad, exc in [(float("nan"), ValueError), (float("inf"), ValueError), (-1.0, ValueError),
                     (0.0, ValueError), ("0.1", TypeError), (True, TypeError), (None, TypeError)]:
        with pytest.raises(exc, match="lr must"):
            check_scalar(bad, "lr", positive=True)
    with pytest.raises(TypeError, match="integer"):
        check_scalar(1.5, "n", integer=True)
    with pytest.raises(ValueError, match="< 1"):
        check_scalar(1.0, "ratio", below=1)


def test_float_dtype():
    assert float_dtype("float32") == np.float32
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        float_dtype(np.int32)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        float_dtype("nonsense")


# -- the fast paths (the common case checked first) give what the general path gives ----------------

@pytest.mark.parametrize("labels,n_classes", [
    ([0, 1, 2, 2], 3), ([0, 0, 0], 1), ([], 3), ([5], 10), ([9, 0], 10),
])
def test_as_labels_intp_in_range_returns_a_copy(labels, n_classes):
    t = np.array(labels, dtype=np.intp)
    out = as_labels(t, t.size, n_classes)
    assert out is not t and out.dtype == np.intp and out.flags.c_contiguous
    np.testing.assert_array_equal(out, t)
    strided = np.repeat(t, 2)[::2]
    np.testing.assert_array_equal(as_labels(strided, t.size, n_classes), t)


@pytest.mark.parametrize("labels,n_classes,message", [
    ([0, -1, 2], 3, r"labels in \[0, 3\), got values from -1 to 2"),
    ([0, 3, 2], 3, r"labels in \[0, 3\), got values from 0 to 3"),
    ([np.iinfo(np.intp).min, 0], 3, r"labels in \[0, 3\)"),
    ([0, 0], 0, r"labels in \[0, 0\)"),
])
def test_as_labels_out_of_range_intp_raises_as_before(labels, n_classes, message):
    with pytest.raises(ValueError, match=message):
        as_labels(np.array(labels, dtype=np.intp), len(labels), n_classes)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_as_float_array_returns_the_array_itself_when_nothing_is_needed(dtype):
    x = np.ones((3, 4), dtype=dtype)
    assert as_float_array(x, "x") is x
    assert as_float_array(x, "x", dtype=np.dtype(dtype), ndim=(2, 4), min_ndim=2) is x
    assert as_float_array(x, "x", dtype=np.dtype(dtype), ndim=2) is x
    with pytest.raises(ValueError, match=r"x must be 1-D or 4-D, got shape \(3, 4\)"):
        as_float_array(x, "x", ndim=(1, 4))
    with pytest.raises(ValueError, match=r"x must be 3-D, got shape \(3, 4\)"):
        as_float_array(x, "x", ndim=3)
    with pytest.raises(ValueError, match="at least 3 dimension"):
        as_float_array(x, "x", min_ndim=3)
    with pytest.raises(ValueError, match="must not be empty"):
        as_float_array(np.ones((0, 4), dtype=dtype), "x")
    other = np.float64 if dtype == np.float32 else np.float32
    y = as_float_array(x, "x", dtype=np.dtype(other))
    assert y.dtype == other and y is not x
    f = np.asfortranarray(np.arange(12.0).reshape(3, 4)).astype(dtype, order="F")
    g = as_float_array(f, "x", ndim=2)
    assert g.flags.c_contiguous and g is not f
    np.testing.assert_array_equal(g, f)
    swapped = x.astype(x.dtype.newbyteorder())
    s = as_float_array(swapped, "x")
    np.testing.assert_array_equal(s, x)


class _CheckedPath(np.ndarray):
    """Fails the fast paths' ``type(x) is np.ndarray`` test: the general path, as benchmarks' Validation."""


@pytest.mark.parametrize("x, kwargs", [
    (np.ones((3, 4)), {"ndim": 3}),
    (np.ones((3, 4)), {"min_ndim": 3}),
    (np.ones((0, 4)), {}),
    (np.ones((3, 4), dtype=np.int64), {}),
    (np.ones((3, 4), dtype=np.complex128), {"allow_int": True}),
])
def test_as_float_array_fails_alike_on_the_fast_and_the_general_path(x, kwargs):
    errors = []
    for arr in (x, x.view(_CheckedPath)):
        with pytest.raises((TypeError, ValueError)) as info:
            as_float_array(arr, "x", **kwargs)
        errors.append((info.type, str(info.value).replace("_CheckedPath", "ndarray")))
    assert errors[0] == errors[1]
