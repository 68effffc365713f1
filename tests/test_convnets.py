"""SimpleConvNet and DeepConvNet: the book's architectures, sizes computed, backprop vs numerical
gradients on tiny inputs, dtype, save/load, argument checks, and learning the 8×8 digits."""

import nets_helpers as H  # noqa: E402  (tests/ on pytest's pythonpath)
import numpy as np
import pytest

from fastnn.layers import Convolution, Dropout, Pooling
from fastnn.nets import DeepConvNet, SimpleConvNet

TINY_CONV = {"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1}


def tiny_simple(dtype=np.float64, seed=0, input_dim=(1, 8, 8)):
    return SimpleConvNet(input_dim, TINY_CONV, hidden_size=5, output_size=4, weight_init_std="he",
                         dtype=dtype, seed=seed)


def tiny_deep(dtype=np.float64, seed=0, input_dim=(1, 8, 8)):
    small = [{"filter_num": 2}] * 6  # the book's 3×3 filters and pads, 2 filters each
    return DeepConvNet(input_dim, *small, hidden_size=6, output_size=4, dtype=dtype, seed=seed)


@pytest.fixture
def images():
    rng = np.random.default_rng(3)
    return rng.standard_normal((4, 1, 8, 8)), np.array([0, 3, 1, 3])


# -- architectures -----------------------------------------------------------------------------

def test_simple_convnet_default_architecture():
    net = SimpleConvNet(seed=0)
    assert list(net.layers) == ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (30 * 12 * 12, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}
    assert net.params["W1"] is net.layers["Conv1"].W
    pool = net.layers["Pool1"]
    assert isinstance(pool, Pooling) and (pool.pool_h, pool.pool_w, pool.stride) == (2, 2, 2)


def test_simple_convnet_draws_as_the_book():
    np.random.seed(1)
    net = SimpleConvNet()
    np.random.seed(1)
    np.testing.assert_array_equal(net.params["W1"], 0.01 * np.random.randn(30, 1, 5, 5))
    np.testing.assert_array_equal(net.params["W2"], 0.01 * np.random.randn(4320, 100))
    np.testing.assert_array_equal(net.params["W3"], 0.01 * np.random.randn(100, 10))


def test_deep_convnet_default_architecture():
    net = DeepConvNet(seed=0)
    kinds = [type(layer).__name__ for layer in net.layers.values()]
    block = ["Convolution", "Relu", "Convolution", "Relu", "Pooling"]
    assert kinds == block * 3 + ["Affine", "Relu", "Dropout", "Affine", "Dropout"]
    assert list(net.layers)[:5] == ["Conv1", "Relu1", "Conv2", "Relu2", "Pool1"]
    shapes = {k: v.shape for k, v in net.params.items() if k.startswith("W")}
    assert shapes == {"W1": (16, 1, 3, 3), "W2": (16, 16, 3, 3), "W3": (32, 16, 3, 3),
                      "W4": (32, 32, 3, 3), "W5": (64, 32, 3, 3), "W6": (64, 64, 3, 3),
                      "W7": (64 * 4 * 4, 50), "W8": (50, 10)}
    pads = [layer.pad for layer in net.layers.values() if isinstance(layer, Convolution)]
    assert pads == [1, 1, 1, 2, 1, 1]  # the book's conv_param_4 has pad 2
    assert all(layer.dropout_ratio == 0.5 for layer in net.layers.values() if isinstance(layer, Dropout))


def test_deep_convnet_draws_as_the_book():
    """seed=None: He weights from np.random in the book's order (W1..W6, W7, W8)."""
    np.random.seed(2)
    net = DeepConvNet()
    np.random.seed(2)
    pre_node_nums = np.array([1 * 3 * 3, 16 * 3 * 3, 16 * 3 * 3, 32 * 3 * 3, 32 * 3 * 3, 64 * 3 * 3,
                              64 * 4 * 4, 50])
    scales = np.sqrt(2.0 / pre_node_nums)
    pre_channel = 1
    for i, fn in enumerate([16, 16, 32, 32, 64, 64]):
        W = scales[i] * np.random.randn(fn, pre_channel, 3, 3)
        np.testing.assert_array_equal(net.params[f"W{i + 1}"], W)
        pre_channel = fn
    np.testing.assert_array_equal(net.params["W7"], scales[6] * np.random.randn(64 * 4 * 4, 50))
    np.testing.assert_array_equal(net.params["W8"], scales[7] * np.random.randn(50, 10))


@pytest.mark.parametrize("input_dim, conv, pooled", [
    ((1, 28, 28), {"filter_size": 4}, (12, 12)),           # conv 25×25 is odd: the book's sizing breaks
    ((3, 9, 12), {"filter_size": 3, "pad": 0}, (3, 5)),    # non-square, several channels
    ((1, 8, 8), {"filter_size": 3, "pad": 1, "stride": 1}, (4, 4)),
    ((2, 11, 11), {"filter_size": 3, "pad": 0, "stride": 2}, (2, 2)),
])
def test_simple_convnet_sizes_are_computed(input_dim, conv, pooled):
    conv = {"filter_num": 2, **conv}
    net = SimpleConvNet(input_dim, conv, hidden_size=3, output_size=2, seed=0)
    assert net.params["W2"].shape == (2 * pooled[0] * pooled[1], 3)
    x = np.random.default_rng(0).standard_normal((2,) + input_dim)
    assert net.predict(x).shape == (2, 2)
    assert np.isfinite(net.loss(x, np.array([0, 1])))


def test_deep_convnet_sizes_are_computed():
    net = tiny_deep(input_dim=(1, 8, 8))  # 8 → pool 4 → pad 2: 6 → pool 3 → pool 1
    assert net.params["W7"].shape == (2 * 1 * 1, 6)
    net = tiny_deep(input_dim=(3, 16, 12))  # 16×12 → 8×6 → 10×8 → 5×4 → 2×2
    assert net.params["W1"].shape == (2, 3, 3, 3)
    assert net.params["W7"].shape == (2 * 2 * 2, 6)
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 12))
    assert net.predict(x).shape == (2, 4)


