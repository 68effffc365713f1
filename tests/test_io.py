"""fastnn.io: params, model and checkpoint files; state_dict round trips; old formats; the book's pickle;
checks of what a file declares before anything is allocated; all-or-nothing restores; atomic writes."""
import importlib.util
import json
import os
import pathlib
import pickle
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

from fastnn import io
from fastnn.nets import (
    NETS,
    DeepConvNet,
    MultiLayerNet,
    MultiLayerNetExtend,
    Sequential,
    SimpleConvNet,
    TwoLayerNet,
    build_net,
    param_shapes,
    recipe_from_params,
)
from fastnn.trainer import Trainer

DATA = pathlib.Path(__file__).with_name("data")


def _helpers():
    if "nets_helpers" not in sys.modules:  # tests/ is no package (pytest --import-mode=importlib)
        spec = importlib.util.spec_from_file_location(
            "nets_helpers", pathlib.Path(__file__).with_name("nets_helpers.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["nets_helpers"] = module
    return sys.modules["nets_helpers"]


H = _helpers()
D_IN, D_OUT = 5, 3


def _trained_extend(dtype=np.float64, seed=12):
    net = MultiLayerNetExtend(D_IN, [6, 4], D_OUT, use_batchnorm=True, use_dropout=True,
                              dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(3):  # move params and running statistics away from their start
        x = rng.standard_normal((8, D_IN))
        t = rng.integers(0, D_OUT, 8)
        for k, g in net.gradient(x, t).items():
            net.params[k] -= 0.1 * g
    return net


def _same_state(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k, v in a.items():
        if isinstance(v, np.ndarray):
            if not (isinstance(b[k], np.ndarray) and v.shape == b[k].shape and np.array_equal(v, b[k])):
                return False
        elif json.dumps(v, sort_keys=True) != json.dumps(b[k], sort_keys=True):
            return False
    return True


def _refused(net, path, match):
    snap = H.snapshot(net)
    with pytest.raises(ValueError, match=match):
        net.load_params(path)
    H.assert_unchanged(net, snap)


# -- the registry --------------------------------------------------------------------------------

def test_one_registry_and_recipes_rebuild_every_net():
    assert list(NETS) == ["simple_convnet", "deep_convnet", "two_layer", "multi_layer"]
    nets = [SimpleConvNet((1, 10, 10), {"filter_num": 3, "filter_size": 3, "pad": 1}, 7, 4, seed=0),
            DeepConvNet(seed=0), TwoLayerNet(6, 5, 3, weight_init_std=0.1, seed=0),
            MultiLayerNet(6, [5, 4], 3, activation="sigmoid", seed=0), _trained_extend()]
    for net in nets:
        name = {SimpleConvNet: "simple_convnet", DeepConvNet: "deep_convnet", TwoLayerNet: "two_layer",
                MultiLayerNet: "multi_layer", MultiLayerNetExtend: "multi_layer"}[type(net)]
        recipe = json.loads(json.dumps(net.recipe))
        assert param_shapes(name, recipe) == {k: v.shape for k, v in net.params.items()}
        again = build_net(name, recipe, net.dtype, seed=1)
        assert type(again) is type(net) and again.architecture() == net.architecture()
    assert isinstance(build_net("two_layer", input_size=4, hidden_size=3, output_size=2), TwoLayerNet)
    with pytest.raises(ValueError, match="net must be one of"):
        build_net("resnet", {})
    assert ["two_layer"] not in NETS and "resnet" not in NETS
    with pytest.raises(ValueError, match="unexpected keyword argument 'hidden'"):
        param_shapes("two_layer", {"input_size": 4, "hidden": 3, "output_size": 2})


def _small_deep_convnet(seed):
    convs = [{"filter_num": n, "filter_size": 3, "pad": 1, "stride": 1} for n in (4, 5, 6, 7, 8, 9)]
    convs[3]["pad"] = 2                                   # the book's own pads, other filter counts
    return DeepConvNet((2, 12, 12), *convs, hidden_size=11, output_size=5, seed=seed)


# every book net in sizes other than its defaults, and the overrides its shapes cannot tell
NON_DEFAULT_NETS = [
    ("two_layer", lambda seed: TwoLayerNet(12, 7, 3, weight_init_std=0.3, seed=seed), {}),
    ("multi_layer", lambda seed: MultiLayerNet(12, [9, 8, 7], 3, seed=seed), {}),
    ("multi_layer", lambda seed: MultiLayerNet(12, [], 3, activation="sigmoid", seed=seed),
     {"activation": "sigmoid"}),
    ("multi_layer", lambda seed: MultiLayerNetExtend(12, [6, 5], 4, use_batchnorm=True, seed=seed), {}),
    ("simple_convnet", lambda seed: SimpleConvNet((3, 12, 12), {"filter_num": 4, "filter_size": 3, "pad": 0,
                                                                "stride": 1}, 9, 5, seed=seed),
     {"input_dim": (3, 12, 12)}),
    ("deep_convnet", _small_deep_convnet, {"input_dim": [2, 12, 12]}),
]


@pytest.mark.parametrize("name,make,overrides", NON_DEFAULT_NETS)
def test_recipe_from_params_rebuilds_the_net_a_params_file_holds(tmp_path, name, make, overrides):
    net = make(0)
    _randomise_state(net)
    path = tmp_path / "params.npz"
    net.save_params(path)
    shapes = {k: v.shape for k, v in net.params.items()}
    params = io.read_params(path)
    assert {k: v.shape for k, v in params.items()} == shapes
    recipe = recipe_from_params(name, params, **overrides)
    assert param_shapes(name, recipe) == shapes
    assert recipe_from_params(name, shapes, **overrides) == recipe   # shapes alone do too
    again = build_net(name, json.loads(json.dumps(recipe)), seed=1)
    assert type(again) is type(net) and again.architecture() == net.architecture()
    again.load_params(path)
    x = np.random.default_rng(0).standard_normal((3, *_input_shape(recipe)))
    np.testing.assert_array_equal(again.predict(x), net.predict(x))


def _randomise_state(net):
    for value in net.params.values():
        value += 0.01


def _input_shape(recipe):
    return tuple(recipe["input_dim"]) if "input_dim" in recipe else (recipe["input_size"],)


def test_recipe_from_params_says_when_the_params_do_not_fit():
    two = {k: v.shape for k, v in TwoLayerNet(12, 7, 3, seed=0).params.items()}
    deeper = {k: v.shape for k, v in MultiLayerNet(12, [9, 8], 3, seed=0).params.items()}
    conv = {k: v.shape for k, v in SimpleConvNet((1, 12, 12), seed=0).params.items()}
    cases = [
        ("simple_convnet", two, {}, r"the params do not fit simple_convnet: it needs W1 with 4 dimensions, "
                                    r"got \(12, 7\); is it a params file of another net\?"),
        ("deep_convnet", conv, {}, r"do not fit deep_convnet: it needs W2 with 4 dimensions, got \(480, 100\)"),
        ("two_layer", deeper, {}, r"do not fit two_layer: W3, b3 belong to no parameter of a two_layer net"),
        ("two_layer", {**two, "W2": (5, 3)}, {}, r"do not fit two_layer: W2 has shape \(5, 3\), the two_layer "
                                                 r"net these shapes describe needs \(7, 3\)$"),
        ("two_layer", {k: v for k, v in two.items() if k != "b1"}, {},
         r"the net needs b1 of shape \(7,\), which the params lack"),
        ("simple_convnet", conv, {}, r"W2 has shape \(480, 100\), .* needs \(4320, 100\); give the image size "
                                     r"it was trained on \(input_dim=\(C, H, W\)\)"),
        ("simple_convnet", conv, {"input_dim": (3, 12, 12)}, r"W1 has shape \(30, 1, 5, 5\), .* needs "
                                                             r"\(30, 3, 5, 5\); give the image size"),
        ("multi_layer", deeper, {"hidden_size_list": [9, 9]}, r"W2 has shape \(9, 8\), .* needs \(9, 9\)"),
        ("resnet", two, {}, "net must be one of"),
    ]
    for name, params, overrides, message in cases:
        with pytest.raises(ValueError, match=message):
            recipe_from_params(name, params, **overrides)
    with pytest.raises(TypeError, match="params must be a dict of parameter names to arrays or shapes, got list"):
        recipe_from_params("two_layer", [(12, 7)])


def test_read_params_takes_every_kind_of_file(tmp_path):
    import pickle

    net = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, seed=0)
    names = {"W1", "b1", "gamma1", "beta1", "W2", "b2"}
    net.save_params(tmp_path / "p.npz")
    (tmp_path / "p.pkl").write_bytes(pickle.dumps({k: np.array(v) for k, v in net.params.items()}))
    for path in (tmp_path / "p.npz", tmp_path / "p.pkl", DATA / "v1_checkpoint_trainer.npz"):
        params = io.read_params(path)
        assert set(params) == names, path               # a checkpoint's optimizer arrays are not parameters
        assert all(isinstance(v, np.ndarray) for v in params.values())
    np.testing.assert_array_equal(io.read_params(tmp_path / "p.npz")["W1"], net.params["W1"])
    (tmp_path / "empty.pkl").write_bytes(pickle.dumps({}))
    with pytest.raises(ValueError, match="holds no parameters named W1, b1, ... .*; is it a params file"):
        io.read_params(tmp_path / "empty.pkl")


# -- params files: round trips and refusals ------------------------------------------------------------

def test_save_load_round_trip(dtype, tmp_path):
    src = _trained_extend(dtype)
    path = tmp_path / "net.npz"
    src.save_params(path)
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]  # no temporary file left behind
    dst = MultiLayerNetExtend(D_IN, [6, 4], D_OUT, use_batchnorm=True, use_dropout=True, dtype=dtype, seed=99)
    arrays = dict(dst.params)
    mean_array = dst.layers["BatchNorm2"].running_mean
    dst.load_params(str(path))
    for k, v in src.params.items():
        np.testing.assert_array_equal(dst.params[k], v)
        assert dst.params[k] is arrays[k]  # copied into the layers' arrays: links kept
    np.testing.assert_array_equal(dst.layers["BatchNorm1"].running_var, src.layers["BatchNorm1"].running_var)
    assert dst.layers["BatchNorm2"].running_mean is mean_array
    x = np.random.default_rng(7).standard_normal((6, D_IN))
    np.testing.assert_array_equal(dst.predict(x), src.predict(x))
    with np.load(path) as data:  # plain npz, no pickle, one metadata record
        meta = json.loads(str(data["__fastnn__"]))
        assert meta["format"] == io.FORMAT_VERSION and meta["kind"] == "params"
        assert meta["dtype"] == np.dtype(dtype).name
        assert "net/state/BatchNorm1/running_var" in data.files and "net/param/gamma2" in data.files


def test_load_casts_between_dtypes(tmp_path):
    src = _trained_extend(np.float64)
    src.save_params(tmp_path / "p.npz")
    dst = MultiLayerNetExtend(D_IN, [6, 4], D_OUT, use_batchnorm=True, use_dropout=True, dtype=np.float32, seed=0)
    dst.load_params(tmp_path / "p.npz")
    assert dst.dtype == np.float32
    for k, v in src.params.items():
        np.testing.assert_array_equal(dst.params[k], v.astype(np.float32))


def test_save_writes_exactly_the_name_given_and_replaces(tmp_path):
    net = TwoLayerNet(4, 3, 2, seed=0)
    net.save_params(tmp_path / "params.npz")
    net.params["W1"] += 1
    net.save_params(tmp_path / "params.npz")
    other = TwoLayerNet(4, 3, 2, seed=1)
    other.load_params(tmp_path / "params.npz")
    np.testing.assert_array_equal(other.params["W1"], net.params["W1"])
    assert os.listdir(tmp_path) == ["params.npz"]


def test_failed_save_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    net = TwoLayerNet(4, 3, 2, seed=0)
    path = tmp_path / "p.npz"
    net.save_params(path)
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half of a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    net.params["W1"] += 1
    with pytest.raises(OSError, match="disk full"):
        net.save_params(path)
    assert os.listdir(tmp_path) == ["p.npz"]
    assert path.read_bytes() == before


def test_check_output_file_says_what_is_wrong_with_an_output_path(tmp_path):
    """The one writability check behind Trainer(checkpoint_path=...) and the command line's outputs."""
    (tmp_path / "a_file").write_text("x")
    assert io.check_output_file(tmp_path / "new.npz", "out") == str(tmp_path / "new.npz")
    assert os.listdir(tmp_path) == ["a_file"]      # the real write probe leaves nothing behind
    cases = [
        ("", r"out must be a non-empty file name, got ''; give a file such as run\.npz"),
        (tmp_path, r"out .*: is a folder; give a file name inside it, such as .*run\.npz"),
        (tmp_path / "missing" / "x.npz", r"out .*x\.npz: the folder .*missing does not exist; create it first"),
        (tmp_path / "a_file" / "x.npz", r"out .*: .*a_file is not a folder but a file"),
        ("/proc/fastnn-cannot-write-here.npz", r"out .*: cannot create a file in /proc \(.*\); choose a folder"),
    ]
    for path, message in cases:
        with pytest.raises(ValueError, match=message):
            io.check_output_file(path, "out", example="run.npz")
    with pytest.raises(TypeError, match="out must be a str or path, got a int"):
        io.check_output_file(3, "out")
    with pytest.raises(TypeError, match="out must be a str or path, got b'x.npz'; decode"):
        io.check_output_file(b"x.npz", "out")


def test_load_refuses_truncated_and_corrupt_files(tmp_path):
    path = tmp_path / "p.npz"
    _trained_extend().save_params(path)
    data = path.read_bytes()
    net = _trained_extend(seed=1)
    for cut in (len(data) // 2, len(data) - 10, 10):
        path.write_bytes(data[:cut])
        _refused(net, path, "corrupt or truncated|not a fastnn")
    for pos in (len(data) // 3, len(data) // 2, 2 * len(data) // 3):  # zip CRCs catch damaged values
        bad = bytearray(data)
        bad[pos:pos + 8] = bytes(b ^ 0xFF for b in bad[pos:pos + 8])
        path.write_bytes(bytes(bad))
        _refused(net, path, "corrupt|not a fastnn|does not match|architecture|JSON|format|declares|dtype")


def test_load_refuses_another_architecture(tmp_path):
    path = tmp_path / "p.npz"
    MultiLayerNetExtend(D_IN, [6, 4], D_OUT, use_batchnorm=True, seed=0).save_params(path)
    _refused(MultiLayerNetExtend(D_IN, [6, 5], D_OUT, use_batchnorm=True, seed=0), path, "another architecture")
    _refused(MultiLayerNetExtend(D_IN, [6, 4], D_OUT, seed=0), path, "another architecture")
    _refused(MultiLayerNetExtend(D_IN, [6, 4], D_OUT, activation="sigmoid", use_batchnorm=True, seed=0),
             path, "another architecture")
    _refused(TwoLayerNet(D_IN, 6, D_OUT, seed=0), path, "another architecture")


def test_load_refuses_non_fastnn_files(tmp_path):
    net = TwoLayerNet(4, 3, 2, seed=0)
    plain = tmp_path / "plain.npz"
    np.savez(plain, W1=np.zeros((4, 3)))
    _refused(net, plain, "not a fastnn model file, params file or checkpoint")
    text = tmp_path / "text.npz"
    text.write_text("hello")
    _refused(net, text, "not a file written by fastnn")
    objects = tmp_path / "objects.npz"
    np.savez(objects, __fastnn__=np.array(json.dumps({"format": 2, "kind": "params"})),
             **{"net/param/W1": np.empty((4, 3), dtype=object)})
    _refused(net, objects, "dtype object")
    with pytest.raises(FileNotFoundError):
        net.load_params(tmp_path / "missing.npz")


def _rewrite(path, change_meta=None, **arrays):
    """Rewrite a saved file with some entries replaced (value None: removed) and its record changed."""
    with np.load(path) as data:
        content = {k: data[k] for k in data.files}
    meta = json.loads(str(content["__fastnn__"]))
    if change_meta:
        change_meta(meta)
    content["__fastnn__"] = np.array(json.dumps(meta))
    for k, v in arrays.items():
        if v is None:
            content.pop(k)
        else:
            content[k] = v
    np.savez(path, **content)


def test_load_refuses_bad_values_and_changes_nothing(tmp_path):
    net = _trained_extend()
    path = tmp_path / "p.npz"
    net.save_params(path)
    data = dict(np.load(path))
    nan = data["net/param/W2"].copy()
    nan[0, 0] = np.nan
    cases = [
        ({"net/param/W2": nan}, "NaN"),
        ({"net/param/W2": data["net/param/W2"].astype(np.complex128)}, "real floats"),
        ({"net/param/b1": data["net/param/b1"].astype(np.int64)}, "real floats"),
        ({"net/param/b1": np.zeros(4)}, "shape"),
        ({"net/param/W1": None}, "missing"),
        ({"net/param/W9": np.zeros(3)}, "unexpected"),
        ({"optimizer/v/W1": np.zeros(3)}, r"unexpected entries \['optimizer/v/W1'\] in a params file"),
        ({"net/state/BatchNorm1/running_var": -np.ones(6)}, "negative variances"),
        ({"net/state/BatchNorm1/running_mean": np.zeros(5)}, "shape"),
    ]
    for change, match in cases:
        path = tmp_path / "bad.npz"
        np.savez(path, **data)
        _rewrite(path, **change)
        _refused(net, path, match)
    np.savez(path, **data)
    _rewrite(path, lambda m: m.update(format=3))
    _refused(net, path, "format version 3")


# -- state_dict --------------------------------------------------------------------------------------

def test_net_state_dict_round_trip_includes_dropout_generators():
    src = _trained_extend()
    state = src.state_dict()
    assert {"param/W1", "state/BatchNorm1/running_var", "rng/Dropout1"} <= set(state)
    json.dumps({k: v for k, v in state.items() if not isinstance(v, np.ndarray)})  # JSON-able values
    dst = MultiLayerNetExtend(D_IN, [6, 4], D_OUT, use_batchnorm=True, use_dropout=True, seed=3)
    dst.load_state_dict(state)
    assert _same_state(dst.state_dict(), state)
    x = np.random.default_rng(1).standard_normal((4, D_IN))
    t = np.array([0, 1, 2, 0])
    np.testing.assert_array_equal(dst.loss(x, t, train_flg=True), src.loss(x, t, train_flg=True))  # same masks
    unseeded = MultiLayerNetExtend(D_IN, [6], D_OUT, use_dropout=True)  # draws from NumPy's global generator
    assert not [k for k in unseeded.state_dict() if k.startswith("rng/")]  # which no net owns


def test_net_load_state_dict_refuses_each_kind_of_bad_entry():
    net = _trained_extend()
    good = net.state_dict()
    cases = [
        ({"param/W1": good["param/W1"] + 1j}, ValueError, "real floats"),
        ({"param/W1": good["param/W1"][:2]}, ValueError, "shape"),
        ({"state/BatchNorm2/running_var": -good["state/BatchNorm2/running_var"] - 1}, ValueError, "negative"),
        ({"state/BatchNorm2/running_mean": np.zeros(7)}, ValueError, "shape"),
        ({"rng/Dropout1": {"bit_generator": "PCG64", "state": {"state": "x", "inc": 1}}}, ValueError,
         "generator state"),
        ({"rng/Dropout1": {"bit_generator": "MT19937"}}, ValueError, "generator state"),
        ({"param/nope": np.zeros(2)}, ValueError, "unexpected"),
    ]
    before = net.state_dict()
    for change, exc, match in cases:
        with pytest.raises(exc, match=match):
            net.load_state_dict({**good, **change})
        assert _same_state(net.state_dict(), before)
    with pytest.raises(ValueError, match="missing parameters"):
        net.load_state_dict({k: v for k, v in good.items() if k != "param/b3"})
    with pytest.raises(TypeError, match="state must be a dict"):
        net.load_state_dict([1, 2])


def _trainer(net=None, epochs=2, batch=8, optimizer="adam", **kw):
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((30, D_IN)), rng.integers(0, D_OUT, 30)
    return Trainer(net or _trained_extend(), x, t, x[:10], t[:10], epochs=epochs, mini_batch_size=batch,
                   optimizer=optimizer, optimizer_param={"lr": 0.01}, verbose=False, seed=5, **kw)


def test_trainer_state_dict_round_trip():
    a = _trainer()
    for _ in range(a.iter_per_epoch):
        a.train_step()
    state = a.state_dict()
    assert state["trainer/epoch"] == 1 and state["trainer/iteration"] == a.iter_per_epoch
    b = _trainer(_trained_extend(seed=3))
    b.load_state_dict(state)
    assert _same_state(b.state_dict(), a.state_dict())
    a.train()
    b.train()
    for k, v in a.network.params.items():
        np.testing.assert_array_equal(b.network.params[k], v)
    assert a.train_loss_list == b.train_loss_list


def test_trainer_restore_is_all_or_nothing_for_each_entry_kind():
    a = _trainer()
    for _ in range(a.iter_per_epoch):
        a.train_step()
    good = a.state_dict()
    n = a.iter_per_epoch
    bad_rng = dict(good["trainer/rng"], state={"state": -5, "inc": "?"})
    cases = [
        ({"net/param/W1": None}, "missing parameters"),
        ({"net/param/W2": good["net/param/W2"].astype(np.complex64)}, "real floats"),
        ({"net/state/BatchNorm1/running_var": np.ones(5)}, "shape"),
        ({"net/state/BatchNorm1/running_var": -np.ones(6)}, "negative"),
        ({"net/rng/Dropout2": {"bit_generator": "PCG64"}}, "generator state"),
        ({"trainer/rng": bad_rng}, "trainer/rng is not a valid random generator state"),
        ({"trainer/global_rng": {"bit_generator": "MT19937", "state": {"key": [1, 2], "pos": 0}}},
         "trainer/global_rng"),
        ({"trainer/epoch": -3}, "integer >= 0"),
        ({"trainer/epoch": 2}, "counters disagree"),
        ({"trainer/iteration": n + 1}, "counters disagree"),
        ({"trainer/train_acc": np.zeros(3)}, "3 values for 1 epochs"),
        ({"trainer/train_loss": np.zeros(n + 1)}, "losses for"),
        ({"trainer/mini_batch_size": 10}, "mini_batch_size is 10 in the checkpoint, 8 here"),
        ({"optimizer/m/W1": np.zeros((2, 2))}, "optimizer/m/W1 has shape"),
        ({"optimizer/iter": np.array(-1)}, "iter"),
        ({"optimizer/hyper/lr": np.array(-1.0)}, "lr"),
        ({"optimizer/optimizer": np.array("SGD")}, "optimizer is 'SGD'"),
        ({"trainer/bogus": 1}, "unknown entries|unexpected"),
    ]
    b = _trainer(_trained_extend(seed=4))
    for _ in range(b.iter_per_epoch):
        b.train_step()
    np.random.seed(3)
    before = b.state_dict()
    for change, match in cases:
        state = {**good, **change}
        state = {k: v for k, v in state.items() if v is not None}
        with pytest.raises((ValueError, TypeError), match=match):
            b.load_state_dict(state)
        assert _same_state(b.state_dict(), before), change


def test_checkpoint_file_round_trip_and_refusals(tmp_path):
    ck = tmp_path / "run.npz"
    a = _trainer(checkpoint_path=ck)
    a.train()
    kind, meta, state = io.read_state(ck)
    assert kind == "checkpoint" and meta["net"] == "multi_layer" and state["trainer/epoch"] == 2
    b = _trainer(_trained_extend(seed=8), epochs=3, checkpoint_path=ck, resume=True)
    assert b.current_epoch == 2 and _same_state(
        {k: v for k, v in b.state_dict().items() if k != "trainer/global_rng"},
        {k: v for k, v in a.state_dict().items() if k != "trainer/global_rng"})
    c = _trainer(_trained_extend(seed=8), epochs=6)
    before = c.state_dict()
    for values, arrays, match in (
            ({"trainer/epoch": 5}, {}, r"entry 'trainer/train_acc' has shape \(2,\), this training run needs \(5,\)"),
            ({"trainer/epoch": 7}, {}, "has already done 7 epochs; this training run has 6"),
            ({"trainer/epoch": 2, "trainer/iteration": 9}, {}, "records 2 epochs and 9 steps"),
            ({"trainer/epoch": -2}, {}, "trainer/epoch must be an integer >= 0, got -2"),
            ({"trainer/iteration": 8.0}, {}, "trainer/iteration must be an integer"),
            ({"trainer/epoch": 2}, {"trainer/train_loss": np.zeros(10**6)}, "more than the 8 steps"),
            ({"trainer/rng": {"bit_generator": "PCG64"}}, {}, "does not fit this training run.*trainer/rng")):
        _rewrite(ck, lambda m: m["values"].update({"trainer/epoch": 2, "trainer/iteration": 8, **values}), **arrays)
        with pytest.raises(ValueError, match=match):
            c.load_checkpoint(ck)
        assert _same_state(c.state_dict(), before)
        _rewrite(ck, lambda m: None, **{"trainer/train_loss": np.zeros(8)})
    tiny = tmp_path / "p.npz"
    c.network.save_params(tiny)
    with pytest.raises(ValueError, match="not a Trainer checkpoint"):
        c.load_checkpoint(tiny)


# -- model files -------------------------------------------------------------------------------------

def test_model_file_round_trip_and_refusals(tmp_path):
    net = build_net("simple_convnet", {"input_dim": [1, 8, 8], "hidden_size": 12, "output_size": 10,
                                       "weight_init_std": 0.1}, "float32", seed=3)
    path = tmp_path / "model.npz"
    io.save_model(net, path, data="digits", flatten=False)
    back, info = io.load_model(path)
    assert back.dtype == np.float32 and info["data"] == "digits" and info["net"] == "simple_convnet"
    assert io.read_model_info(path) == info
    for k, v in net.params.items():
        np.testing.assert_array_equal(back.params[k], v)
    x = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    back64, _ = io.load_model(path, dtype="float64")
    assert back64.dtype == np.float64

    net.save_params(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="save_params file"):
        io.load_model(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="registered nets"):
        io.save_model(Sequential([net.layers["Affine2"]], net.last_layer), tmp_path / "x.npz")
    data = path.read_bytes()
    path.write_bytes(data[:200])
    with pytest.raises(ValueError, match=f"'{path}' is corrupt or truncated"):  # the user's file, no temporary
        io.load_model(path)


def test_model_recipe_is_checked_before_the_net_is_built(tmp_path):
    path = tmp_path / "m.npz"
    io.save_model(MultiLayerNet(6, [5], 3, seed=0), path)
    _rewrite(path, lambda m: m["recipe"].update(hidden_size_list=[4000] * 20))
    with pytest.raises(ValueError, match=r"entry 'net/param/W1': the recipe implies shape \(6, 4000\), "
                                         r"the file stores \(6, 5\)"):
        io.load_model(path)
    _rewrite(path, lambda m: m["recipe"].update(hidden_size_list=[10**12]))
    with pytest.raises(ValueError, match=r"the model's recipe is not valid \(hidden_size_list\[0\] must be at most"):
        io.load_model(path)
    _rewrite(path, lambda m: m["recipe"].update(hidden_size_list="many"))
    with pytest.raises(ValueError, match="recipe is not valid"):
        io.load_model(path)


# -- files of format 1 (tests/data, written by the code before fastnn.io) -------------------------------

def test_format_1_params_files_load():
    net = TwoLayerNet(6, 5, 3, seed=9)
    net.load_params(DATA / "v1_params_two_layer.npz")
    bn = MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True, use_dropout=True, dropout_ration=0.3, seed=0)
    bn.load_params(DATA / "v1_params_multi_layer_extend_bn.npz")
    conv = SimpleConvNet((1, 6, 6), {"filter_num": 2, "filter_size": 3}, 4, 3, dtype=np.float32, seed=0)
    conv.load_params(DATA / "v1_params_simple_convnet_f32.npz")
    for target, name in ((net, "v1_params_two_layer"), (bn, "v1_params_multi_layer_extend_bn"),
                         (conv, "v1_params_simple_convnet_f32")):
        with np.load(DATA / f"{name}.npz") as z:
            for k, v in target.params.items():
                np.testing.assert_array_equal(v, z[f"param.{k}"])
            for key in z.files:
                if key.startswith("state."):
                    layer, sname = key.split(".")[1:]
                    np.testing.assert_array_equal(getattr(target.layers[layer], sname), z[key])
    _refused(TwoLayerNet(6, 4, 3, seed=0), DATA / "v1_params_two_layer.npz", "another architecture")


def test_format_1_model_files_load():
    conv, info = io.load_model(DATA / "v1_model_simple_convnet.npz")
    assert type(conv) is SimpleConvNet and conv.dtype == np.float32 and info["data"] == "digits"
    mlp, info = io.load_model(DATA / "v1_model_multi_layer_extend.npz")
    assert type(mlp) is MultiLayerNetExtend and info["net"] == "multi_layer" and info["test_acc"] == 0.25
    with np.load(DATA / "v1_model_multi_layer_extend.npz") as z:
        np.testing.assert_array_equal(mlp.params["gamma2"], z["net/param.gamma2"])
        np.testing.assert_array_equal(mlp.layers["BatchNorm1"].running_var, z["net/state.BatchNorm1.running_var"])


def test_format_1_checkpoint_resumes():
    rng = np.random.default_rng(0)  # the data of tests/data/README.md's script
    rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    xs, ts = rng.standard_normal((20, 6)), rng.integers(0, 3, 20)
    net = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, use_dropout=True, dropout_ration=0.2, seed=6)
    tr = Trainer(net, xs, ts, xs[:10], ts[:10], epochs=3, mini_batch_size=8, optimizer="adam",
                 optimizer_param={"lr": 0.01}, verbose=False, seed=7,
                 checkpoint_path=DATA / "v1_checkpoint_trainer.npz", resume=True)
    assert tr.current_epoch == 2 and tr.current_iter == 6 and len(tr.test_acc_list) == 2
    assert tr.optimizer.iter == 6
    with np.load(DATA / "v1_checkpoint_trainer.npz") as z:
        np.testing.assert_array_equal(net.params["W1"], z["net.param.W1"])
        np.testing.assert_array_equal(tr.optimizer.m["W1"], z["opt.m/W1"])
    tr.checkpoint_path = None
    tr.train()
    assert tr.current_epoch == 3


# -- the book's params.pkl -----------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_book_pickle_loads_into_every_matching_net(tmp_path, protocol):
    for src in (TwoLayerNet(6, 5, 3, seed=1), MultiLayerNet(6, [5, 4], 3, seed=1),
                SimpleConvNet((1, 6, 6), {"filter_num": 2, "filter_size": 3}, 4, 3, seed=1), _trained_extend(),
                DeepConvNet(seed=1)):
        path = tmp_path / "params.pkl"
        with open(path, "wb") as f:  # the book's save_params: a dict of names to arrays
            pickle.dump({k: v.copy() for k, v in src.params.items()}, f, protocol=protocol)
        dst = type(src)(**src.recipe, seed=7)
        dst.load_params(path)
        for k, v in src.params.items():
            np.testing.assert_array_equal(dst.params[k], v)
    _refused(TwoLayerNet(6, 4, 3, seed=0), path, "does not match this net|shape")


def test_numpy_1_pickles_load(tmp_path):
    net = TwoLayerNet(4, 3, 2, seed=0)
    data = pickle.dumps(dict(net.params), protocol=2)
    assert b"numpy._core.multiarray" in data or b"numpy.core.multiarray" in data
    path = tmp_path / "old.pkl"
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    other = TwoLayerNet(4, 3, 2, seed=1)
    other.load_params(path)
    np.testing.assert_array_equal(other.params["W2"], net.params["W2"])


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_pickle_that_would_run_code_is_refused_before_anything_runs(tmp_path):
    net = TwoLayerNet(4, 3, 2, seed=0)
    target = tmp_path / "written_by_pickle"
    for payload, name in (({"W1": _Evil(str(target))}, "refused the global io.open"),
                          (_Evil(str(target)), "refused the global io.open"),
                          ({"W1": np.array([1.0], dtype=object)}, "object"),
                          ([np.zeros(3)], "not a params pickle"),
                          ({"W1": np.zeros((2, 2), dtype=[("a", "f8")])}, "dtype")):
        path = tmp_path / "evil.pkl"
        path.write_bytes(pickle.dumps(payload, protocol=4))
        _refused(net, path, name)
        assert not target.exists()
    path.write_bytes(pickle.dumps({"W1": 1})[:-5])
    _refused(net, path, "not a readable params pickle")


# -- what a file declares is checked before anything is allocated -------------------------------------

def _bomb(path, shape, net):
    """``net``'s params file with its W1 member replaced by ``shape`` float64 zeros, deflated (tiny on disk)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("__fastnn__.npy", "w") as f:
            np.lib.format.write_array(f, np.array(json.dumps({"format": 2, "kind": "params"})))
        for key, value in net.params.items():
            if key != "W1":
                with zf.open(f"net/param/{key}.npy", "w") as f:
                    np.lib.format.write_array(f, value)
        with zf.open("net/param/W1.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": shape})
            chunk = bytes(2**24)
            left = int(np.prod(shape)) * 8
            while left:
                f.write(chunk[:min(left, len(chunk))])
                left -= min(left, len(chunk))


def test_a_header_that_disagrees_with_its_zip_entry_is_refused(tmp_path):
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("net/param/W1.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)})
            f.write(bytes(80))
    with pytest.raises(ValueError, match=r"'net/param/W1' declares shape \(1000000000,\).*zip entry declares 80"):
        TwoLayerNet(4, 3, 2, seed=0).load_params(path)


RSS_SCRIPT = textwrap.dedent("""
    import resource, sys
    from fastnn import io
    from fastnn.nets import TwoLayerNet
    net = TwoLayerNet(784, 50, 10, seed=0)
    net.predict(__import__("numpy").zeros((1, 784)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for path in sys.argv[1:]:
        try:
            io.load_model(path) if "model" in path else net.load_params(path)
        except ValueError as exc:
            print("refused:", exc)
    print("grew_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
""")


def test_small_files_cannot_make_large_allocations(tmp_path):
    bomb = tmp_path / "bomb.npz"
    _bomb(bomb, (10000, 5000), TwoLayerNet(784, 50, 10, seed=0))  # 400 MB of zeros, a few hundred KB on disk
    assert bomb.stat().st_size < 2 * 2**20
    model = tmp_path / "model.npz"
    io.save_model(MultiLayerNet(784, [5], 10, seed=0), model)
    _rewrite(model, lambda m: m["recipe"].update(hidden_size_list=[4000] * 20))
    assert model.stat().st_size < 100_000
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(bomb), str(model)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "entry 'net/param/W1' has shape (10000, 5000), this net needs (784, 50)" in lines[0]
    assert "the recipe implies shape (784, 4000)" in lines[1]
    assert int(lines[-1].split()[1]) < 50 * 1024, out.stdout    # KB: neither file cost memory


# -- atomic writes ------------------------------------------------------------------------------------

def test_stale_temporaries_of_fastnn_are_removed_on_the_next_write(tmp_path):
    old = tmp_path / ".p.npz.ab12cd34.tmp"
    fresh = tmp_path / ".p.npz.ef56ab78.tmp"
    other = tmp_path / ".notes.tmp"
    for f in (old, fresh, other):
        f.write_bytes(b"x")
    past = time.time() - 2 * io.STALE_TEMP_SECONDS
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    TwoLayerNet(4, 3, 2, seed=0).save_params(tmp_path / "q.npz")
    assert sorted(os.listdir(tmp_path)) == sorted([fresh.name, other.name, "q.npz"])


def test_saving_onto_a_symlink_writes_its_target(tmp_path):
    target = tmp_path / "real.npz"
    target.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    net = TwoLayerNet(4, 3, 2, seed=0)
    net.save_params(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    other = TwoLayerNet(4, 3, 2, seed=1)
    other.load_params(target)
    np.testing.assert_array_equal(other.params["W1"], net.params["W1"])


def test_file_modes_without_touching_the_umask(tmp_path, monkeypatch):
    def no_umask(mask):
        raise AssertionError("the umask must not be changed")

    monkeypatch.setattr(os, "umask", no_umask)
    net = TwoLayerNet(4, 3, 2, seed=0)
    net.save_params(tmp_path / "new.npz")
    (tmp_path / "plain").write_bytes(b"")       # what open() gives: 0o666 less the umask
    assert (tmp_path / "new.npz").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777
    code = ("import os, sys; os.umask(0o027)\n"
            "from fastnn.nets import TwoLayerNet\n"
            "TwoLayerNet(2, 2, 2, seed=0).save_params(sys.argv[1])\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "masked.npz")], check=True, timeout=120)
    assert (tmp_path / "masked.npz").stat().st_mode & 0o777 == 0o640
    os.chmod(tmp_path / "new.npz", 0o600)
    net.save_params(tmp_path / "new.npz")
    assert (tmp_path / "new.npz").stat().st_mode & 0o777 == 0o600


def test_plots_are_written_atomically(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from fastnn.plot import plot_training_curves

    path = tmp_path / "curves.png"
    run = {"train_loss_list": [1.0, 0.5, 0.25], "train_acc_list": [0.5], "test_acc_list": [0.4]}
    plot_training_curves(run, path)
    before = path.read_bytes()
    assert before[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.figure import Figure

    def broken(self, f, **kw):
        f.write(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="disk full"):
        plot_training_curves(run, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["curves.png"]
