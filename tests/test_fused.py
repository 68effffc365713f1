"""The fused Convolution → Relu (→ max Pooling) stage: against fastnn.reference, bit-identical to
the three layers in turn, numerical gradients, fallbacks, and the nets that fuse by default."""
import numpy as np
import pytest

from fastnn import reference as ref
from fastnn.layers import AvgPooling, Convolution, Pooling, Relu
from fastnn.layers.fused import ConvReluPool, fuse_stages
from fastnn.nets import DeepConvNet, SimpleConvNet
from fastnn.testing import assert_allclose_dtype, layer_gradient_errors

#: (N, C, H, W, FN, FH, FW, conv stride, conv pad, pool (ph, pw, stride, pad) or None)
GEOMETRIES = [
    (3, 1, 12, 12, 5, 5, 5, 1, 0, (2, 2, 2, 0)),     # SimpleConvNet-like: the vectorised 2x2 kernel
    (2, 3, 9, 9, 4, 3, 3, 1, 1, (2, 2, 2, 0)),       # odd conv output: the last row/column dropped
    (2, 2, 8, 7, 3, 3, 3, 1, 1, (3, 3, 2, 1)),       # overlapping windows with padding: general kernel
    (2, 2, 7, 9, 3, 2, 3, 2, 1, (2, 3, 1, 0)),       # stride-1 pooling, non-square windows
    (2, 2, 6, 6, 4, 3, 3, 1, 1, None),               # Convolution + Relu only (DeepConvNet's odd layers)
]


def _layers(geometry, dtype, seed, ties=False):
    n, c, h, w, fn, fh, fw, stride, pad, pool = geometry
    rng = np.random.default_rng(seed)
    if ties:   # small integers: many zero outputs and tied window maxima
        x = rng.integers(-2, 3, size=(n, c, h, w)).astype(dtype)
        W = rng.integers(-1, 2, size=(fn, c, fh, fw)).astype(dtype)
    else:
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        W = rng.standard_normal((fn, c, fh, fw)).astype(dtype)
    b = rng.standard_normal(fn).astype(dtype) * 0.1
    conv = Convolution(W, b, stride=stride, pad=pad)
    pooling = Pooling(*pool) if pool is not None else None
    return x, conv, Relu(), pooling