# -- gradients ---------------------------------------------------------------------------------

def test_simple_convnet_backprop_matches_numerical_gradient(images):
    net = tiny_simple()
    x, t = images
    errors = H.gradient_errors(net, x, t)
    assert max(errors.values()) < 1e-6, errors


def test_deep_convnet_backprop_matches_numerical_gradient(images):
    """Dropout layers seeded from seed=; numerical_gradient replays their masks in every evaluation."""
    net = tiny_deep()
    x, t = images
    errors = H.gradient_errors(net, x, t)
    assert max(errors.values()) < 1e-6, errors


def test_deep_convnet_loss_follows_train_flg(images):
    net = tiny_deep(seed=5)
    x, t = images
    assert net.loss(x, t) == net.loss(x, t)  # inference: no dropout, deterministic
    assert net.loss(x, t) == net.loss(x, t, train_flg=False)
    train_losses = {net.loss(x, t, train_flg=True) for _ in range(5)}
    assert len(train_losses) > 1  # training mode draws masks


# -- accuracy, dtype ---------------------------------------------------------------------------

def test_accuracy_counts_the_last_partial_batch():
    net = tiny_simple()
    x = np.random.default_rng(1).standard_normal((7, 1, 8, 8))
    t = np.argmax(net.predict(x), axis=1)
    t[-1] = (t[-1] + 1) % 4
    assert net.accuracy(x, t, batch_size=3) == pytest.approx(6 / 7)


@pytest.mark.parametrize("make", [tiny_simple, tiny_deep], ids=["simple", "deep"])
def test_convnets_compute_in_their_dtype(make, dtype, images):
    net = make(dtype)
    x, t = images
    assert net.dtype == dtype
    assert all(v.dtype == dtype for v in net.params.values())
    np.testing.assert_allclose(net.predict(x), make(np.float64).predict(x),
                               rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-6)
    assert net.predict(x).dtype == dtype
    grads = net.gradient(x, t)
    assert all(g.dtype == dtype and g.shape == net.params[k].shape for k, g in grads.items())


