"""Mid-sized Affine products on one BLAS thread per numba thread (fastnn._threads.run_wide_product)."""
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import fastnn
import fastnn._threads as threads
from fastnn import reference as ref
from fastnn.layers import Affine

#: The MLPs' first layer at batch 100: (100, 784) x (784, 50), 3.9e6 multiply-adds.
N, D, M = 100, 784, 50


def _blas_threads():
    return fastnn.get_num_threads()["blas"]


@pytest.fixture
def policy_threads():
    """fastnn's default policy on 2 numba threads (other tests may have changed BLAS's counts); the
    numba thread count of before, with the default policy, restored after the test."""
    saved = numba.get_num_threads()
    fastnn.set_num_threads(2)
    yield
    fastnn.set_num_threads(saved)


def _run(code, env=None):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True).stdout


def test_the_mlp_first_layer_is_wide_and_a_100_wide_layer_is_not():
    assert N * D * M >= threads.WIDE_PRODUCT_MACS > 100 * 100 * 100


def test_wide_product_runs_on_the_numba_thread_count_and_restores_the_policy(policy_threads):
    if threads._numba_blas_setter is None:
        pytest.fail("fastnn did not load SciPy's OpenBLAS in the test process (was scipy.linalg imported first?)")
    assert max(threads.run_wide_product(_blas_threads)) == 2
    assert set(_blas_threads()) == {1}
    with pytest.raises(ZeroDivisionError):  # restored on the way out of a failing kernel, too
        threads.run_wide_product(lambda: 1 / 0)
    assert set(_blas_threads()) == {1}
    numba.set_num_threads(1)  # no more numba threads than BLAS threads: a plain call
    assert set(threads.run_wide_product(_blas_threads)) == {1}


def test_wide_affine_matches_the_reference_and_repeats_bit_for_bit(dtype, rng):
    x = rng.standard_normal((N, D)).astype(dtype)
    W = rng.standard_normal((D, M)).astype(dtype)
    b = rng.standard_normal(M).astype(dtype)
    dout = rng.standard_normal((N, M)).astype(dtype)
    runs = []
    for _ in range(2):
        layer = Affine(W, b)
        out = layer.forward(x)
        dx = layer.backward(dout)
        layer.input_grad = False  # the dW-only kernel, as a net's first layer runs it
        assert layer.backward(dout) is None
        runs.append((out, dx, layer.dW, layer.db))
    want_out = ref.affine_forward(x, W, b)
    want_dx, want_dW, want_db = ref.affine_backward(x, W, dout)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for got, want in zip(runs[0], (want_out, want_dx, want_dW, want_db)):
        np.testing.assert_allclose(got, want, **tol)
    for a, b_ in zip(*runs):
        np.testing.assert_array_equal(a, b_)


def test_fastnn_loads_scipy_blas_with_a_short_spin_and_leaves_the_environment_alone():
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "FASTNN_BLAS_THREADS")}
    code = ("import os, fastnn.layers, fastnn._threads as t; "
            "print(t._numba_blas_setter is not None, 'OPENBLAS_THREAD_TIMEOUT' in os.environ)")
    assert _run(code, env=env).split() == ["True", "False"]
    # SciPy's BLAS loaded before fastnn: its workers spin as OpenBLAS's default says, so no wide products
    assert _run("import scipy.linalg; " + code, env=env).split() == ["False", "False"]
    # BLAS left alone by the user's choice: no wide products either
    assert _run(code, env=dict(env, FASTNN_BLAS_THREADS="0")).split()[0] == "False"


def _train_two_layer_net(n_threads, wide_products):
    """Three Adam steps of TwoLayerNet(784, 50, 10) (its first layer is wide) at batch 100; returns the params."""
    from fastnn.nets import TwoLayerNet
    from fastnn.optimizer import Adam

    fastnn.set_num_threads(n_threads, wide_products=wide_products)
    data = np.random.default_rng(3)
    x = data.random((100, D))
    t = data.integers(0, 10, 100)
    net = TwoLayerNet(D, M, 10, seed=5)
    opt = Adam()
    for _ in range(3):
        opt.update(net.params, net.gradient(x, t))
    return {k: v.copy() for k, v in net.params.items()}


def test_without_wide_products_results_are_bit_identical_for_any_thread_count(policy_threads):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.fail("this check needs NUMBA_NUM_THREADS >= 2")
    one = _train_two_layer_net(1, wide_products=False)
    two = _train_two_layer_net(2, wide_products=False)
    for k in one:
        np.testing.assert_array_equal(one[k], two[k])
    wide = _train_two_layer_net(2, wide_products=True)  # the last bits may differ, the training may not
    for k in one:
        np.testing.assert_allclose(wide[k], one[k], rtol=1e-9, atol=1e-12)


def test_wide_products_can_be_turned_off_and_on_again(policy_threads):
    fastnn.set_num_threads(2, wide_products=False)
    assert set(threads.run_wide_product(_blas_threads)) == {1}
    fastnn.set_num_threads(2)
    assert max(threads.run_wide_product(_blas_threads)) == 2
    with pytest.raises(TypeError, match="wide_products must be True or False"):
        fastnn.set_num_threads(2, wide_products="no")
