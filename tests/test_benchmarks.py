"""The benchmark baselines compute what they claim to (no timings here).

* The plain-NumPy reference nets of ``benchmarks/_refnets.py`` are the same
  networks as ``fastnn.nets``: with fastnn's weights copied in, the same loss
  and gradients (float64).
* The PyTorch nets of ``benchmarks/_torchnets.py`` have the same parameter
  shapes (when PyTorch is installed; it is a yardstick, never a dependency).
* The report's GEMM work counts, its command line, and its workers: each
  implementation in a process that imports only what it needs.
"""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` is a package beside `fastnn`, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks._nets import NET_ARGS, NETS, batch_data, make_step  # noqa: E402
from benchmarks._refnets import make_reference_net  # noqa: E402
from benchmarks.tools import report  # noqa: E402

HAVE_TORCH = importlib.util.find_spec("torch") is not None


def _fastnn_net(name, dtype=np.float64):
    import fastnn.nets

    args, kwargs = NET_ARGS[name]
    return getattr(fastnn.nets, name)(*args, dtype=dtype, seed=0, **kwargs)


@pytest.mark.parametrize("name", ["TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet"])
def test_reference_net_matches_fastnn(name):
    net = _fastnn_net(name)
    ref = make_reference_net(name, np.float64)
    assert sorted(ref.params) == sorted(net.params)
    for k, v in net.params.items():
        assert ref.params[k].shape == v.shape, k
        ref.params[k][...] = v
    x, t = batch_data(name, np.float64, 3)
    assert ref.loss(x, t, train_flg=True) == pytest.approx(net.loss(x, t, train_flg=True), rel=1e-10)
    g_ref, g = ref.gradient(x, t), net.gradient(x, t)
    for k in g:
        np.testing.assert_allclose(g_ref[k], g[k], rtol=1e-8, atol=1e-12, err_msg=k)


def test_reference_deep_conv_net_has_fastnn_shapes():
    net = _fastnn_net("DeepConvNet")
    ref = make_reference_net("DeepConvNet", np.float64)
    assert {k: v.shape for k, v in ref.params.items()} == {k: v.shape for k, v in net.params.items()}


@pytest.mark.parametrize("name", NETS)
def test_reference_step_updates_params_in_place(name):
    step = make_step("reference", name, np.float32, 2)
    before = {k: v.copy() for k, v in step.model.params.items()}
    step.step()
    assert all(v.dtype == np.float32 for v in step.model.params.values())
    assert any(not np.array_equal(before[k], v) for k, v in step.model.params.items())


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is the optional yardstick; not installed")
@pytest.mark.parametrize("name", NETS)
def test_torch_net_has_the_same_parameter_count(name):
    step = make_step("torch", name, np.float32, 2)
    n_torch = sum(p.numel() for p in step.model.parameters())
    n_fastnn = sum(v.size for v in _fastnn_net(name, np.float32).params.values())
    assert n_torch == n_fastnn
    step.step()


def test_gemm_flops_of_simple_conv_net():
    # conv forward and dW: 2 * (100*24*24) * 25 * 30 each; affine 4320->100 and 100->10: 3 GEMMs each
    conv = 2 * 100 * 576 * 25 * 30
    expected = 2 * conv + 3 * 2 * 100 * 4320 * 100 + 3 * 2 * 100 * 100 * 10
    assert report.gemm_flops("SimpleConvNet", 100) == expected
    assert report.gemm_flops("DeepConvNet", 32) > report.gemm_flops("SimpleConvNet", 32)


def test_report_arguments():
    args = report.parse_args(["--quick", "--threads", "1", "--nets", "TwoLayerNet,SimpleConvNet"])
    assert args.nets == ["TwoLayerNet", "SimpleConvNet"] and args.threads == 1 and args.rounds == 3
    with pytest.raises(SystemExit):
        report.parse_args(["--nets", "LeNet"])
    with pytest.raises(SystemExit):
        report.parse_args(["--threads", "0"])
    default = report.parse_args([])
    assert default.threads is None and not default.in_process  # each implementation's own default


@pytest.mark.parametrize("impl", ["reference", "gemm"] + (["torch"] if HAVE_TORCH else []))
def test_report_worker_runs_its_subject_alone(impl):
    worker = report.Worker(impl, "TwoLayerNet", "float32", 4, None)
    try:
        assert "config" in worker.hello, worker.hello
        assert "fastnn.layers" not in worker.hello["loaded"]  # NumPy keeps its own BLAS threads
        assert ("torch" in worker.hello["loaded"]) == (impl == "torch")
        if impl == "torch":
            assert "fastnn" not in worker.hello["loaded"]
        assert worker.ask(cmd="sample", number=2)["seconds"] > 0
    finally:
        worker.close()
    assert worker.proc.returncode == 0


def test_report_worker_of_fastnn_uses_fastnn_only():
    worker = report.Worker("fastnn", "TwoLayerNet", "float64", 4, 1)
    try:
        assert "torch" not in worker.hello["loaded"] and "fastnn" in worker.hello["loaded"]
        assert "1 threads" in worker.hello["config"]
        assert worker.ask(cmd="sample", number=1)["seconds"] > 0
    finally:
        worker.close()


def test_overhead_replays_the_kernel_calls_of_a_step():
    from fastnn.kernels import dense as dense_kernels
    from numba.core.dispatcher import Dispatcher

    from benchmarks.tools import overhead

    plain, recorded = (make_step("fastnn", "TwoLayerNet", "float64", 100) for _ in range(2))
    for _ in range(3):
        plain.step()
    calls = overhead.record_step(recorded.step)  # steps 1 and 2, then 3 recorded
    for key, value in plain.model.params.items():  # recording changes nothing
        np.testing.assert_array_equal(recorded.model.params[key], value)
    assert isinstance(dense_kernels.affine_forward, Dispatcher)  # the kernels are put back
    names = [kernel.py_func.__name__ for kernel, _, _ in calls]
    assert names.count("affine_forward") == 2 and names.count("adam_update") == 4
    assert names.count("softmax_loss_labels") == 1
    wide = {kernel.py_func.__name__ for kernel, _, is_wide in calls if is_wide}
    assert wide == {"affine_forward", "affine_param_grads"}  # the 784-wide first layer
    before = recorded.model.params["W1"].copy()
    overhead.replay(calls)  # forward, backward and Adam again, in place
    assert not np.array_equal(recorded.model.params["W1"], before)


def test_overhead_takes_dense_nets_only():
    from benchmarks.tools import overhead

    args = overhead.parse_args(["--quick", "--nets", "MultiLayerNetExtend", "--dtypes", "float64"])
    assert args.nets == ["MultiLayerNetExtend"] and args.dtypes == ["float64"] and args.rounds == 3
    with pytest.raises(SystemExit):
        overhead.parse_args(["--nets", "SimpleConvNet"])


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is the optional yardstick; not installed")
@pytest.mark.parametrize("suite,args", [("bench_nets.TrainStepTorch", ("timeraw_step", "TwoLayerNet", "float32", 2)),
                                        ("bench_layers.AffineTorch", ("timeraw_backward", "float64", 1)),
                                        ("bench_optim.OptimizerUpdateTorch", ("timeraw_update", "Adam", "float32"))])
def test_torch_twins_time_pytorch_in_a_process_without_fastnn(suite, args, monkeypatch):
    import importlib
    import os
    import subprocess

    from benchmarks import _common

    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE-set-in-the-asv-process")  # as importing fastnn may
    monkeypatch.setenv("ASV", "true")
    module, cls = suite.split(".")
    twin = getattr(importlib.import_module(f"benchmarks.{module}"), cls)()
    stmt, setup = getattr(twin, args[0])(*args[1:])
    probe = ("\nprint(sorted(m for m in ('fastnn', 'torch') if m in sys.modules), "
             "os.environ.get('OMP_WAIT_POLICY'))")
    out = subprocess.run([sys.executable, "-c", setup + stmt + probe], env=dict(os.environ), cwd="/",
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded, policy = out.stdout.strip().splitlines()[-1].split(" ", 1)
    assert loaded == "['torch']"
    assert policy == str(_common._ENV_AT_IMPORT.get("OMP_WAIT_POLICY"))


# ---------------------------------------------------------------- benchmarks.tools.inference

@pytest.mark.parametrize("impl", ["onnxruntime", pytest.param("torch", marks=pytest.mark.skipif(
    not HAVE_TORCH, reason="PyTorch is the optional yardstick; not installed"))])
def test_inference_subjects_compute_predict(impl):
    """onnxruntime (on the fastnn.onnx export) and the torch twin give predict's scores on the same weights."""
    from benchmarks.tools import inference
    from fastnn.testing import assert_allclose_dtype

    for name in ("SimpleConvNet", "DeepConvNet"):
        net = inference._net(name)
        x = np.random.default_rng(2).random((3, 1, 28, 28), dtype=np.float32)
        assert_allclose_dtype(np.asarray(inference._subject(impl, net, 1)(x)), net.predict(x), np.float32)


def test_inference_tool_arguments():
    from benchmarks.tools import inference

    with pytest.raises(SystemExit):
        inference.main(["--nets", "LeNet"])
    with pytest.raises(SystemExit):
        inference.main(["--impls", "tensorflow"])


# ---------------------------------------------------------------- benchmarks.tools.gemm_floor

def test_gemm_floor_times_the_products_each_layer_runs():
    """Every Convolution and Affine, its algorithm as a step chooses it, no input gradient for the first."""
    from benchmarks.tools import gemm_floor

    rows = gemm_floor.layer_products("DeepConvNet", 2, "float32")
    names = [name for name, _ in rows]
    assert names == [f"Conv{i}" for i in range(1, 7)] + ["Affine1", "Affine2"]
    algorithms = {name: prods["algorithm"] for name, prods in rows}
    assert algorithms["Conv4"] == algorithms["Conv6"] == "winograd"
    assert {algorithms[f"Conv{i}"] for i in (1, 2, 3, 5)} == {"im2col"}
    assert rows[0][1]["inputs"] is None and all(prods["inputs"] is not None for _, prods in rows[1:])
    for _, prods in rows:
        for key in ("forward", "weights", "inputs"):
            if prods[key] is not None:
                prods[key]()


def test_gemm_floor_table_and_arguments(capsys):
    from benchmarks.tools import gemm_floor

    gemm_floor.main(["--nets", "SimpleConvNet", "--batches", "2", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "| Conv1 | im2col |" in out and "| Affine1 | gemm |" in out
    assert "Floor on two cores" in out
    for bad in (["--nets", "LeNet"], ["--batches", "0"], ["--batches", "x"], ["--rounds", "0"]):
        with pytest.raises(SystemExit):
            gemm_floor.main(bad)
