"""fastnn.augment: the kernel against its NumPy twin, what each transform does, seeds, and refused input."""
import numpy as np
import pytest
from fastnn.kernels import augment as K

from fastnn import reference
from fastnn.augment import Augment, augment_affine, parse_augment


def random_maps(rng, n, h, w):
    a = Augment(shift=2, rotate=30, crop=2, seed=rng)
    return a.maps(n, h, w)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("shape", [(1, 1, 5, 7), (3, 2, 9, 4), (4, 3, 11, 11), (2, 1, 28, 28)])
def test_kernel_matches_reference(dtype, tol, shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    maps = random_maps(rng, shape[0], *shape[2:])
    want = reference.augment_affine(x, maps, fill=0.5)
    for kernel in (K.augment_affine, K.augment_affine_parallel):
        out = np.empty_like(x)
        kernel(x, maps, 0.5, out)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(augment_affine(x, maps, 0.5), want, rtol=tol, atol=tol)


def test_integer_shift_moves_pixels_exactly_and_pads_with_fill():
    x = np.arange(2 * 1 * 4 * 5, dtype=np.float32).reshape(2, 1, 4, 5)
    identity = np.array([[1, 0, 0, 1, 1.5, 2.0]] * 2)          # cy = 1.5, cx = 2
    np.testing.assert_array_equal(augment_affine(x, identity), x)
    down_right = identity.copy()
    down_right[:, 4] -= 1                                     # content moves down one row
    down_right[:, 5] -= 2                                     # and right two columns
    out = augment_affine(x, down_right, fill=-1)
    np.testing.assert_array_equal(out[:, :, 1:, 2:], x[:, :, :-1, :-2])
    assert np.all(out[:, :, 0, :] == -1) and np.all(out[:, :, :, :2] == -1)


def test_rotation_by_90_degrees_turns_the_image():
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5))
    a = Augment(rotate=90, seed=0)
    theta = np.pi / 2
    maps = np.array([[np.cos(theta), -np.sin(theta), np.sin(theta), np.cos(theta), 2.0, 2.0]])
    out = augment_affine(x, maps)
    np.testing.assert_allclose(out, np.rot90(x, k=-1, axes=(2, 3)), atol=1e-12)
    assert a.maps(4, 5, 5).shape == (4, 6)


def test_augment_is_seeded_varies_per_image_and_keeps_shape_and_dtype():
    x = np.random.default_rng(1).random((8, 1, 12, 12)).astype(np.float32)
    a, b = Augment(shift=2, rotate=10, crop=2, seed=3), Augment(shift=2, rotate=10, crop=2, seed=3)
    out_a, out_b = a(x), b(x)
    np.testing.assert_array_equal(out_a, out_b)
    assert out_a.shape == x.shape and out_a.dtype == np.float32
    assert not np.array_equal(a(x), out_a)                   # the next batch draws anew
    assert not np.allclose(out_a[0], x[0])
    flat = Augment(shift=1, image_shape=(1, 12, 12), seed=3)
    assert flat(x.reshape(8, -1)).shape == (8, 144)


def test_shift_only_never_changes_pixel_values_only_their_place():
    x = np.random.default_rng(2).random((16, 1, 10, 10))
    out = Augment(shift=3, seed=0)(x)
    for img, src in zip(out[:, 0], x[:, 0]):
        inner = img[img != 0]
        assert np.all(np.isin(inner, src))


@pytest.mark.parametrize("kwargs,match", [
    (dict(shift=-1), "shift must be >= 0"),
    (dict(shift=1.5), "shift must be an integer"),
    (dict(rotate=200), "rotate is the largest angle in degrees, at most 180"),
    (dict(), "Augment needs at least one of shift, rotate, crop > 0"),
    (dict(shift=1, image_shape=(28, 28)), r"image_shape must be \(C, H, W\)"),
    (dict(crop=28, image_shape=(1, 28, 28)), r"crop=28 would crop the whole 28x28 image of image_shape \(1, 28, 28\); give crop < 28"),
])
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Augment(**kwargs)


def test_whole_image_crop_or_shift_refused_at_call():
    with pytest.raises(ValueError, match="shift=8 would move the whole 8x9 image of x out of view; give shift < 8"):
        Augment(shift=8)(np.zeros((2, 1, 8, 9)))
    with pytest.raises(ValueError, match="x must be a batch of images"):
        Augment(shift=1)(np.zeros((2, 64)))
    with pytest.raises(ValueError, match=r"maps must have one row of 6 numbers per image: expected shape \(2, 6\)"):
        augment_affine(np.zeros((2, 1, 4, 4)), np.zeros((3, 6)))


def test_parse_augment():
    assert parse_augment("shift=2,rotate=10") == {"shift": 2, "rotate": 10.0}
    assert parse_augment("crop=4") == {"crop": 4}
    with pytest.raises(ValueError, match="'zoom=2': expected NAME=VALUE"):
        parse_augment("zoom=2")
    with pytest.raises(ValueError, match="shift takes a whole number of pixels"):
        parse_augment("shift=1.5")
    with pytest.raises(ValueError, match="rotate='ten' is not a number"):
        parse_augment("rotate=ten")
