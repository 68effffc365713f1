"""Half-precision inference: the widening kernels against NumPy, net.half(), and training refused."""
import sys

import numpy as np
import pytest
from fastnn.kernels import half as K

from fastnn import reference
from fastnn.nets import MultiLayerNetExtend, SimpleConvNet
from fastnn.nets.half import half_dtype, to_float32

ALL_BITS = np.arange(1 << 16, dtype=np.uint16)


@pytest.mark.parametrize("name", ["half_to_float32", "bfloat16_to_float32"])
def test_widening_kernels_match_numpy_on_every_bit_pattern(name):
    want = getattr(reference, name)(ALL_BITS)
    for kernel in (getattr(K, name), getattr(K, name + "_parallel")):
        out = np.empty(ALL_BITS.size, dtype=np.uint32)
        kernel(ALL_BITS, out)
        values, ref = out.view(np.float32), want.view(np.float32)
        nan = np.isnan(ref)
        np.testing.assert_array_equal(np.isnan(values), nan)
        np.testing.assert_array_equal(out[~nan], want[~nan])     # exact: every half value is a float32 value
    # NaN payloads are carried over (NumPy may quiet them; the rule is: mantissa << 13)
    if name == "half_to_float32":
        out = np.empty(1, dtype=np.uint32)
        K.half_to_float32(np.array([0x7C01], dtype=np.uint16), out)
        assert out[0] == 0x7F800000 | (1 << 13)


def test_to_float32_keeps_shape_and_values():
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float16)
    np.testing.assert_array_equal(to_float32(x), x.astype(np.float32))
    assert to_float32(x[:, ::2]).shape == (3, 2, 5)


def _rounded_float32_twin(net, dtype):
    twin = SimpleConvNet(input_dim=(1, 12, 12), conv_param={"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1},
                         hidden_size=8, output_size=3, dtype=np.float32)
    for k, v in net.params.items():
        twin.params[k][...] = v.astype(half_dtype(dtype)).astype(np.float32)
    return twin


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("net_dtype", [np.float32, np.float64])
def test_half_net_computes_like_a_float32_net_with_rounded_weights(dtype, net_dtype):
    net = SimpleConvNet(input_dim=(1, 12, 12), conv_param={"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1},
                        hidden_size=8, output_size=3, weight_init_std=0.3, dtype=net_dtype, seed=1)
    half = net.half(dtype)
    assert all(v.dtype == half_dtype(dtype) for v in half.params.values())
    assert half.dtype == half_dtype(dtype) and half.compute_dtype == np.float32
    assert net.dtype == net_dtype                                # the original is untouched
    x = np.random.default_rng(2).standard_normal((7, 1, 12, 12))
    want = _rounded_float32_twin(net, dtype).predict(x)
    got = half.predict(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)                     # the same float32 products, bit for bit
    t = np.arange(7) % 3
    assert half.accuracy(x, t, batch_size=3) == _rounded_float32_twin(net, dtype).accuracy(x, t)
    assert all(v.dtype == half_dtype(dtype) for v in half.params.values())   # stored half again after use


def test_half_net_with_batchnorm_and_dropout():
    net = MultiLayerNetExtend(20, [16, 16], 4, use_batchnorm=True, use_dropout=True, seed=0)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((64, 20)), rng.integers(0, 4, 64)
    for _ in range(3):
        net.gradient(x, t)                                      # running statistics move off their start
    half = net.half()
    np.testing.assert_allclose(half.predict(x), net.predict(x), rtol=2e-2, atol=2e-2)


def test_training_a_half_net_is_refused_with_what_to_do():
    half = SimpleConvNet(input_dim=(1, 12, 12), hidden_size=8, output_size=3).half()
    x, t = np.zeros((2, 1, 12, 12)), np.array([0, 1])
    msg = r"stores its parameters in float16, for inference only .*train in float32 or float64 and call net.half"
    with pytest.raises(TypeError, match=msg):
        half.gradient(x, t)
    with pytest.raises(TypeError, match=msg):
        half.loss(x, t)
    with pytest.raises(TypeError, match="already stored in float16; call half.. on the float32/float64 net"):
        half.half()
    with pytest.raises(TypeError, match="dtype must be float16 or bfloat16 .*got float32"):
        SimpleConvNet().half(np.float32)


def test_bfloat16_without_ml_dtypes_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)
    with pytest.raises(TypeError, match="dtype='bfloat16' needs the ml_dtypes package: pip install ml_dtypes"):
        half_dtype("bfloat16")


def test_half_accuracy_holds_on_mnist5k():
    """A real net: SimpleConvNet trained 2 epochs on mnist5k; float16 within 0.1 point of float32."""
    from fastnn.datasets import load_mnist_5k
    from fastnn.trainer import Trainer
    (x, t), (xt, tt) = load_mnist_5k(flatten=False)
    net = SimpleConvNet(dtype=np.float32, weight_init_std="he", seed=0)
    Trainer(net, x, t, xt, tt, epochs=2, optimizer="adam", optimizer_param={"lr": 0.001}, verbose=False,
            seed=0).train()
    acc32 = net.accuracy(xt, tt)
    assert acc32 > 0.9
    assert abs(net.half().accuracy(xt, tt) - acc32) <= 0.001
    assert abs(net.half("bfloat16").accuracy(xt, tt) - acc32) <= 0.01


def test_a_float16_net_for_training_says_what_to_do(capsys):
    with pytest.raises(TypeError, match=r"dtype must be float32 or float64, got float16; half precision is for "
                                        r"inference: build and train the net in float32, then net.half\('float16'\)"):
        SimpleConvNet(dtype=np.float16)
    from fastnn.__main__ import main
    with pytest.raises(SystemExit) as info:
        main(["train", "--dtype", "float16"])
    assert info.value.code == 2
    assert "float16 is for inference only: train in float32, then 'fastnn evaluate MODEL.npz --dtype float16'" \
        in capsys.readouterr().err


def test_a_half_net_is_not_saved_as_a_model_but_its_source_is(tmp_path):
    from fastnn.nets.model_file import load_model, save_model
    net = SimpleConvNet(input_dim=(1, 12, 12), hidden_size=8, output_size=3, dtype=np.float32, seed=0)
    with pytest.raises(ValueError, match=r"save_model takes a float32/float64 net; this one is stored in float16 "
                                         r"for inference .*save the net it came from"):
        save_model(net.half(), tmp_path / "h.npz")
    assert not (tmp_path / "h.npz").exists()
    save_model(net, tmp_path / "m.npz")
    x = np.random.default_rng(0).standard_normal((4, 1, 12, 12))
    np.testing.assert_array_equal(load_model(tmp_path / "m.npz")[0].half().predict(x), net.half().predict(x))
