"""Data augmentation for image batches: seeded random shifts, small rotations and crops, as in the book's ch. 8.

``Augment(shift=2, rotate=10, crop=0, fill=0.0, seed=None)`` is called on a
mini-batch ``x`` of shape (N, C, H, W) — or (N, C·H·W) with
``image_shape=(C, H, W)`` — and returns a new batch in which every image is
moved by a whole number of pixels up to ``shift`` in each direction, turned
by an angle drawn uniformly from ±``rotate`` degrees about its centre, and
(``crop`` > 0) cut to a window ``crop`` pixels smaller in each direction,
at a random place, scaled back to H×W. Pixels that come from outside the
image take ``fill`` (the padding; 0 is the background of MNIST-like data).
A shift of up to ``s`` pixels is the crop with padding of common practice:
pad by ``s`` and cut an H×W window at a random place.

The draws come from ``seed`` (None, an int or a ``numpy.random.Generator``,
by fastnn's one seed rule), so a seeded run is reproducible; the generator
is ``rng`` and its state goes into the Trainer's checkpoints.

The resampling is ``augment_affine`` (the kernel ``fastnn.kernels.augment``,
its NumPy twin ``fastnn.reference.augment``); ``Trainer(..., augment=...)``
applies an ``Augment`` to each training mini-batch, never to the sets it
evaluates.
"""
from __future__ import annotations

import math

import numpy as np

from . import _runtime
from ._random import as_generator
from ._validate import as_float_array, check_scalar, describe_value
from .kernels import augment as augment_kernels

__all__ = ["Augment", "augment_affine", "parse_augment"]


def augment_affine(x, maps, fill=0.0):
    """Each image ``x[n]`` (N, C, H, W) resampled through the inverse affine map ``maps[n]`` (N, 6); a new array.

    See ``fastnn.kernels.augment`` for the map's form. float32 or float64,
    returned in ``x``'s dtype.
    """
    x = as_float_array(x, "x", ndim=4)
    maps = np.ascontiguousarray(np.asarray(maps, dtype=np.float64))
    if maps.shape != (x.shape[0], 6):
        raise ValueError(f"maps must have one row of 6 numbers per image: expected shape ({x.shape[0]}, 6), "
                         f"got {maps.shape}")
    if not np.all(np.isfinite(maps)):
        raise ValueError("maps holds NaN or infinite values")
    fill = check_scalar(fill, "fill")
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    if x.size:
        _runtime.elementwise_kernel(augment_kernels, "augment_affine", x.size)(x, maps, fill, out)
    return out


