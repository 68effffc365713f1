"""Winograd F(2x2, 3x3): the kernels through Convolution(algorithm='winograd') against fastnn.reference's
convolution, the NumPy twin (F(2x2) and F(4x4)), the per-pass rule, fusion, thread-count independence and
DeepConvNet learning the digits with it.

Tolerances (relative to the largest magnitude of the reference result, float64 reference):
float64 1e-13 and float32 2e-6 for output, dx, dW and db; measured at most about 1e-15 and 5e-7 on the
geometries below (C up to 32, sums of up to 9*C*N terms).
"""
import numba
import numpy as np
import pytest
from fastnn.kernels import winograd as winograd_kernels

from fastnn import _runtime
from fastnn import reference as ref
from fastnn.layers import Convolution, Pooling, Relu
from fastnn.layers.fused import ConvReluPool
from fastnn.reference import winograd as ref_winograd

TOLERANCE = {np.float64: 1e-13, np.float32: 2e-6}

# (N, C, H, W, FN, pad): odd sizes, batch 1, pad 0, 1 and 2, a 1x1 input, DeepConvNet-like layers
GEOMETRIES = [
    (1, 1, 3, 3, 1, 0),
    (2, 3, 7, 9, 4, 1),
    (1, 2, 5, 5, 3, 0),
    (3, 3, 8, 8, 5, 2),
    (3, 4, 1, 1, 2, 1),
    (2, 2, 2, 5, 3, 2),
    (1, 5, 11, 6, 2, 0),
    (4, 16, 14, 14, 32, 1),
    (3, 32, 7, 7, 32, 2),
]


def _relative(actual, desired):
    return float(np.max(np.abs(actual - desired)) / max(np.max(np.abs(desired)), 1e-300))


def _case(geometry, dtype, seed=0):
    n, c, h, w, fn, pad = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    W = rng.standard_normal((fn, c, 3, 3))
    b = rng.standard_normal(fn)
    out, _, _ = ref.conv_forward(x, W, b, 1, pad)
    dout = rng.standard_normal(out.shape)
    dx, dW, db = ref.conv_backward(dout, x, W, 1, pad)
    cast = [a.astype(dtype) for a in (x, W, b, dout)]
    return cast, (out, dx, dW, db)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_winograd_layer_matches_reference_convolution(geometry, dtype):
    (x, W, b, dout), expected = _case(geometry, dtype)
    layer = Convolution(W, b, stride=1, pad=geometry[-1])
    layer.algorithm = "winograd"
    out = layer.forward(x)
    dx = layer.backward(dout)
    for name, actual, desired in zip(("out", "dx", "dW", "db"), (out, dx, layer.dW, layer.db), expected):
        assert actual.dtype == dtype and actual.shape == desired.shape, name
        assert _relative(actual, desired) < TOLERANCE[dtype], name


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_winograd_skips_dx_when_not_asked(dtype):
    (x, W, b, dout), (_, _, dW, db) = _case((2, 3, 6, 5, 4, 1), dtype)
    layer = Convolution(W, b, stride=1, pad=1)
    layer.algorithm = "winograd"
    layer.forward(x)
    layer.input_grad = False
    assert layer.backward(dout) is None
    assert _relative(layer.dW, dW) < TOLERANCE[dtype]
    assert _relative(layer.db, db) < TOLERANCE[dtype]


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_numpy_twin_matches_reference_convolution(geometry, m):
    """The twin in float64, F(2x2) and F(4x4): the same convolution up to rounding."""
    (x, W, b, dout), (out, dx, dW, db) = _case(geometry, np.float64)
    pad = geometry[-1]
    assert _relative(ref_winograd.winograd_forward(x, W, b, pad, m), out) < 1e-13
    for actual, desired in zip(ref_winograd.winograd_backward(dout, x, W, pad, m), (dx, dW, db)):
        assert _relative(actual, desired) < 1e-13


def test_kernels_match_numpy_twin_in_float32():
    """Same algorithm, same dtype: the kernels and the twin agree far closer than either to the exact result."""
    (x, W, b, dout), _ = _case((2, 8, 9, 10, 6, 1), np.float32)
    layer = Convolution(W, b, stride=1, pad=1)
    layer.algorithm = "winograd"
    out = layer.forward(x)
    dx = layer.backward(dout)
    assert _relative(out, ref_winograd.winograd_forward(x, W, b, 1)) < 1e-6
    tdx, tdW, tdb = ref_winograd.winograd_backward(dout, x, W, 1)
    assert _relative(dx, tdx) < 1e-6
    assert _relative(layer.dW, tdW) < 1e-6


