"""fastnn._random.as_generator, the one seed rule, and the public APIs that take ``seed=`` through it."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastnn._random import as_generator, global_random_state
from fastnn.layers import Dropout
from fastnn.nets import MultiLayerNetExtend, TwoLayerNet
from fastnn.trainer import Trainer


def test_an_int_gives_a_fresh_default_rng_and_a_generator_itself():
    a, b = as_generator(5), as_generator(np.int64(5))
    assert isinstance(a, np.random.Generator) and a is not b
    np.testing.assert_array_equal(a.random(4), np.random.default_rng(5).random(4))
    np.testing.assert_array_equal(b.random(4), np.random.default_rng(5).random(4))
    g = np.random.default_rng(0)
    assert as_generator(g) is g and as_generator(g, legacy=True) is g
    ss = np.random.SeedSequence(3)
    np.testing.assert_array_equal(as_generator(ss).random(2), np.random.default_rng(np.random.SeedSequence(3)).random(2))


def test_none_is_fresh_entropy_or_numpys_global_generator_where_the_book_draws_from_it():
    fresh = as_generator(None)
    assert isinstance(fresh, np.random.Generator) and fresh is not as_generator(None)
    assert as_generator(None, legacy=True) is global_random_state()
    np.random.seed(11)
    drawn = as_generator(None, legacy=True).random(3)
    np.random.seed(11)
    np.testing.assert_array_equal(drawn, np.random.rand(3))


@pytest.mark.parametrize("bad, error, match", [
    (-1, ValueError, "seed must be a non-negative integer, got -1"),
    (1.5, TypeError, "seed must be None, a non-negative int or a numpy.random.Generator, got 1.5"),
    (True, TypeError, "got True"),
    ("7", TypeError, "got '7'"),
    (np.random.RandomState(0), TypeError, "legacy RandomState is not accepted here"),
])
def test_anything_else_is_a_clear_error(bad, error, match):
    with pytest.raises(error, match=match):
        as_generator(bad)


def test_the_argument_name_is_in_the_message_and_a_randomstate_passes_where_legacy():
    with pytest.raises(ValueError, match="rng must be a non-negative integer"):
        as_generator(-3, "rng")
    rs = np.random.RandomState(0)
    assert as_generator(rs, legacy=True) is rs


def test_dropout_rng_is_public_and_follows_the_rule():
    assert Dropout(0.5).rng is global_random_state()
    g = np.random.default_rng(1)
    assert Dropout(0.5, seed=g).rng is g
    x = np.ones((4, 6))
    a, b = Dropout(0.5, seed=9), Dropout(0.5, seed=9)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        Dropout(0.5, seed=-2)
    with pytest.raises(TypeError, match="seed must be None, a non-negative int"):
        Dropout(0.5, seed=0.5)


def test_nets_with_seed_none_follow_np_random_seed_and_ints_are_private():
    np.random.seed(3)
    a = TwoLayerNet(4, 5, 3)
    np.random.seed(3)
    b = TwoLayerNet(4, 5, 3)
    np.random.seed(3)
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    np.testing.assert_array_equal(a.params["W1"], 0.01 * np.random.randn(4, 5))   # the book's draw
    state = np.random.get_state()
    c = TwoLayerNet(4, 5, 3, seed=8)
    assert np.random.get_state()[1].tolist() == state[1].tolist()                 # the global one untouched
    np.testing.assert_array_equal(c.params["W1"], TwoLayerNet(4, 5, 3, seed=8).params["W1"])
    with pytest.raises(TypeError, match="seed must be None, a non-negative int"):
        TwoLayerNet(4, 5, 3, seed="x")


def test_a_seeded_net_gives_its_dropout_layers_private_generators():
    net = MultiLayerNetExtend(6, [5], 3, use_dropout=True, seed=4)
    rngs = [layer.rng for layer in net.layers.values() if isinstance(layer, Dropout)]
    assert rngs and all(isinstance(r, np.random.Generator) for r in rngs)
    assert all(r is not global_random_state() for r in rngs)
    book = MultiLayerNetExtend(6, [5], 3, use_dropout=True)
    assert all(layer.rng is global_random_state() for layer in book.layers.values() if isinstance(layer, Dropout))


def test_trainer_seed_goes_through_the_rule():
    net = TwoLayerNet(4, 5, 3, seed=0)
    x, t = np.zeros((10, 4)), np.zeros(10, dtype=int)
    trainer = Trainer(net, x, t, x, t, epochs=1, mini_batch_size=5, verbose=False, seed=12)
    np.testing.assert_array_equal(trainer.rng.random(3), np.random.default_rng(12).random(3))
    assert isinstance(Trainer(net, x, t, x, t, verbose=False).rng, np.random.Generator)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        Trainer(net, x, t, x, t, verbose=False, seed=-1)
    with pytest.raises(TypeError, match="legacy RandomState is not accepted"):
        Trainer(net, x, t, x, t, verbose=False, seed=np.random.RandomState(0))


TRAIN_SCRIPT = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    from fastnn import nets, optimizer
    steps = int(sys.argv[1])
    if len(sys.argv) > 2:
        import fastnn
        fastnn.set_num_threads(int(sys.argv[2]))

    def train(kind, dtype):
        data = np.random.default_rng(11)
        if kind == "TwoLayerNet":
            net = nets.TwoLayerNet(20, 16, 5, dtype=dtype, seed=4)
            x = data.standard_normal((32, 20))
        elif kind == "MultiLayerNetExtend":
            net = nets.MultiLayerNetExtend(20, [16, 12], 5, use_dropout=True, dropout_ration=0.3,
                                           use_batchnorm=True, dtype=dtype, seed=4)
            x = data.standard_normal((32, 20))
        else:
            net = nets.SimpleConvNet((2, 10, 10), {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 1},
                                     hidden_size=12, output_size=5, dtype=dtype, seed=4)
            x = data.standard_normal((32, 2, 10, 10))
        x = x.astype(dtype)
        t = data.integers(0, 5, 32)
        opt = optimizer.Adam(lr=0.01)
        for step in range(steps):
            idx = np.arange(step * 8, step * 8 + 8) % 32
            opt.update(net.params, net.gradient(x[idx], t[idx]))
        h = hashlib.sha256()
        for k in sorted(net.params):
            h.update(k.encode()); h.update(np.ascontiguousarray(net.params[k]).tobytes())
        return {"sha": h.hexdigest(), "loss": float(net.loss(x, t))}

    out = {f"{kind}/{dt}": train(kind, np.dtype(dt))
           for kind in ("TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet") for dt in ("float32", "float64")}
    print(json.dumps(out))
""")