class Augment:
    """Random shift / rotation / crop of each image of a batch (see the module doc)."""

    def __init__(self, shift=0, rotate=0.0, crop=0, fill=0.0, *, image_shape=None, seed=None):
        self.shift = check_scalar(shift, "shift", integer=True, nonnegative=True)
        self.rotate = check_scalar(rotate, "rotate", nonnegative=True)
        if self.rotate > 180:
            raise ValueError(f"rotate is the largest angle in degrees, at most 180, got {rotate!r}")
        self.crop = check_scalar(crop, "crop", integer=True, nonnegative=True)
        self.fill = check_scalar(fill, "fill")
        if not (self.shift or self.rotate or self.crop):
            raise ValueError("Augment needs at least one of shift, rotate, crop > 0 (all are 0: it would do nothing)")
        self.image_shape = None
        if image_shape is not None:
            shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
            if shape is None or len(shape) != 3 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape):
                raise ValueError(f"image_shape must be (C, H, W) of positive ints, got {image_shape!r}")
            self.image_shape = tuple(int(s) for s in shape)
            self.check_images(self.image_shape[1:], f"image_shape {self.image_shape}")
        self.rng = as_generator(seed, "seed")

    def check_images(self, hw, name: str = "x") -> None:
        """Refuse a shift or crop that would leave nothing of an H×W image (``ValueError`` naming it)."""
        h, w = hw
        side = min(h, w)
        if self.shift >= side:
            raise ValueError(f"shift={self.shift} would move the whole {h}x{w} image of {name} out of view; "
                             f"give shift < {side} (a few pixels, e.g. shift=2)")
        if self.crop >= side:
            raise ValueError(f"crop={self.crop} would crop the whole {h}x{w} image of {name}; "
                             f"give crop < {side} (a few pixels, e.g. crop=4)")

    def _images(self, x, name):
        x = as_float_array(x, name, min_ndim=2)
        if x.ndim == 4:
            return x, None
        if x.ndim == 2 and self.image_shape is not None:
            c, h, w = self.image_shape
            if x.shape[1] != c * h * w:
                raise ValueError(f"{name} has {x.shape[1]} features per sample, but image_shape "
                                 f"{self.image_shape} holds {c * h * w}")
            return x.reshape(x.shape[0], c, h, w), x.shape
        raise ValueError(f"{name} must be a batch of images (N, C, H, W), or (N, C*H*W) with image_shape= "
                         f"given to Augment; got {describe_value(x)}")

    def check_input(self, x, name: str = "x_train") -> None:
        """Check once (the Trainer does, before training) that batches of ``x`` can be augmented."""
        images, _ = self._images(x[:1], name)
        self.check_images(images.shape[2:], name)

    def maps(self, n: int, h: int, w: int) -> np.ndarray:
        """Draw ``n`` inverse maps (N, 6) for H×W images: rotation and crop scale, then the offsets."""
        rng = self.rng
        angles = np.deg2rad(rng.uniform(-self.rotate, self.rotate, n)) if self.rotate else np.zeros(n)
        shifts = rng.integers(-self.shift, self.shift, size=(n, 2), endpoint=True) if self.shift \
            else np.zeros((n, 2), dtype=np.int64)
        if self.crop:
            sy, sx = (h - self.crop) / h, (w - self.crop) / w
            offsets = rng.uniform(-self.crop / 2, self.crop / 2, size=(n, 2))
        else:
            sy = sx = 1.0
            offsets = np.zeros((n, 2))
        cos, sin = np.cos(angles), np.sin(angles)
        out = np.empty((n, 6))
        out[:, 0], out[:, 1] = sy * cos, -sy * sin
        out[:, 2], out[:, 3] = sx * sin, sx * cos
        out[:, 4] = (h - 1) / 2 - shifts[:, 0] + offsets[:, 0]
        out[:, 5] = (w - 1) / 2 - shifts[:, 1] + offsets[:, 1]
        return out

    def __call__(self, x):
        """A new, augmented batch of the shape and dtype of ``x``."""
        images, flat_shape = self._images(x, "x")
        n, _, h, w = images.shape
        self.check_images((h, w))
        out = augment_affine(images, self.maps(n, h, w), self.fill)
        return out.reshape(flat_shape) if flat_shape is not None else out

    def __repr__(self) -> str:
        return f"Augment(shift={self.shift}, rotate={self.rotate:g}, crop={self.crop}, fill={self.fill:g})"


def parse_augment(text: str) -> dict:
    """``'shift=2,rotate=10'`` -> ``{'shift': 2, 'rotate': 10.0}`` (``ValueError`` naming the fault)."""
    form = "expected NAME=VALUE[,NAME=VALUE...] with names shift, rotate, crop, fill, such as shift=2,rotate=10"
    out = {}
    for item in str(text).split(","):
        name, eq, value = item.strip().partition("=")
        name = name.strip()
        if not eq or name not in ("shift", "rotate", "crop", "fill"):
            raise ValueError(f"{item.strip()!r}: {form}")
        if name in out:
            raise ValueError(f"{name} is given twice; {form}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{name}={value.strip()!r} is not a number; {form}") from None
        if name in ("shift", "crop"):
            if not (math.isfinite(number) and number.is_integer()):
                raise ValueError(f"{name} takes a whole number of pixels, got {value.strip()!r}")
            number = int(number)
        out[name] = number
    return out
