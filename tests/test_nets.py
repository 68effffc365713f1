"""The dense nets and Sequential: backprop vs numerical gradients, params, accuracy, dtype, seeds,
argument checks, and learning a real data set (scikit-learn's 8×8 digits)."""

import nets_helpers as H  # noqa: E402  (tests/ on pytest's pythonpath)
import numpy as np
import pytest

from fastnn.layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss
from fastnn.nets import MultiLayerNet, MultiLayerNetExtend, ParamDict, Sequential, TwoLayerNet

D_IN, D_OUT = 5, 3


@pytest.fixture
def batch():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, D_IN))
    t = np.array([0, 2, 1, 2, 2, 0])
    return x, t


# -- Sequential: names, params ----------------------------------------------------------------

def _dense(n_in, n_out, rng, dtype=np.float64):
    return Affine(rng.standard_normal((n_in, n_out)).astype(dtype), np.zeros(n_out, dtype=dtype))


def _bn(n, dtype=np.float64):
    return BatchNormalization(np.ones(n, dtype=dtype), np.zeros(n, dtype=dtype))


def test_sequential_names_layers_and_params_as_the_book(rng):
    layers = [_dense(5, 4, rng), _bn(4), Relu(), Dropout(0.3, seed=0), _dense(4, 4, rng), _bn(4),
              Sigmoid(), _dense(4, 3, rng)]
    net = Sequential(layers, SoftmaxWithLoss())
    assert list(net.layers) == ["Affine1", "BatchNorm1", "Relu1", "Dropout1", "Affine2", "BatchNorm2",
                                "Sigmoid1", "Affine3"]
    assert list(net.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    assert net.last_layer is not None and isinstance(net.last_layer, SoftmaxWithLoss)
    assert net.params["gamma2"] is layers[5].gamma
    assert net.params["W3"] is layers[7].W


def test_sequential_keeps_dict_names(rng):
    layers = {"fc": _dense(5, 4, rng), "act": Relu(), "out": _dense(4, 3, rng)}
    net = Sequential(layers, SoftmaxWithLoss())
    assert list(net.layers) == ["fc", "act", "out"]
    assert list(net.params) == ["W1", "b1", "W2", "b2"]


def test_sequential_takes_a_book_style_layer(rng, batch):
    class BookScale:  # a user's layer in the book's style: no param_names, train_flg in forward
        def __init__(self):
            self.W = np.full((D_IN, D_IN), 0.5)
            self.seen = None

        def forward(self, x, train_flg=False):
            self.seen = train_flg
            self.x = x
            return x @ self.W

        def backward(self, dout):
            self.dW = self.x.T @ dout
            return dout @ self.W.T

    layer = BookScale()
    net = Sequential([layer, _dense(D_IN, D_OUT, rng)], SoftmaxWithLoss())
    assert list(net.params) == ["W1", "W2", "b1"]
    x, t = batch
    net.predict(x, train_flg=True)
    assert layer.seen is True
    errors = H.gradient_errors(net, x, t)
    assert max(errors.values()) < 1e-6, errors


def test_sequential_rejects_bad_layers(rng):
    with pytest.raises(TypeError, match="forward"):
        Sequential([_dense(2, 2, rng), "relu"], SoftmaxWithLoss())
    with pytest.raises(TypeError, match="loss_layer"):
        Sequential([_dense(2, 2, rng)], None)
    with pytest.raises(TypeError, match="layers must be"):
        Sequential(Relu(), SoftmaxWithLoss())
    with pytest.raises(ValueError, match="at least one"):
        Sequential([], SoftmaxWithLoss())
    with pytest.raises(ValueError, match="one dtype"):
        Sequential([_dense(2, 2, rng), _dense(2, 2, rng, np.float32)], SoftmaxWithLoss())
    with pytest.raises(ValueError, match="weight_decay_lambda"):
        Sequential([_dense(2, 2, rng)], SoftmaxWithLoss(), weight_decay_lambda=-1)


def test_predict_passes_train_flg_only_where_taken(rng):
    net = MultiLayerNetExtend(4, [8], 2, use_dropout=True, dropout_ration=0.5, seed=0)
    x = rng.standard_normal((3, 4))
    # inference: dropout scales by 1 - ratio and is deterministic
    np.testing.assert_array_equal(net.predict(x), net.predict(x, train_flg=False))
    a, b = net.predict(x, train_flg=True), net.predict(x, train_flg=True)
    assert not np.array_equal(a, b)  # fresh masks


# -- gradients ---------------------------------------------------------------------------------

def _nets_for_gradient_checks():
    cases = [("TwoLayerNet", lambda: TwoLayerNet(D_IN, 6, D_OUT, weight_init_std=0.5, seed=1))]
    for act in ("relu", "sigmoid"):
        for lam in (0, 0.1):
            cases.append((f"MultiLayerNet-{act}-wd{lam}",
                          lambda act=act, lam=lam: MultiLayerNet(D_IN, [6, 4], D_OUT, activation=act,
                                                                 weight_init_std=act, weight_decay_lambda=lam,
                                                                 seed=2)))
            for dropout in (False, True):
                for bn in (False, True):
                    cases.append((f"Extend-{act}-wd{lam}-do{int(dropout)}-bn{int(bn)}",
                                  lambda act=act, lam=lam, dropout=dropout, bn=bn: MultiLayerNetExtend(
                                      D_IN, [6, 4], D_OUT, activation=act, weight_init_std=act,
                                      weight_decay_lambda=lam, use_dropout=dropout, dropout_ration=0.3,
                                      use_batchnorm=bn, seed=3)))
    return cases


CASES = _nets_for_gradient_checks()


@pytest.mark.parametrize("make", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_backprop_matches_numerical_gradient(make, batch):
    net = make()
    x, t = batch
    errors = H.gradient_errors(net, x, t)
    assert max(errors.values()) < 1e-6, errors


def test_gradient_check_with_dropout_from_the_global_generator(batch):
    """seed=None: Dropout draws from np.random, as the book; numerical_gradient restores that state too."""
    np.random.seed(0)
    net = MultiLayerNetExtend(D_IN, [6, 4], D_OUT, use_dropout=True, dropout_ration=0.3, use_batchnorm=True)
    x, t = batch
    errors = H.gradient_errors(net, x, t)
    assert max(errors.values()) < 1e-6, errors


def test_gradient_check_with_fixed_masks(batch):
    net = MultiLayerNetExtend(D_IN, [6], D_OUT, use_dropout=True, seed=4)
    x, t = batch
    net.predict(x, train_flg=True)
    net.layers["Dropout1"].fix_mask()
    errors = H.gradient_errors(net, x, t)
    assert max(errors.values()) < 1e-6, errors


def test_numerical_gradient_restores_params_state_and_randomness(batch):
    net = MultiLayerNetExtend(D_IN, [6], D_OUT, use_dropout=True, use_batchnorm=True, seed=5)
    x, t = batch
    net.gradient(x, t)  # move the running statistics away from their start
    snap = H.snapshot(net)
    arrays = {k: v for k, v in net.params.items()}
    mean_array = net.layers["BatchNorm1"].running_mean
    net.numerical_gradient(x, t)
    H.assert_unchanged(net, snap)
    assert all(net.params[k] is v for k, v in arrays.items())
    assert net.layers["BatchNorm1"].running_mean is mean_array
    # the generator was left where it was: the next two training passes draw the same masks
    first = net.predict(x, train_flg=True)
    net.numerical_gradient(x, t)
    H.assert_unchanged(net, (snap[0], H.snapshot(net)[1]))
    net2 = MultiLayerNetExtend(D_IN, [6], D_OUT, use_dropout=True, use_batchnorm=True, seed=5)
    net2.gradient(x, t)
    np.testing.assert_array_equal(first, net2.predict(x, train_flg=True))


def test_gradient_runs_in_training_mode(batch):
    net = MultiLayerNetExtend(D_IN, [6], D_OUT, use_batchnorm=True, seed=6)
    x, t = batch
    before = net.layers["BatchNorm1"].running_mean.copy()
    grads = net.gradient(x, t)
    assert not np.array_equal(before, net.layers["BatchNorm1"].running_mean)  # batch statistics were used
    assert net.layers["BatchNorm1"]._trained
    assert list(grads) == list(net.params)
    assert all(grads[k].shape == v.shape for k, v in net.params.items())


def test_weight_decay_adds_half_lambda_w_squared(batch):
    x, t = batch
    plain = MultiLayerNet(D_IN, [6, 4], D_OUT, seed=8)
    decayed = MultiLayerNet(D_IN, [6, 4], D_OUT, weight_decay_lambda=0.1, seed=8)
    penalty = 0.5 * 0.1 * sum(np.sum(plain.params[f"W{i}"] ** 2) for i in (1, 2, 3))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + penalty, rel=1e-12)
    g0, g1 = plain.gradient(x, t), decayed.gradient(x, t)
    for key in g0:
        extra = 0.1 * plain.params[key] if key.startswith("W") else 0
        np.testing.assert_allclose(g1[key], g0[key] + extra, rtol=1e-12, atol=1e-15)



@pytest.mark.parametrize("dtype, rel", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_weight_decay_penalty_at_the_book_sizes(dtype, rel):
    net = MultiLayerNet(784, [100] * 6, 10, weight_decay_lambda=0.1, dtype=dtype, seed=3)
    expected = 0.5 * 0.1 * sum(np.sum(W.astype(np.float64) ** 2) for k, W in net.params.items() if k[0] == "W")
    got = net.weight_decay_penalty()
    assert isinstance(got, float) and got == pytest.approx(expected, rel=rel)


# -- accuracy ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n, batch_size", [(7, 3), (7, 100), (1, 1), (10, 5)])
def test_accuracy_counts_every_sample(n, batch_size):
    rng = np.random.default_rng(n)
    net = MultiLayerNetExtend(D_IN, [6], D_OUT, use_dropout=True, use_batchnorm=True, seed=9)
    x = rng.standard_normal((n, D_IN))
    predicted = np.argmax(net.predict(x), axis=1)
    t = predicted.copy()
    t[-1] = (t[-1] + 1) % D_OUT  # the last sample (in the last, partial batch) is wrong
    expected = (n - 1) / n
    assert net.accuracy(x, t, batch_size=batch_size) == pytest.approx(expected)
    assert net.accuracy(x, t.reshape(-1, 1), batch_size=batch_size) == pytest.approx(expected)
    assert net.accuracy(x, np.eye(D_OUT)[t], batch_size=batch_size) == pytest.approx(expected)
    assert isinstance(net.accuracy(x, t), float)


def test_accuracy_rejects_bad_input():
    net = TwoLayerNet(D_IN, 4, D_OUT, seed=0)
    x = np.zeros((4, D_IN))
    with pytest.raises(ValueError, match="batch_size"):
        net.accuracy(x, np.zeros(4, dtype=int), batch_size=0)
    with pytest.raises(ValueError, match="t must"):
        net.accuracy(x, np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
        net.accuracy(x, np.array([0, 1, 2, 3]))
    with pytest.raises(TypeError, match="x must"):
        net.accuracy(np.zeros((4, D_IN), dtype=object), np.zeros(4, dtype=int))


# -- params are the layers' arrays --------------------------------------------------------------

def test_params_are_the_layers_arrays_and_updates_reach_them(batch):
    net = MultiLayerNetExtend(D_IN, [6, 4], D_OUT, use_batchnorm=True, seed=10)
    params = net.params
    assert isinstance(params, ParamDict)
    assert params["W1"] is net.layers["Affine1"].W
    assert params["b3"] is net.layers["Affine3"].b
    assert params["gamma2"] is net.layers["BatchNorm2"].gamma
    x, t = batch
    before = net.loss(x, t)
    params["W3"] -= 0.5 * net.gradient(x, t)["W3"]  # in place, as optimizers do
    assert net.loss(x, t) < before


def test_param_assignment_copies_into_the_layer():
    net = TwoLayerNet(D_IN, 4, D_OUT, seed=0)
    W1 = net.layers["Affine1"].W
    net.params["W1"] = np.ones((D_IN, 4))
    assert net.layers["Affine1"].W is W1 and np.all(W1 == 1)
    net.params.update(b1=np.full(4, 2.0))
    assert np.all(net.layers["Affine1"].b == 2)
    with pytest.raises(ValueError, match="keep its shape"):
        net.params["W1"] = np.ones((4, D_IN))
    with pytest.raises(KeyError, match="not a parameter"):
        net.params["W9"] = np.ones(3)


# -- dtype -------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda dt: TwoLayerNet(D_IN, 6, D_OUT, dtype=dt, seed=0),
    lambda dt: MultiLayerNet(D_IN, [6, 4], D_OUT, weight_decay_lambda=0.1, dtype=dt, seed=0),
    lambda dt: MultiLayerNetExtend(D_IN, [6, 4], D_OUT, use_dropout=True, use_batchnorm=True,
                                   weight_decay_lambda=0.1, dtype=dt, seed=0),
], ids=["two", "multi", "extend"])
def test_nets_compute_in_their_dtype(make, dtype, batch):
    net = make(dtype)
    x, t = batch  # float64 input: converted to the net's dtype
    assert net.dtype == dtype
    assert all(v.dtype == dtype for v in net.params.values())
    assert net.predict(x).dtype == dtype
    net64 = make(np.float64)
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(net.predict(x), net64.predict(x), rtol=rtol, atol=rtol)
    assert net.predict(x.astype(np.float32), train_flg=True).dtype == dtype
    assert np.isfinite(net.loss(x, t))
    grads = net.gradient(x, t)
    assert all(g.dtype == dtype for g in grads.values())


# -- seeds and initialisation ------------------------------------------------------------------

def test_seed_none_draws_as_the_book():
    np.random.seed(42)
    net = TwoLayerNet(784, 50, 10)
    np.random.seed(42)
    W1 = 0.01 * np.random.randn(784, 50)
    W2 = 0.01 * np.random.randn(50, 10)
    np.testing.assert_array_equal(net.params["W1"], W1)
    np.testing.assert_array_equal(net.params["W2"], W2)
    assert np.all(net.params["b1"] == 0) and net.params["b2"].shape == (10,)

    np.random.seed(3)
    net = MultiLayerNet(784, [100, 100], 10, weight_init_std="sigmoid")
    np.random.seed(3)
    for i, (n_in, n_out) in enumerate([(784, 100), (100, 100), (100, 10)], start=1):
        np.testing.assert_array_equal(net.params[f"W{i}"], np.sqrt(1.0 / n_in) * np.random.randn(n_in, n_out))


@pytest.mark.parametrize("std, factor", [("relu", 2.0), ("He", 2.0), ("sigmoid", 1.0), ("Xavier", 1.0)])
def test_named_init_scales(std, factor):
    net = MultiLayerNet(20, [30], 4, weight_init_std=std, seed=11)
    rng = np.random.default_rng(11)
    np.testing.assert_array_equal(net.params["W1"], np.sqrt(factor / 20) * rng.standard_normal((20, 30)))
    np.testing.assert_array_equal(net.params["W2"], np.sqrt(factor / 30) * rng.standard_normal((30, 4)))


def test_same_seed_same_net_and_generators_accepted():
    a = MultiLayerNetExtend(6, [5], 3, use_dropout=True, seed=123)
    b = MultiLayerNetExtend(6, [5], 3, use_dropout=True, seed=np.random.default_rng(123))
    c = MultiLayerNetExtend(6, [5], 3, use_dropout=True, seed=124)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    x = np.random.default_rng(0).standard_normal((4, 6))
    np.testing.assert_array_equal(a.predict(x, train_flg=True), b.predict(x, train_flg=True))
    MultiLayerNet(6, [5], 3, seed=np.random.RandomState(0))


def test_float32_net_starts_from_the_float64_weights_rounded():
    a = MultiLayerNet(6, [5], 3, seed=1)
    b = MultiLayerNet(6, [5], 3, seed=1, dtype=np.float32)
    for k in a.params:
        np.testing.assert_array_equal(b.params[k], a.params[k].astype(np.float32))


# -- constructor arguments ---------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    (dict(input_size=0), ValueError, "input_size"),
    (dict(input_size=2.5), TypeError, "input_size"),
    (dict(input_size=True), TypeError, "input_size"),
    (dict(hidden_size_list=5), TypeError, "hidden_size_list"),
    (dict(hidden_size_list=[4, 0]), ValueError, r"hidden_size_list\[1\]"),
    (dict(hidden_size_list="abc"), TypeError, "hidden_size_list"),
    (dict(output_size=-1), ValueError, "output_size"),
    (dict(activation="tanh"), ValueError, "activation"),
    (dict(activation=None), ValueError, "activation"),
    (dict(weight_init_std="gauss"), ValueError, "weight_init_std"),
    (dict(weight_init_std=-0.1), ValueError, "weight_init_std"),
    (dict(weight_init_std=float("nan")), ValueError, "weight_init_std"),
    (dict(weight_decay_lambda=-0.1), ValueError, "weight_decay_lambda"),
    (dict(weight_decay_lambda=float("inf")), ValueError, "weight_decay_lambda"),
    (dict(use_dropout=True, dropout_ration=1.0), ValueError, "dropout_ration"),
    (dict(use_dropout="yes"), TypeError, "use_dropout"),
    (dict(use_batchnorm=1), TypeError, "use_batchnorm"),
    (dict(dtype=np.int32), TypeError, "dtype"),
    (dict(dtype=np.float16), TypeError, "dtype"),
    (dict(seed="x"), TypeError, "seed"),
    (dict(seed=-1), ValueError, "seed"),
])
def test_bad_constructor_arguments(kwargs, error, match):
    args = dict(input_size=4, hidden_size_list=[3], output_size=2)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        MultiLayerNetExtend(**args)


