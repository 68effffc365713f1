"""Augmentation of a training batch (``fastnn.augment``): the numba kernel vs its NumPy twin.

MNIST-shaped images (1×28×28), a shift of up to 2 pixels and a rotation of
up to 10 degrees, the maps drawn once in ``setup``. ``fastnn`` times
``augment_affine`` (validation included), ``reference`` the twin in
``fastnn.reference.augment``; ``Augment`` adds the draws of the maps.
"""
from ._common import DTYPES, IMPLS, LAYER_BATCHES, pin_threads


class AugmentAffine:
    """One batch resampled through its per-image affine maps."""

    param_names = ["impl", "dtype", "batch"]
    params = [IMPLS, DTYPES, LAYER_BATCHES]

    def setup(self, impl, dtype, batch):
        import numpy as np

        from fastnn import reference
        from fastnn.augment import Augment, augment_affine

        pin_threads("fastnn")
        self.x = np.random.default_rng(0).random((batch, 1, 28, 28)).astype(dtype)
        self.maps = Augment(shift=2, rotate=10, seed=0).maps(batch, 28, 28)
        self.run = augment_affine if impl == "fastnn" else reference.augment_affine
        self.run(self.x, self.maps)

    def time_augment(self, impl, dtype, batch):
        self.run(self.x, self.maps)
