"""fastnn.onnx: every net of the book and every layer option through real onnxruntime, against net.predict."""
from collections import OrderedDict

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from fastnn.__main__ import main
from fastnn.layers import (
    Affine,
    AvgPooling,
    BatchNormalization,
    Convolution,
    Dropout,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
)
from fastnn.layers.fused import ConvReluPool
from fastnn.nets import DeepConvNet, MultiLayerNet, MultiLayerNetExtend, Sequential, SimpleConvNet, TwoLayerNet
from fastnn.onnx import build_model, export
from fastnn.testing import assert_allclose_dtype


def _session(model):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _run(model, x):
    return _session(model).run(None, {"x": np.asarray(x, dtype=np.float32)})[0]


def _assert_matches_predict(net, x, softmax=False, **kwargs):
    """The exported graph's output equals predict's within float32 tolerance (the graph is float32)."""
    model = build_model(net, softmax=softmax, **kwargs)
    got = _run(model, x)
    want = net.predict(x).astype(np.float64)
    if softmax:
        want = np.exp(want - want.max(axis=1, keepdims=True))
        want /= want.sum(axis=1, keepdims=True)
    assert_allclose_dtype(got, want.astype(np.float32), np.float32)
    return model


def _randomise_batchnorm(net, rng):
    """Give every batch norm layer trained-looking statistics, so the test can tell them apart."""
    for layer in net.layers.values():
        if isinstance(layer, BatchNormalization):
            for name, low, high in (("gamma", 0.5, 1.5), ("beta", -0.5, 0.5), ("running_mean", -0.3, 0.3),
                                    ("running_var", 0.2, 2.0)):
                arr = getattr(layer, name)
                arr[...] = rng.uniform(low, high, arr.shape)


def _images(rng, n, shape, dtype=np.float32):
    return rng.standard_normal((n, *shape)).astype(dtype)


@pytest.mark.parametrize("n", [1, 7])
def test_two_layer_net(dtype, rng, n):
    net = TwoLayerNet(20, 13, 5, weight_init_std=0.5, dtype=dtype, seed=1)
    _assert_matches_predict(net, _images(rng, n, (20,), dtype))


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_multi_layer_net(dtype, rng, activation):
    net = MultiLayerNet(30, [20, 15, 10], 4, activation=activation, dtype=dtype, seed=2)
    _assert_matches_predict(net, _images(rng, 5, (30,), dtype))


@pytest.mark.parametrize("n", [1, 6])
def test_multi_layer_net_extend_batchnorm_and_dropout(dtype, rng, n):
    net = MultiLayerNetExtend(16, [12, 12], 3, use_dropout=True, dropout_ration=0.3, use_batchnorm=True,
                              dtype=dtype, seed=3)
    _randomise_batchnorm(net, rng)
    model = _assert_matches_predict(net, _images(rng, n, (16,), dtype))
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("BatchNormalization") == 2 and ops.count("Mul") == 2 and "Dropout" not in ops


def test_dropout_scales_at_inference(rng):
    """The book's Dropout is not inverted: the exported output is x * (1 - ratio), not x."""
    net = Sequential([Affine(np.eye(4, dtype=np.float32), np.zeros(4, np.float32)), Dropout(0.25)],
                     SoftmaxWithLoss())
    x = _images(rng, 3, (4,))
    np.testing.assert_allclose(_run(build_model(net), x), 0.75 * x, rtol=1e-6)


@pytest.mark.parametrize("input_dim", [(1, 28, 28), (1, 13, 17), (3, 11, 9)])
@pytest.mark.parametrize("n", [1, 4])
def test_simple_convnet_odd_sizes(dtype, rng, input_dim, n):
    net = SimpleConvNet(input_dim, conv_param={"filter_num": 6, "filter_size": 3, "pad": 1, "stride": 1},
                        hidden_size=20, output_size=7, weight_init_std=0.3, dtype=dtype, seed=4)
    _assert_matches_predict(net, _images(rng, n, input_dim, dtype))


def test_simple_convnet_book_default_and_softmax(rng):
    net = SimpleConvNet(dtype=np.float32, seed=5, weight_init_std=0.1)
    x = _images(rng, 3, (1, 28, 28))
    _assert_matches_predict(net, x)
    _assert_matches_predict(net, x, softmax=True)


@pytest.mark.parametrize("input_dim,n", [((1, 28, 28), 2), ((1, 23, 31), 1)])
def test_deep_convnet(rng, input_dim, n):
    net = DeepConvNet(input_dim, hidden_size=30, dtype=np.float32, seed=6)
    _assert_matches_predict(net, _images(rng, n, input_dim))


def test_deep_convnet_float64_is_exported_in_float32(rng):
    net = DeepConvNet(dtype=np.float64, seed=7)
    model = _assert_matches_predict(net, _images(rng, 2, (1, 28, 28), np.float64))
    assert {t.data_type for t in model.graph.initializer} == {onnx.TensorProto.FLOAT}


