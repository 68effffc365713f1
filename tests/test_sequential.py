"""fastnn.nets.Sequential: planning from ``net.layers`` whenever they change, and the fusion decision."""
from collections import OrderedDict

import numpy as np
import pytest

from fastnn.layers import Affine, Convolution, Pooling, Relu, Sigmoid, SoftmaxWithLoss
from fastnn.layers.fused import ConvReluPool
from fastnn.nets import Sequential, SimpleConvNet


def _mlp(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential([Affine(rng.standard_normal((4, 5)), np.zeros(5)), Relu(),
                       Affine(rng.standard_normal((5, 3)), np.zeros(3))], SoftmaxWithLoss())


def _stage_types(net):
    return [type(stage).__name__ for stage, _ in net._stages()]


def test_replacing_a_layer_is_seen_by_predict_params_and_gradient():
    net = _mlp()
    x, t = np.random.default_rng(1).standard_normal((6, 4)), np.arange(6) % 3
    net.predict(x)
    net.layers["Relu1"] = Sigmoid()
    expected = net.layers["Affine2"].forward(Sigmoid().forward(net.layers["Affine1"].forward(x)))
    np.testing.assert_array_equal(net.predict(x), expected)
    new = Affine(np.ones((5, 3)), np.ones(3))
    net.layers["Affine2"] = new
    assert net.params["W2"] is new.W
    assert net.gradient(x, t)["W2"] is new.dW


def test_appending_and_deleting_layers_plans_again():
    net = _mlp()
    x = np.random.default_rng(2).standard_normal((5, 4))
    net.layers["Affine3"] = Affine(np.eye(3), np.zeros(3))
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    np.testing.assert_array_equal(net.predict(x), net.layers["Affine2"].forward(
        Relu().forward(net.layers["Affine1"].forward(x))))
    del net.layers["Affine3"], net.layers["Relu1"]
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    np.testing.assert_array_equal(net.predict(x), net.layers["Affine2"].forward(net.layers["Affine1"].forward(x)))
    net.layers = [Affine(np.ones((4, 3)), np.zeros(3))]          # assigned whole, named as the book
    assert list(net.layers) == ["Affine1"] and list(net.params) == ["W1", "b1"]


def test_a_bad_change_is_refused_with_a_clear_error():
    net = _mlp()
    net.layers["Relu1"] = "not a layer"
    with pytest.raises(TypeError, match=r"layers\['Relu1'\] must be a layer with forward\(\) and backward\(\)"):
        net.predict(np.ones((1, 4)))
    net.layers["Relu1"] = Relu()
    net.layers["Affine2"] = Affine(np.ones((5, 3), np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="all parameters of a net must share one dtype"):
        net.params
    net.layers.clear()
    with pytest.raises(ValueError, match="layers must hold at least one layer"):
        net.predict(np.ones((1, 4)))


def test_fusion_is_decided_when_the_layers_change():
    rng = np.random.default_rng(3)
    conv = Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2))
    pool = Pooling(2, 2)
    net = Sequential(OrderedDict(Conv1=conv, Relu1=Relu(), Pool1=pool,
                                 Affine1=Affine(rng.standard_normal((18, 3)), np.zeros(3))), SoftmaxWithLoss())
    assert _stage_types(net) == ["ConvReluPool", "Affine"]
    x, t = rng.standard_normal((4, 1, 8, 8)), np.arange(4) % 3
    fused_grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    pool.mode = "avg"                                  # a public attribute: fusion no longer applies
    assert _stage_types(net) == ["ConvReluPool", "Pooling", "Affine"]
    stage = net._stages()[0][0]
    assert isinstance(stage, ConvReluPool) and stage.pool is None
    pool.mode = "max"
    assert _stage_types(net) == ["ConvReluPool", "Affine"]
    net.layers["Relu1"] = Sigmoid()                     # no longer Convolution -> Relu
    assert _stage_types(net) == ["Convolution", "Sigmoid", "Pooling", "Affine"]
    net.layers["Relu1"] = Relu()
    net.fuse = False
    plain = net.gradient(x, t)
    for key in fused_grads:
        np.testing.assert_array_equal(fused_grads[key], plain[key])


def test_the_books_backward_loop_over_net_layers_works_on_a_fused_net(dtype):
    net, plain = SimpleConvNet(dtype=dtype, seed=0), SimpleConvNet(dtype=dtype, seed=0)
    plain.fuse = False
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((3, 1, 28, 28)).astype(dtype), np.array([1, 2, 3])
    grads = {}
    for which in (net, plain):
        which.loss(x, t, train_flg=True)                 # the book's gradient(), by hand
        dout = which.last_layer.backward(1)
        layers = list(which.layers.values())
        layers.reverse()
        for layer in layers:
            dout = layer.backward(dout)
        grads[id(which)] = (dout, which.layers["Conv1"].dW.copy(), which.layers["Affine1"].dW.copy())
    for a, b in zip(grads[id(net)], grads[id(plain)]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(net.layers["Relu1"].mask, plain.layers["Relu1"].mask)


def test_every_way_of_changing_the_layers_dict_is_seen():
    net = _mlp()
    x = np.random.default_rng(5).standard_normal((2, 4))
    extra = Affine(np.eye(3), np.ones(3))
    net.layers.update(Affine3=extra)
    assert "W3" in net.params
    net.layers.pop("Affine3")
    assert "W3" not in net.params
    net.layers.setdefault("Affine3", extra)
    np.testing.assert_array_equal(net.predict(x), extra.forward(
        net.layers["Affine2"].forward(Relu().forward(net.layers["Affine1"].forward(x)))))
    net.layers.move_to_end("Affine3", last=False)       # now first: its 3 inputs do not fit x's 4
    with pytest.raises(ValueError, match="x must have 3 features"):
        net.predict(x)
    net.layers.popitem(last=False)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
