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