def _conv(rng, fn, c, k, stride=1, pad=0, dtype=np.float32):
    return Convolution((0.3 * rng.standard_normal((fn, c, k, k))).astype(dtype),
                       (0.1 * rng.standard_normal(fn)).astype(dtype), stride=stride, pad=pad)


@pytest.mark.parametrize("pool", [AvgPooling(3, 3, stride=2, pad=1), Pooling(3, 3, stride=2, pad=1),
                                  Pooling(2, 3, stride=1, pad=1, mode="avg"), Pooling(3, 2, stride=3)],
                         ids=repr)
def test_sequential_pooling_padding_stride(dtype, rng, pool):
    """fastnn's padding semantics: max ignores padded cells, average counts them as 0 (count_include_pad)."""
    conv = _conv(rng, 4, 2, 3, stride=2, pad=2, dtype=dtype)
    x = _images(rng, 3, (2, 15, 12), dtype)
    out = pool.forward(conv.forward(x))
    d = int(np.prod(out.shape[1:]))
    net = Sequential([conv, Sigmoid(), pool,
                      Affine((0.1 * rng.standard_normal((d, 5))).astype(dtype), np.zeros(5, dtype))],
                     SoftmaxWithLoss())
    _assert_matches_predict(net, x, input_shape=(2, 15, 12))


@pytest.mark.parametrize("layout", ["per_channel", "per_activation"])
def test_batchnorm_4d_layouts(dtype, rng, layout):
    conv = _conv(rng, 3, 1, 3, dtype=dtype)              # (N, 3, 5, 6) from (N, 1, 7, 8)
    size = 3 if layout == "per_channel" else 3 * 5 * 6
    bn = BatchNormalization(np.ones(size, dtype), np.zeros(size, dtype), eps=1e-5)
    layers = OrderedDict([("Conv1", conv), ("BatchNorm1", bn), ("Relu1", Relu()),
                          ("Affine1", Affine((0.1 * rng.standard_normal((90, 4))).astype(dtype),
                                             np.zeros(4, dtype)))])
    net = Sequential(layers, SoftmaxWithLoss())
    _randomise_batchnorm(net, rng)
    model = _assert_matches_predict(net, _images(rng, 4, (1, 7, 8), dtype), input_shape=(1, 7, 8))
    assert ("Reshape" in [node.op_type for node in model.graph.node]) == (layout == "per_activation")


def test_fused_stage_in_layers(rng):
    """A Convolution → Relu → Pooling stage standing as one layer is exported as its three layers."""
    conv = _conv(rng, 4, 1, 3)
    stage = ConvReluPool(conv, Relu(), Pooling(2, 2, stride=2))
    net = Sequential([stage, Affine((0.1 * rng.standard_normal((4 * 4 * 4, 3))).astype(np.float32),
                                    np.zeros(3, np.float32))], SoftmaxWithLoss())
    model = _assert_matches_predict(net, _images(rng, 2, (1, 10, 10)), input_shape=(1, 10, 10))
    assert [node.op_type for node in model.graph.node][:3] == ["Conv", "Relu", "MaxPool"]


def test_model_is_pinned_and_checked(tmp_path, rng):
    net = SimpleConvNet((1, 12, 12), dtype=np.float32, seed=8)
    path = tmp_path / "net.onnx"
    export(net, path, batch=1)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == 8
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [1, 1, 12, 12]
    assert model.graph.output[0].name == "scores"
    x = _images(rng, 1, (1, 12, 12))
    assert_allclose_dtype(_run(str(path), x), net.predict(x), np.float32)
    with pytest.raises(Exception):
        _run(str(path), _images(rng, 2, (1, 12, 12)))   # the batch was fixed at 1


def test_any_batch_by_default(rng):
    model = build_model(TwoLayerNet(6, 4, 2, dtype=np.float32, seed=0))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


class MyLayer:
    def forward(self, x):
        return x * 2

    def backward(self, dout):
        return dout * 2


class MyRelu(Relu):
    pass


@pytest.mark.parametrize("layer,name", [(MyLayer(), "MyLayer"), (MyRelu(), "MyRelu")])
def test_unexportable_layer_is_named(layer, name):
    net = Sequential(OrderedDict([("Affine1", Affine(np.ones((3, 2), np.float32), np.zeros(2, np.float32))),
                                  ("Mine", layer)]), SoftmaxWithLoss())
    with pytest.raises(TypeError, match=rf"layer 'Mine' is a .*{name}, which ONNX export cannot translate"):
        build_model(net)


def test_conv_first_net_needs_input_shape(rng):
    net = Sequential([_conv(rng, 2, 1, 3), Relu()], SoftmaxWithLoss())
    with pytest.raises(ValueError, match=r"input_shape is needed: the net's first layer is a Convolution"):
        build_model(net)
    with pytest.raises(ValueError, match=r"layer 'Conv1' \(Convolution\) has filters for 1 channels, its "
                                         r"input has 3"):
        build_model(net, input_shape=(3, 8, 8))
    _assert_matches_predict(net, _images(rng, 2, (1, 8, 8)), input_shape=(1, 8, 8))


