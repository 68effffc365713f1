"""fastnn._random.as_generator, the one seed rule, and the public APIs that take ``seed=`` through it."""
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