# -- save / load -------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [tiny_simple, tiny_deep], ids=["simple", "deep"])
def test_convnet_save_load_round_trip(make, dtype, tmp_path, images):
    x, t = images
    src = make(dtype, seed=1)
    for k, g in src.gradient(x, t).items():
        src.params[k] -= 0.1 * g
    src.save_params(tmp_path / "conv.npz")
    dst = make(dtype, seed=2)
    arrays = dict(dst.params)
    dst.load_params(tmp_path / "conv.npz")
    for k, v in src.params.items():
        assert dst.params[k] is arrays[k]
        np.testing.assert_array_equal(dst.params[k], v)
    np.testing.assert_array_equal(dst.predict(x), src.predict(x))


def test_convnet_load_refuses_another_architecture(tmp_path):
    tiny_simple().save_params(tmp_path / "a.npz")
    other = SimpleConvNet((1, 8, 8), {**TINY_CONV, "filter_num": 4}, hidden_size=5, output_size=4, seed=0)
    snap = H.snapshot(other)
    with pytest.raises(ValueError, match="another architecture"):
        other.load_params(tmp_path / "a.npz")
    H.assert_unchanged(other, snap)
    deep = tiny_deep()
    with pytest.raises(ValueError, match="another architecture"):
        deep.load_params(tmp_path / "a.npz")


# -- constructor arguments ---------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    (dict(input_dim=(8, 8)), ValueError, "input_dim must have 3"),
    (dict(input_dim=(1, 0, 8)), ValueError, r"input_dim\[1\]"),
    (dict(conv_param={"filter_num": 3, "kernel": 3}), ValueError, "unknown keys"),
    (dict(conv_param=[3, 3, 0, 1]), TypeError, "conv_param must be a dict"),
    (dict(conv_param={"filter_size": 9, "pad": 0}), ValueError, "larger than the padded input"),
    (dict(conv_param={"filter_size": 2, "stride": 2, "pad": 0}, input_dim=(1, 9, 9)), ValueError,
     "stride 2 does not divide"),
    (dict(conv_param={"filter_size": 8, "pad": 0}), ValueError, "too small"),
    (dict(conv_param={"pad": -1}), ValueError, "pad"),
    (dict(conv_param={"stride": 0}), ValueError, "stride"),
    (dict(conv_param={"filter_num": 2.0}), TypeError, "filter_num"),
    (dict(hidden_size=0), ValueError, "hidden_size"),
    (dict(output_size="10"), TypeError, "output_size"),
    (dict(weight_init_std="uniform"), ValueError, "weight_init_std"),
    (dict(dtype="int64"), TypeError, "dtype"),
    (dict(seed=1.5), TypeError, "seed"),
])
def test_simple_convnet_bad_arguments(kwargs, error, match):
    args = dict(input_dim=(1, 8, 8), conv_param={"filter_num": 2, "filter_size": 3, "pad": 1, "stride": 1},
                hidden_size=4, output_size=3)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        SimpleConvNet(**args)


def test_deep_convnet_bad_arguments():
    with pytest.raises(ValueError, match="too small"):
        tiny_deep(input_dim=(1, 2, 2))
    with pytest.raises(ValueError, match="conv_param_3"):
        DeepConvNet((1, 8, 8), conv_param_3={"filter_size": 12, "pad": 0})
    with pytest.raises(TypeError, match="conv_param_6"):
        DeepConvNet(conv_param_6=None)
    with pytest.raises(ValueError, match="hidden_size"):
        DeepConvNet(hidden_size=-5)


# -- learning ----------------------------------------------------------------------------------

def test_simple_convnet_learns_digits():
    """The 8×8 digits as (1, 8, 8) images: 3×3 filters with pad 1, 2×2 pooling; ≥ 95% held out."""
    (x_train, t_train), (x_test, t_test) = H.digits_split()
    net = SimpleConvNet((1, 8, 8), {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
                        hidden_size=50, output_size=10, weight_init_std="he", seed=0)
    H.train(net, x_train.reshape(-1, 1, 8, 8), t_train, epochs=8, batch_size=50, lr=0.005)
    assert net.accuracy(x_test.reshape(-1, 1, 8, 8), t_test) >= 0.95