def test_f4x4_rounds_worse_than_f2x2_in_float32():
    """F(4x4, 3x3)'s matrices (1/6, 1/24, 4, 8) amplify float32 rounding: its forward error is larger than
    F(2x2)'s on a DeepConvNet-sized layer, both within the float32 tolerance of this file's docstring
    for F(2x2) and ten times that for F(4x4)."""
    (x, W, b, _), (out, _, _, _) = _case((8, 32, 14, 14, 32, 1), np.float32, seed=3)
    err2 = _relative(ref_winograd.winograd_forward(x, W, b, 1, 2), out)
    err4 = _relative(ref_winograd.winograd_forward(x, W, b, 1, 4), out)
    assert err2 < TOLERANCE[np.float32]
    assert err2 < err4 < 10 * TOLERANCE[np.float32]


def test_twin_refuses_other_tile_sizes():
    with pytest.raises(ValueError, match="m must be 2 or 4, got 3"):
        ref_winograd.winograd_matrices(3)


def test_filter_transform_and_its_adjoint():
    """<G g G^T, d> = <g, G^T d G>: filter_grad_transform is the adjoint of filter_transform."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 2, 3, 3))
    d = rng.standard_normal((16, 3, 2))
    u = np.empty((16, 3, 2))
    winograd_kernels.filter_transform(w, u)
    dw = np.empty_like(w)
    winograd_kernels.filter_grad_transform(d, dw)
    assert abs(np.vdot(u, d) - np.vdot(w, dw)) < 1e-12 * np.abs(u).sum() * np.abs(d).max()


def test_rule():
    """'auto' asks winograd_pays: enough channels and filters, and a large plane or many channels;
    3x3 stride-1 pad <= 2 only; 'im2col' never, 'winograd' wherever it applies."""
    least, plane = _runtime.WINOGRAD_MIN_CHANNELS, _runtime.WINOGRAD_MIN_PLANE
    many = _runtime.WINOGRAD_SMALL_PLANE_CHANNELS
    side = int(np.ceil(np.sqrt(plane)))
    assert _runtime.winograd_pays(least, least, side, side)
    assert not _runtime.winograd_pays(least - 1, least, side, side)
    assert not _runtime.winograd_pays(least, least - 1, side, side)
    assert not _runtime.winograd_pays(least, least, 1, plane - 1)
    assert not _runtime.winograd_pays(many - 1, many, 4, 4)
    assert _runtime.winograd_pays(many, many, 4, 4)
    # Convolution.algorithm_for: 'winograd' wherever it applies (3x3, stride 1, pad <= 2), 'im2col' never;
    # 'auto' asks _runtime.conv_algorithm, which takes the direct kernels first where they apply
    def algorithm(c, fn, fs=3, stride=1, pad=1, size=side, choice="winograd"):
        layer = Convolution(np.zeros((fn, c, fs, fs)), np.zeros(fn), stride=stride, pad=pad)
        layer.algorithm = choice
        return layer.algorithm_for((1, c, size, size))

    assert algorithm(least, least) == "winograd"
    assert algorithm(least, least, pad=3) == "im2col"     # pad 3: dx would need a negative pad
    assert algorithm(least, least, stride=2) == "im2col"
    assert algorithm(least, least, fs=5) == "im2col"
    assert algorithm(least, least, choice="im2col") == "im2col"
    assert algorithm(1, 1, pad=0, size=3) == "winograd"
    assert _runtime.conv_algorithm(least, least, 3, 3, 2, 1, side, side) == "im2col"   # neither covers stride 2
    assert _runtime.conv_algorithm(least, least, 3, 3, 1, 3, side, side) == "im2col"   # pad 3: neither
    assert _runtime.conv_algorithm(least, least, 3, 3, 1, 1, side, side) == "direct"


def test_unknown_algorithm_is_refused():
    layer = Convolution(np.zeros((2, 1, 3, 3)), np.zeros(2), stride=1, pad=1)
    layer.algorithm = "fft"
    with pytest.raises(ValueError, match="algorithm must be one of 'auto', 'direct', 'winograd', 'im2col', "
                                         "got 'fft'"):
        layer.forward(np.zeros((1, 1, 4, 4)))


def test_auto_matches_im2col_within_rounding():
    """A layer 'auto' sends elsewhere (the direct kernels, which take it first) against forced im2col: the same
    convolution, computed another way (not bit for bit)."""
    c = _runtime.WINOGRAD_MIN_CHANNELS
    side = int(np.ceil(np.sqrt(_runtime.WINOGRAD_MIN_PLANE)))
    (x, W, b, dout), _ = _case((2, c, side, side, c, 1), np.float64)
    results = {}
    for algorithm in ("auto", "im2col"):
        layer = Convolution(W, b, stride=1, pad=1)
        layer.algorithm = algorithm
        out = layer.forward(x)
        results[algorithm] = (out, layer.backward(dout), layer.dW, layer.db)
    for auto, im2col in zip(results["auto"], results["im2col"]):
        assert _relative(auto, im2col) < 1e-13
    for auto, im2col in zip(results["auto"][:3], results["im2col"][:3]):   # out, dx, dW
        assert not np.array_equal(auto, im2col)


@pytest.mark.parametrize("pool", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_stage_runs_winograd_bit_for_bit(pool, dtype):
    """ConvReluPool over a Winograd convolution gives exactly the unfused layers' results (its ``infer``
    too, and a backward after an ``infer`` still uses the training forward's state)."""
    (x, W, b, _), _ = _case((5, 4, 10, 9, 6, 1), dtype, seed=2)
    outs = []
    for fused in (True, False):
        conv = Convolution(W.copy(), b.copy(), stride=1, pad=1)
        conv.algorithm = "winograd"
        layers = [conv, Relu()] + ([Pooling(2, 2, 2)] if pool else [])
        stage = ConvReluPool(*layers) if fused else None
        y = stage.forward(x) if fused else layers[-1].forward(layers[1].forward(conv.forward(x)))
        dout = np.random.default_rng(4).standard_normal(y.shape).astype(dtype)
        if fused:
            np.testing.assert_array_equal(stage.infer(x), y)     # the forward-only kernels, same values
            dx = stage.backward(dout)
        else:
            dx = conv.backward(layers[1].backward(layers[2].backward(dout) if pool else dout))
        outs.append((y, dx, conv.dW, conv.db))
    for a, b_ in zip(*outs):
        np.testing.assert_array_equal(a, b_)


