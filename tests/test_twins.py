"""fastnn.kernels._twins: each element-wise kernel has a serial and a parallel build, cached apart."""
import os
import subprocess
import sys

import pytest
from fastnn.kernels import activation as KA
from fastnn.kernels import augment as KAug
from fastnn.kernels import dropout as KD
from fastnn.kernels import optim as KO

NAMES = [(KA, n) for n in ("relu_forward", "relu_backward", "sigmoid_forward", "sigmoid_backward")] + \
        [(KO, n) for n in ("sgd_update", "momentum_update", "nesterov_update", "adagrad_update",
                           "rmsprop_update", "adam_update")] + \
        [(KD, n) for n in ("dropout_forward_train", "dropout_forward_infer", "dropout_backward")] + \
        [(KAug, "augment_affine")]


@pytest.mark.parametrize("module,name", NAMES, ids=[n for _, n in NAMES])
def test_serial_and_parallel_builds(module, name):
    serial, parallel = getattr(module, name), getattr(module, name + "_parallel")
    assert not serial.targetoptions.get("parallel")
    assert parallel.targetoptions.get("parallel")
    assert parallel.py_func.__qualname__ == name + "_parallel"
    assert parallel.py_func.__code__ is serial.py_func.__code__  # one loop, written once


PROBE = """
import numpy as np
from fastnn.kernels import activation as activation_kernels
x = np.linspace(-1, 1, 1001)
a, b = np.empty_like(x), np.empty_like(x)
ma, mb = np.empty(x.size, np.bool_), np.empty(x.size, np.bool_)
activation_kernels.relu_forward(x, a, ma)
activation_kernels.relu_forward_parallel(x, b, mb)
assert np.array_equal(a, np.maximum(x, 0)) and np.array_equal(a, b) and np.array_equal(ma, mb)
print(activation_kernels.relu_forward.stats.cache_hits.get(activation_kernels.relu_forward.signatures[0], 0),
      activation_kernels.relu_forward_parallel.stats.cache_hits.get(activation_kernels.relu_forward_parallel.signatures[0], 0),
      activation_kernels.relu_forward_parallel.targetoptions.get("parallel"))
"""


def test_builds_are_cached_apart_and_reloaded(tmp_path):
    """A second process loads both builds from numba's disk cache, each its own (not one for both)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
            .stdout.split() for _ in range(2)]
    assert runs[0] == ["0", "0", "True"]
    assert runs[1] == ["1", "1", "True"]
    files = {f.split("-")[0] for f in os.listdir(next(tmp_path.rglob("activation*")).parent) if f.endswith(".nbi")}
    assert {"activation.relu_forward", "activation.relu_forward_parallel"} <= files, files