def test_bad_options():
    net = TwoLayerNet(6, 4, 2, seed=0)
    with pytest.raises(ValueError, match=r"opset must be an int from 13 to \d+"):
        build_model(net, opset=11)
    with pytest.raises(ValueError, match=r"batch must be None \(any batch size\) or a positive int, got 0"):
        build_model(net, batch=0)
    with pytest.raises(ValueError, match=r"layer 'Affine1' \(Affine\) has W of shape \(6, 4\), but its input "
                                         r"has 5 features"):
        build_model(net, input_shape=(5,))


# ------------------------------------------------------------------------------------------ command line

def _save_model(path, net, name, kwargs):
    """A model file as ``fastnn train --save`` writes it."""
    from fastnn.io import save_model

    save_model(net, path, data="digits")


def test_cli_exports_a_model_file(tmp_path, rng, capsys):
    kwargs = {"input_dim": [1, 14, 14], "conv_param": {"filter_num": 5, "filter_size": 3, "pad": 0, "stride": 1},
              "hidden_size": 12, "output_size": 10, "weight_init_std": 0.1}
    net = SimpleConvNet((1, 14, 14), kwargs["conv_param"], 12, 10, 0.1, dtype=np.float64, seed=9)
    model_path, out = tmp_path / "model.npz", tmp_path / "model.onnx"
    _save_model(model_path, net, "simple_convnet", kwargs)
    assert main(["export", str(model_path), str(out), "--softmax"]) == 0
    said = capsys.readouterr().out
    assert "output 'probabilities'" in said and "computes in float64; the ONNX graph is float32" in said
    x = _images(rng, 3, (1, 14, 14), np.float64)
    p = np.exp(net.predict(x))
    assert_allclose_dtype(_run(str(out), x), (p / p.sum(axis=1, keepdims=True)).astype(np.float32))


@pytest.mark.parametrize("name,make,shape,extra", [
    ("simple_convnet", lambda: SimpleConvNet(dtype=np.float32, seed=10, weight_init_std=0.1), (1, 28, 28), []),
    ("deep_convnet", lambda: DeepConvNet((1, 20, 20), hidden_size=16, dtype=np.float32, seed=11), (1, 20, 20),
     ["--input-dim", "1,20,20"]),
    ("two_layer", lambda: TwoLayerNet(12, 7, 3, weight_init_std=0.5, dtype=np.float32, seed=12), (12,), []),
    ("multi_layer", lambda: MultiLayerNetExtend(12, [8, 6], 3, use_batchnorm=True, use_dropout=True,
                                                dropout_ration=0.2, dtype=np.float32, seed=13), (12,),
     ["--dropout", "0.2"]),
])
def test_cli_exports_a_params_file(tmp_path, rng, capsys, name, make, shape, extra):
    net = make()
    _randomise_batchnorm(net, rng)
    params, out = tmp_path / "params.npz", tmp_path / "net.onnx"
    net.save_params(str(params))
    assert main(["export", "--net", name, str(params), str(out), *extra]) == 0
    assert "output 'scores', float32" in capsys.readouterr().out
    x = _images(rng, 2, shape)
    assert_allclose_dtype(_run(str(out), x), net.predict(x), np.float32)


def test_cli_exports_the_books_pickle(tmp_path, rng, capsys):
    """The book's params.pkl (a pickled dict of arrays, as its nets' save_params write it) exports too."""
    import pickle

    net = DeepConvNet((1, 12, 12), hidden_size=10, dtype=np.float32, seed=14)
    pkl, out = tmp_path / "deep_convnet_params.pkl", tmp_path / "deep.onnx"
    with open(pkl, "wb") as f:
        pickle.dump({k: np.array(v) for k, v in net.params.items()}, f)
    assert main(["export", "--net", "deep_convnet", str(pkl), str(out), "--input-dim", "1,12,12"]) == 0
    capsys.readouterr()
    x = _images(rng, 2, (1, 12, 12))
    assert_allclose_dtype(_run(str(out), x), net.predict(x), np.float32)


def test_cli_params_file_needs_net(tmp_path, capsys):
    params = tmp_path / "params.npz"
    TwoLayerNet(4, 3, 2, seed=0).save_params(str(params))
    assert main(["export", str(params), str(tmp_path / "x.onnx")]) == 2
    assert "a params file needs --net NAME" in capsys.readouterr().err
    assert main(["export", "--net", "simple_convnet", str(params), str(tmp_path / "x.onnx")]) == 2
    assert "do not fit simple_convnet: it needs W1 with 4 dimensions" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_cli_checks_its_arguments_before_work(tmp_path, capsys):
    params = tmp_path / "params.npz"
    TwoLayerNet(4, 3, 2, seed=0).save_params(str(params))
    assert main(["export", "--net", "two_layer", str(params), str(tmp_path / "missing" / "x.onnx")]) == 2
    assert "OUT.onnx" in capsys.readouterr().err
    assert main(["export", "--net", "two_layer", str(params), str(tmp_path / "x.onnx"), "--batch", "0"]) == 2
    assert "--batch must be >= 1, got 0" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "none.npz"), str(tmp_path / "x.onnx")]) == 2
    assert "none.npz" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
