"""Inference: ``predict`` / ``accuracy`` run each layer's (or fused stage's) ``infer``: the scores of the full
forward, bit for bit, while nothing is kept for backward and the state of the last training forward stays."""
import numpy as np
import pytest

from fastnn.layers import (
    Affine,
    AvgPooling,
    BatchNormalization,
    Convolution,
    Dropout,
    Pooling,
    Relu,
    Sigmoid,
)
from fastnn.nets import DeepConvNet, MultiLayerNetExtend, SimpleConvNet, TwoLayerNet

#: Attributes in which layers and fused stages keep what backward needs (the private ones where the public
#: one computes on reading: a fused Relu makes its mask on demand).
STATE = ("x", "_x", "_mask", "_source", "_argmax", "out", "xhat", "inv_std", "original_x_shape", "_geometry",
         "_saved", "_fused", "_shape", "_out_shape", "_window", "_input_shape", "_trained", "dW", "db")


def _snapshot(objects):
    """{(object index, attribute): (the object held, a copy of its value)} for every state attribute."""
    snap = {}
    for i, obj in enumerate(objects):
        for name in STATE:
            if hasattr(obj, name):
                value = getattr(obj, name)
                snap[i, name] = (value, value.copy() if isinstance(value, np.ndarray) else value)
    return snap


def _assert_unchanged(objects, snap):
    for (i, name), (held, copy) in snap.items():
        now = getattr(objects[i], name)
        assert now is held, f"{type(objects[i]).__name__}.{name} was rebound"
        if isinstance(held, np.ndarray):
            np.testing.assert_array_equal(now, copy, err_msg=f"{type(objects[i]).__name__}.{name} changed")


def _nets(dtype):
    yield "simple", SimpleConvNet((1, 10, 10), {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 1},
                                  hidden_size=8, output_size=5, seed=0, dtype=dtype), (1, 10, 10)
    yield "deep", DeepConvNet((1, 12, 12), hidden_size=8, output_size=5, seed=0, dtype=dtype), (1, 12, 12)
    yield "extend", MultiLayerNetExtend(12, [10, 9], 5, use_dropout=True, use_batchnorm=True, seed=0,
                                        dtype=dtype), (12,)
    yield "two", TwoLayerNet(12, 7, 5, seed=0, dtype=dtype), (12,)


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_keeps_nothing_and_equals_the_full_forward(dtype, fuse):
    rng = np.random.default_rng(0)
    for name, net, shape in _nets(dtype):
        net.fuse = fuse
        x = rng.standard_normal((6,) + shape).astype(dtype)
        t = rng.integers(0, 5, 6)
        net.gradient(x, t)                                   # a training step's forward and backward
        stages = [stage for stage, _ in net._stages()]
        objects = stages + [layer for stage in stages for layer in getattr(stage, "layers", ())]
        snap = _snapshot(objects)
        x_new = rng.standard_normal((3,) + shape).astype(dtype)   # another batch size
        y = net.predict(x_new)
        _assert_unchanged(objects, snap)
        assert net.accuracy(x_new, rng.integers(0, 5, 3), batch_size=2) in (0, 1 / 3, 2 / 3, 1)
        _assert_unchanged(objects, snap)
        np.testing.assert_array_equal(y, net.forward(x_new), err_msg=name)   # the full forward: same scores,
        with pytest.raises(AssertionError):                                  # but it keeps this batch's caches
            _assert_unchanged(objects, snap)


def test_predict_after_training_forward_leaves_backward_valid():
    """loss(train) → predict(other batch) → backward through the stages: the gradients of the loss's batch."""
    rng = np.random.default_rng(1)
    net = SimpleConvNet((1, 12, 12), {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 1},
                        hidden_size=8, output_size=5, seed=0)   # no Dropout: the same forward twice
    x, t = rng.standard_normal((4, 1, 12, 12)), rng.integers(0, 5, 4)
    expected = {k: v.copy() for k, v in net.gradient(x, t).items()}
    net.loss(x, t, train_flg=True)
    net.predict(rng.standard_normal((7, 1, 12, 12)))
    dout = net.last_layer.backward(1)
    for stage, _ in reversed(net._stages()):
        dout = stage.backward(dout)
    for key, _, layer, pname in net._param_index:
        np.testing.assert_array_equal(getattr(layer, "d" + pname), expected[key], err_msg=key)


def _layers(dtype, rng):
    W = rng.standard_normal((3, 2, 3, 3)).astype(dtype)
    yield Convolution(W, np.ones(3, dtype=dtype), stride=1, pad=1), (4, 2, 6, 7)
    wide = Convolution(rng.standard_normal((4, 2, 3, 3)).astype(dtype), np.zeros(4, dtype=dtype), pad=1)
    wide.algorithm = "winograd"
    yield wide, (3, 2, 5, 5)
    yield Affine(rng.standard_normal((8, 5)).astype(dtype), np.ones(5, dtype=dtype)), (4, 2, 2, 2)
    yield Relu(), (4, 5)
    yield Sigmoid(), (4, 5)
    yield Pooling(2, 2, 2), (2, 3, 6, 6)
    yield Pooling(3, 3, 2, pad=1), (2, 3, 7, 6)
    yield AvgPooling(2, 2, 2), (2, 3, 6, 6)
    yield Dropout(0.3, seed=0), (4, 5)
    yield BatchNormalization(np.ones(5, dtype=dtype), np.zeros(5, dtype=dtype)), (4, 5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_layer_infers_as_its_inference_forward(dtype):
    rng = np.random.default_rng(2)
    for layer, shape in _layers(dtype, rng):
        x = rng.standard_normal(shape).astype(dtype)
        if layer.takes_train_flg:
            layer.forward(x, train_flg=True)
        else:
            layer.forward(x)
        snap = _snapshot([layer])
        x_new = rng.standard_normal((shape[0] + 1,) + shape[1:]).astype(dtype)
        y = layer.infer(x_new)
        _assert_unchanged([layer], snap)
        expected = layer.forward(x_new, train_flg=False) if layer.takes_train_flg else layer.forward(x_new)
        np.testing.assert_array_equal(y, expected, err_msg=repr(layer))


def test_infer_before_any_forward_keeps_nothing():
    relu, pool = Relu(), Pooling(2, 2, 2)
    relu.infer(np.ones((2, 3)))
    pool.infer(np.ones((1, 1, 4, 4)))
    assert relu.mask is None and pool.argmax is None and pool.x is None
    with pytest.raises(RuntimeError, match="before forward"):
        pool.backward(np.ones((1, 1, 2, 2)))
