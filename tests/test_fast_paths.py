"""The validation helpers' fast paths (the common case checked first) give what the general path gives."""
import numpy as np
import pytest

from fastnn._validate import as_float_array, as_labels


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