def test_results_do_not_depend_on_the_thread_count():
    (x, W, b, dout), _ = _case((9, 16, 12, 12, 16, 1), np.float32)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            layer = Convolution(W, b, stride=1, pad=1)
            layer.algorithm = "winograd"
            out = layer.forward(x)
            results.append((out, layer.backward(dout), layer.dW, layer.db))
    finally:
        numba.set_num_threads(before)
    for a, b_ in zip(*results):
        np.testing.assert_array_equal(a, b_)


def test_deep_convnet_learns_digits_with_winograd_as_with_im2col():
    """DeepConvNet on the 8x8 digits, every convolution forced through Winograd or through im2col,
    same seeds: both reach 90% held out and end within 3 points of each other."""
    from sklearn.datasets import load_digits

    from fastnn.nets import DeepConvNet
    from fastnn.optimizer import Adam

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    perm = np.random.default_rng(0).permutation(len(x))
    x_train, t_train = x[perm[:1400]], digits.target[perm[:1400]]
    x_test, t_test = x[perm[1400:]], digits.target[perm[1400:]]
    accuracy = {}
    for algorithm in ("winograd", "im2col"):
        net = DeepConvNet((1, 8, 8), hidden_size=50, output_size=10, seed=0, dtype=np.float32)
        for layer in net.layers.values():
            if isinstance(layer, Convolution):
                layer.algorithm = algorithm
        opt = Adam(lr=0.003)
        order = np.random.default_rng(1)
        for _ in range(6):
            batches = order.permutation(len(x_train)).reshape(-1, 50)
            for idx in batches:
                opt.update(net.params, net.gradient(x_train[idx], t_train[idx]))
        accuracy[algorithm] = net.accuracy(x_test, t_test)
    assert min(accuracy.values()) >= 0.9, accuracy
    assert abs(accuracy["winograd"] - accuracy["im2col"]) <= 0.03, accuracy