def test_bad_two_layer_net_arguments():
    with pytest.raises(ValueError, match="hidden_size"):
        TwoLayerNet(4, 0, 2)
    with pytest.raises(ValueError, match="weight_init_std"):
        TwoLayerNet(4, 3, 2, weight_init_std="bogus")


def test_no_hidden_layers_is_softmax_regression(batch):
    net = MultiLayerNet(D_IN, [], D_OUT, seed=0)
    assert list(net.layers) == ["Affine1"]
    x, t = batch
    assert max(H.gradient_errors(net, x, t).values()) < 1e-6


def test_book_attributes():
    net = MultiLayerNetExtend(4, [3, 3], 2, weight_decay_lambda=0.5, use_batchnorm=True, seed=0)
    assert (net.input_size, net.hidden_size_list, net.output_size, net.hidden_layer_num) == (4, [3, 3], 2, 2)
    assert net.weight_decay_lambda == 0.5 and net.use_batchnorm and not net.use_dropout
    assert list(net.layers)[:4] == ["Affine1", "BatchNorm1", "Activation_function1", "Affine2"]
    two = TwoLayerNet(4, 3, 2, seed=0)
    assert two.lastLayer is two.last_layer


# -- learning ----------------------------------------------------------------------------------

def test_multilayernet_learns_digits():
    """A real data set: scikit-learn's 8×8 digits (1,797 scans), ≥ 95% on 397 held-out images."""
    (x_train, t_train), (x_test, t_test) = H.digits_split()
    net = MultiLayerNet(64, [100], 10, seed=0)
    H.train(net, x_train, t_train, epochs=15)
    assert net.accuracy(x_test, t_test) >= 0.95


