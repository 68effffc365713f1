"""Shared fixtures. numba's cache dir is set by .ci/run (a fresh one per CI run)."""
import numpy as np
import pytest


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    """Run a test in both float dtypes every kernel must support."""
    return np.dtype(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)

