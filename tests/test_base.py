"""The contract every layer keeps (fastnn.layers.base): any memory layout or the other float dtype gives
the C-contiguous result, computed in the parameters' dtype, and the caller's arrays are never written."""
import numpy as np
import pytest
from layouts import LAYOUTS, _assert_identical, _assert_untouched, _frozen, exact_values, relayout

from fastnn.layers import Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid


def _layer_cases(rng, dtype):
    """(name, make_layer, x, dout, forward kwargs, param dtype or None) for every layer."""
    W = exact_values(rng, (12, 5), dtype)
    b = exact_values(rng, (5,), dtype)
    Wc = exact_values(rng, (3, 2, 3, 3), dtype)
    bc = exact_values(rng, (3,), dtype)
    g4 = exact_values(rng, (2,), dtype)
    return [
        ("Relu", Relu, exact_values(rng, (4, 6), dtype), exact_values(rng, (4, 6), dtype), {}, None),
        ("Sigmoid", Sigmoid, exact_values(rng, (4, 6), dtype, 5), exact_values(rng, (4, 6), dtype), {}, None),
        ("Affine", lambda: Affine(W.copy(), b.copy()), exact_values(rng, (4, 3, 4), dtype),
         exact_values(rng, (4, 5), dtype), {}, dtype),
        ("BatchNorm2d", lambda: BatchNormalization(g4[:1].repeat(6) + 1, np.zeros(6, dtype)),
         exact_values(rng, (5, 6), dtype), exact_values(rng, (5, 6), dtype), {"train_flg": True}, dtype),
        ("BatchNormChannel", lambda: BatchNormalization(g4 + 1, np.zeros(2, dtype)),
         exact_values(rng, (3, 2, 4, 5), dtype), exact_values(rng, (3, 2, 4, 5), dtype), {"train_flg": True},
         dtype),
        ("Dropout", lambda: Dropout(0.4, seed=3), exact_values(rng, (4, 6), dtype),
         exact_values(rng, (4, 6), dtype), {"train_flg": True}, None),
        ("Convolution", lambda: Convolution(Wc.copy(), bc.copy(), stride=2, pad=1),
         exact_values(rng, (2, 2, 7, 6), dtype), exact_values(rng, (2, 3, 4, 3), dtype), {}, dtype),
        ("Pooling-max", lambda: Pooling(3, 2, stride=2, pad=1), exact_values(rng, (2, 3, 7, 6), dtype),
         exact_values(rng, (2, 3, 4, 4), dtype), {}, None),
        ("Pooling-avg", lambda: Pooling(2, 3, stride=1, mode="avg"), exact_values(rng, (2, 3, 5, 6), dtype),
         exact_values(rng, (2, 3, 4, 4), dtype), {}, None),
    ]


def _run_layer(make, x, dout, kwargs):
    layer = make()
    y = layer.forward(x, **kwargs)
    dx = layer.backward(dout)
    grads = [getattr(layer, "d" + p) for p in getattr(layer, "param_names", ())]
    return [y, dx] + grads


@pytest.mark.parametrize("how", LAYOUTS)
@pytest.mark.parametrize("which", ["x", "dout"])
def test_layers_give_the_contiguous_result_and_leave_inputs_alone(how, which, dtype):
    rng = np.random.default_rng(7)
    for name, make, x, dout, kwargs, param_dtype in _layer_cases(rng, dtype):
        want_x = x
        want_dout = dout
        x_in = relayout(x, how) if which == "x" else x
        dout_in = relayout(dout, how) if which == "dout" else dout
        if how == "other_float":
            if which == "x" and param_dtype is None:
                # a parameter-free layer computes in its input's dtype: the reference is the input's C copy
                want_x = x_in
                want_dout = dout.astype(x_in.dtype)
        frozen = _frozen(x_in, dout_in)
        try:
            got = _run_layer(make, x_in, dout_in, kwargs)
        except Exception as exc:  # pragma: no cover - a failure message that says which layer
            raise AssertionError(f"{name} refused a {how} {which}: {exc}") from exc
        want = _run_layer(make, np.ascontiguousarray(want_x), np.ascontiguousarray(want_dout), kwargs)
        _assert_untouched(frozen)
        try:
            _assert_identical(got, want)
        except AssertionError as exc:
            raise AssertionError(f"{name} with a {how} {which}: {exc}") from exc


def test_parameter_free_layers_keep_a_float_input_dtype():
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    for layer in (Relu(), Sigmoid(), Dropout(0.5, seed=1), Pooling(2, 2)):
        xx = x.reshape(1, 1, 3, 4) if isinstance(layer, Pooling) else x
        assert layer.forward(xx).dtype == np.float32


def test_layers_with_parameters_compute_in_their_dtype():
    rng = np.random.default_rng(0)
    layer = Affine(rng.standard_normal((4, 3)).astype(np.float32), np.zeros(3, np.float32))
    y = layer.forward(rng.standard_normal((2, 4)))  # float64 in
    assert y.dtype == np.float32
    assert layer.backward(np.ones((2, 3))).dtype == np.float32
    assert layer.dW.dtype == np.float32


def test_a_layer_does_not_write_into_the_input_it_keeps():
    """Affine and Convolution keep (a view of) the input for backward; backward must not write into it."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 5, 5))
    keep = x.copy()
    conv = Convolution(rng.standard_normal((4, 2, 3, 3)), np.zeros(4), pad=1)
    conv.backward(np.ones_like(conv.forward(x)))
    aff = Affine(rng.standard_normal((50, 3)), np.zeros(3))
    aff.backward(np.ones_like(aff.forward(x)))
    np.testing.assert_array_equal(x, keep)