NETS = ["TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet"]
STEPS = 6


def _train_in_subprocess(threads=None, env_threads=None):
    env = dict(os.environ)
    if env_threads is not None:
        env["NUMBA_NUM_THREADS"] = str(env_threads)
    cmd = [sys.executable, "-c", TRAIN_SCRIPT, str(STEPS)]
    if threads is not None:
        cmd.append(str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def training_runs():
    """Each net trained STEPS Adam steps from seed 4, in four fresh processes."""
    return {
        "1 numba thread": _train_in_subprocess(env_threads=1),
        "2 numba threads": _train_in_subprocess(env_threads=2),
        "2 numba threads, again": _train_in_subprocess(env_threads=2),
        "set_num_threads(1): numba and BLAS": _train_in_subprocess(threads=1, env_threads=2),
    }


@pytest.mark.parametrize("kind", NETS)
def test_same_seed_gives_bit_identical_weights_run_to_run_and_with_1_or_2_threads(kind, dtype, training_runs):
    key = f"{kind}/{np.dtype(dtype).name}"
    results = {run: r[key] for run, r in training_runs.items()}
    assert len({r["sha"] for r in results.values()}) == 1, results
    assert np.isfinite(results["1 numba thread"]["loss"])


def test_different_seeds_give_different_weights():
    from fastnn import nets
    a = nets.TwoLayerNet(5, 4, 3, seed=1, weight_init_std=1.0)
    b = nets.TwoLayerNet(5, 4, 3, seed=2, weight_init_std=1.0)
    assert not np.array_equal(a.params["W1"], b.params["W1"])


def test_dropout_masks_come_from_the_seeded_generator():
    x = np.ones((50, 40))
    a, b, c = Dropout(0.5, seed=9), Dropout(0.5, seed=9), Dropout(0.5, seed=10)
    masks_a = [a.forward(x).astype(bool) for _ in range(3)]
    masks_b = [b.forward(x).astype(bool) for _ in range(3)]
    for ma, mb in zip(masks_a, masks_b):
        np.testing.assert_array_equal(ma, mb)
    assert not np.array_equal(masks_a[0], masks_a[1])  # a fresh mask each forward
    assert not np.array_equal(masks_a[0], c.forward(x).astype(bool))
    # a shared Generator: the layer draws from it, so the caller's stream decides the masks
    g1, g2 = np.random.default_rng(4), np.random.default_rng(4)
    np.testing.assert_array_equal(Dropout(0.3, seed=g1).forward(x), Dropout(0.3, seed=g2).forward(x))
    # no seed: NumPy's global generator, as the book (np.random.seed reproduces the masks)
    np.random.seed(123)
    m1 = Dropout(0.5).forward(x)
    np.random.seed(123)
    m2 = Dropout(0.5).forward(x)
    np.testing.assert_array_equal(m1, m2)
    np.random.seed(123)
    np.testing.assert_array_equal(m1 != 0, np.random.rand(*x.shape) > 0.5)


def test_seeded_net_does_not_touch_numpys_global_generator():
    from fastnn import nets
    np.random.seed(5)
    expected = np.random.rand(3)
    np.random.seed(5)
    net = nets.MultiLayerNetExtend(6, [5], 3, use_dropout=True, use_batchnorm=True, seed=1)
    net.gradient(np.ones((4, 6)), np.array([0, 1, 2, 0]))
    np.testing.assert_array_equal(np.random.rand(3), expected)