def _unfused(x, dout, layers):
    y = x
    for layer in layers:
        y = layer.forward(y)
    d = dout
    for layer in reversed(layers):
        d = layer.backward(d)
    return y, d


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_bit_identical_to_the_layers_in_turn(geometry, dtype, ties):
    x, conv, relu, pool = _layers(geometry, dtype, seed=1, ties=ties)
    stage = ConvReluPool(conv, relu, pool)
    out = stage.forward(x)
    dout = np.random.default_rng(2).standard_normal(out.shape).astype(dtype)
    dx = stage.backward(dout)
    dW, db = conv.dW.copy(), conv.db.copy()
    layers = [layer for layer in (conv, Relu(), pool and Pooling(pool.pool_h, pool.pool_w, pool.stride, pool.pad))
              if layer is not None]
    out_ref, dx_ref = _unfused(x, dout, layers)
    np.testing.assert_array_equal(out, out_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(dW, conv.dW)
    np.testing.assert_array_equal(db, conv.db)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_matches_reference(geometry, dtype):
    x, conv, relu, pool = _layers(geometry, dtype, seed=3)
    stage = ConvReluPool(conv, relu, pool)
    out = stage.forward(x)
    dout = np.random.default_rng(4).standard_normal(out.shape).astype(dtype)
    dx = stage.backward(dout)

    y = ref.conv_forward(x, conv.W, conv.b, conv.stride, conv.pad)[0]
    a, mask = ref.relu_forward(y)
    if pool is not None:
        ph, pw, s, p = pool.pool_h, pool.pool_w, pool.stride, pool.pad
        o, arg_max = ref.max_pool_forward(a, ph, pw, s, p)
        da = ref.max_pool_backward(dout, arg_max, a.shape, ph, pw, s, p)
    else:
        o, da = a, dout
    dx_ref, dW_ref, db_ref = ref.conv_backward(ref.relu_backward(da, mask), x, conv.W, conv.stride, conv.pad)
    assert_allclose_dtype(out, o)
    assert_allclose_dtype(dx, dx_ref)
    assert_allclose_dtype(conv.dW, dW_ref)
    assert_allclose_dtype(conv.db, db_ref)


class _StageUnderTest:
    """The stage with its Convolution's parameters in view, for ``layer_gradient_errors``."""
    param_names = ("W", "b")

    def __init__(self, stage):
        self.stage = stage
        self.W, self.b = stage.conv.W, stage.conv.b

    def forward(self, x):
        return self.stage.forward(x)

    def backward(self, dout):
        dx = self.stage.backward(dout)
        self.dW, self.db = self.stage.conv.dW, self.stage.conv.db
        return dx


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_backprop_matches_numerical_gradient(geometry):
    x, conv, relu, pool = _layers(geometry, np.float64, seed=5)
    errors = layer_gradient_errors(_StageUnderTest(ConvReluPool(conv, relu, pool)), x)
    assert max(errors.values()) < 1e-6, errors


def test_input_grad_false_skips_dx_with_the_same_parameter_gradients():
    x, conv, relu, pool = _layers(GEOMETRIES[0], np.float64, seed=6)
    stage = ConvReluPool(conv, relu, pool)
    dout = np.ones(stage.forward(x).shape)
    stage.backward(dout)
    dW = conv.dW.copy()
    stage.input_grad = False
    assert conv.input_grad is False
    stage.forward(x)
    assert stage.backward(dout) is None
    np.testing.assert_array_equal(conv.dW, dW)


@pytest.mark.parametrize("geometry", [GEOMETRIES[0], GEOMETRIES[2], GEOMETRIES[4]])
def test_after_a_fused_forward_each_layer_can_run_its_own_backward(geometry):
    x, conv, relu, pool = _layers(geometry, np.float64, seed=7)
    relu.forward(np.ones((2, 2)))            # some earlier state that must not be reused
    stage = ConvReluPool(conv, relu, pool)
    out = stage.forward(x)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    d = dout
    for layer in reversed(stage.layers):     # the book's loop, layer by layer
        d = layer.backward(d)
    dW = conv.dW.copy()
    plain = [layer for layer in (Convolution(conv.W, conv.b, conv.stride, conv.pad), Relu(),
                                 pool and Pooling(pool.pool_h, pool.pool_w, pool.stride, pool.pad))
             if layer is not None]
    out_ref, dx_ref = _unfused(x, dout, plain)
    np.testing.assert_array_equal(d, dx_ref)
    np.testing.assert_array_equal(dW, plain[0].dW)
    np.testing.assert_array_equal(relu.mask, plain[1].mask)       # the book's mask, x <= 0
    if pool is not None:
        assert pool.argmax.shape == out.shape
    with pytest.raises(RuntimeError, match="before forward"):
        ConvReluPool(*_layers(GEOMETRIES[0], np.float64, seed=7)[1:]).backward(np.ones(out.shape))


def test_only_a_max_pooling_fuses_and_the_stage_refuses_others():
    x, conv, relu, _ = _layers(GEOMETRIES[0], np.float64, seed=8)
    with pytest.raises(TypeError, match="ConvReluPool fuses a Convolution, a Relu and optionally a max Pooling"):
        ConvReluPool(conv, relu, AvgPooling(2, 2, 2))
    with pytest.raises(TypeError, match="ConvReluPool fuses"):
        ConvReluPool(relu, conv)


def test_a_fused_stage_never_falls_back_a_bug_raises():
    x, conv, relu, pool = _layers(GEOMETRIES[0], np.float64, seed=8)
    stage = ConvReluPool(conv, relu, pool)
    pool.mode = "median"                     # the Pooling's own check refuses it, from inside the stage
    with pytest.raises(ValueError, match="mode must be 'max' or 'avg'"):
        stage.forward(x)
    assert conv.x is None                    # refused before any work


def test_bad_input_and_dout_raise_the_layers_errors():
    x, conv, relu, pool = _layers(GEOMETRIES[0], np.float64, seed=9)
    stage = ConvReluPool(conv, relu, pool)
    with pytest.raises(ValueError, match="channels"):
        stage.forward(np.ones((1, 2, 12, 12)))
    with pytest.raises(ValueError, match="4-D|dimensions|ndim"):
        stage.forward(np.ones((12, 12)))
    pool.pool_h = 50                         # larger than the convolution's output
    with pytest.raises(ValueError):
        stage.forward(x)
    pool.pool_h = 2.5                        # not a whole number: refused, as Pooling refuses it
    with pytest.raises((TypeError, ValueError)):
        stage.forward(x)
    pool.pool_h = 2
    out = stage.forward(x)
    with pytest.raises(ValueError, match="shape"):
        stage.backward(np.ones(out.shape[:-1] + (out.shape[-1] + 1,)))


def test_noncontiguous_dout_and_other_float_input_give_the_same_result():
    x, conv, relu, pool = _layers(GEOMETRIES[0], np.float64, seed=10)
    stage = ConvReluPool(conv, relu, pool)
    out = stage.forward(x)
    dout = np.random.default_rng(11).standard_normal(out.shape)
    dx = stage.backward(dout)
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(stage.forward(x32), stage.forward(x32.astype(np.float64)))
    stage.forward(x)
    np.testing.assert_array_equal(stage.backward(np.asfortranarray(dout)), dx)


def test_fuse_stages_groups_only_the_plain_classes():
    W, b = np.ones((2, 1, 3, 3)), np.zeros(2)

    class MyRelu(Relu):
        pass

    conv1, conv2, conv3 = (Convolution(W, b) for _ in range(3))
    relu1, relu3, pool1, avg = Relu(), Relu(), Pooling(2, 2), AvgPooling(2, 2)
    stages = fuse_stages([conv1, relu1, pool1, conv2, MyRelu(), conv3, relu3, avg])
    assert [type(s).__name__ for s in stages] == ["ConvReluPool", "Convolution", "MyRelu", "ConvReluPool",
                                                  "AvgPooling"]
    assert stages[0].layers == (conv1, relu1, pool1)
    assert stages[3].layers == (conv3, relu3)


@pytest.mark.parametrize("make", [lambda dt: SimpleConvNet(dtype=dt, seed=0),
                                  lambda dt: DeepConvNet(dtype=dt, seed=0)], ids=["simple", "deep"])
def test_nets_fused_and_unfused_agree_bit_for_bit(make, dtype):
    fused, plain = make(dtype), make(dtype)
    plain.fuse = False
    assert fused.fuse is True
    rng = np.random.default_rng(12)
    x = rng.standard_normal((6, 1, 28, 28)).astype(dtype)
    t = rng.integers(0, 10, 6)
    g_fused, g_plain = fused.gradient(x, t), plain.gradient(x, t)
    assert g_fused.keys() == g_plain.keys()
    for key in g_fused:
        np.testing.assert_array_equal(g_fused[key], g_plain[key], err_msg=key)
    np.testing.assert_array_equal(fused.predict(x), plain.predict(x))
    assert fused.loss(x, t) == plain.loss(x, t)
    assert fused.accuracy(x, t, batch_size=4) == plain.accuracy(x, t, batch_size=4)