def test_star_import_gives_the_nets():
    namespace = {}
    exec("from fastnn.nets import *", namespace)
    for name in ("Sequential", "TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet",
                 "DeepConvNet"):
        assert name in namespace


def test_gradient_skips_only_the_first_layers_input_gradient():
    rng = np.random.default_rng(0)
    net = TwoLayerNet(4, 3, 2, seed=0)
    calls = []
    for layer in (net.layers["Affine1"], net.layers["Affine2"]):
        def spy(dout, layer=layer, backward=layer.backward):
            calls.append(layer.input_grad)
            return backward(dout)
        layer.backward = spy
    net.gradient(rng.standard_normal((5, 4)), np.array([0, 1, 0, 1, 1]))
    assert calls == [True, False]
    assert net.layers["Affine1"].input_grad is True


def test_huge_sizes_are_value_errors_before_any_allocation():
    """A mistyped size is refused by name, never a MemoryError (checked before a weight is drawn)."""
    from fastnn.nets import MultiLayerNet, SimpleConvNet, TwoLayerNet

    with pytest.raises(ValueError, match=r"hidden_size must be at most 16,777,216, got 1,000,000,000,000"):
        TwoLayerNet(784, 10**12, 10)
    with pytest.raises(ValueError, match=r"hidden_size_list\[1\] must be at most"):
        MultiLayerNet(784, [10, 10**9], 10)
    with pytest.raises(ValueError, match=r"a weight of shape \(784, 10000000\) would have 7,840,000,000 entries"):
        TwoLayerNet(784, 10**7, 10)
    with pytest.raises(ValueError, match=r"hidden_size must be at most"):
        SimpleConvNet(hidden_size=2**40)
