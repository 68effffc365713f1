"""``benchmarks.tools.layer_peers``: each implementation of an asv layer suite in a process of its own,
in its own configuration, and the table it prints (no timings are judged here)."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` is a package beside `fastnn`, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.tools import layer_peers  # noqa: E402


@pytest.fixture
def default_env(monkeypatch):
    """The environment of a plain run, but with asv's flag set: the workers must not inherit its preimports."""
    for name in ("FASTNN_HOST_TUNING", "FASTNN_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                 "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ASV", "true")


def _plain_defaults():
    """NumPy's BLAS threads and numba's threads in a fresh interpreter that imports nothing else."""
    code = ("import json, numba, numpy; from threadpoolctl import threadpool_info\n"
            "print(json.dumps([sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}),"
            " numba.config.NUMBA_NUM_THREADS]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=layer_peers.worker_env("reference"))
    assert out.returncode == 0, out.stderr
    blas, numba_threads = json.loads(out.stdout)
    return ",".join(map(str, blas)), numba_threads


def test_each_implementation_runs_in_a_fresh_process_of_its_own_default_configuration(default_env):
    medians, hellos, skipped = layer_peers.measure("Affine", {"dtype": "float32", "batch": 1}, None,
                                                   rounds=1, min_sample=0.005, settle=0)
    assert skipped == {}
    fastnn, reference = hellos["fastnn"], hellos["reference"]
    assert len({fastnn["pid"], reference["pid"], os.getpid()}) == 3
    # the reference: plain NumPy, never reached by fastnn's host tuning, NumPy's own BLAS threads
    assert reference["host_tuning"] is False
    assert not {"fastnn.layers", "fastnn._runtime", "torch"} & set(reference["loaded"])
    blas, numba_threads = _plain_defaults()
    assert reference["config"].startswith("NumPy ") and f"BLAS threads {blas}," in reference["config"]
    assert "fastnn.layers not loaded, host tuning off" in reference["config"]
    # fastnn: its host tuning and thread policy, numba's own thread count (nothing pinned)
    assert fastnn["host_tuning"] is True and "fastnn.layers" in fastnn["loaded"] and "torch" not in fastnn["loaded"]
    assert f"{numba_threads} threads" in fastnn["config"] and fastnn["config"].endswith("host tuning on")
    assert list(medians) == ["time_forward", "time_backward"] == fastnn["methods"]
    assert all(medians[m][impl] > 0 for m in medians for impl in ("fastnn", "reference"))


def test_threads_are_pinned_through_each_implementations_own_api(default_env):
    _, hellos, _ = layer_peers.measure("Activation", {"kind": "relu", "dtype": "float64", "batch": 1}, 1,
                                       rounds=1, min_sample=0.005, settle=0)
    assert "numba" in hellos["fastnn"]["config"] and " 1 threads," in hellos["fastnn"]["config"]
    assert "BLAS threads 1," in hellos["reference"]["config"]


def test_a_reference_worker_that_loaded_fastnn_layers_is_refused(default_env):
    worker = layer_peers.LayerWorker("fastnn", "SoftmaxWithLoss", {"dtype": "float64", "batch": 1}, None)
    worker.impl = "reference"  # what a suite importing fastnn.layers in the reference's setup would give
    try:
        with pytest.raises(RuntimeError, match="reference worker ran under fastnn's host tuning"):
            worker.greet()
    finally:
        worker.close()


def test_the_tool_prints_one_row_per_method_and_marks_none_without_cause(default_env, capsys):
    layer_peers.main(["--quick", "--rounds", "1", "--suites", "SoftmaxWithLoss", "--dtypes", "float64",
                      "--batches", "1"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    head = lines.index("| " + " | ".join(layer_peers.HEAD) + " |")
    rows = [line.strip("|").split("|") for line in lines[head + 2:] if line.startswith("|")]
    assert [[c.strip() for c in r[:3]] for r in rows] == [
        ["SoftmaxWithLoss", "dtype=float64, batch=1", "forward"],
        ["SoftmaxWithLoss", "dtype=float64, batch=1", "backward"]]
    for r in rows:
        assert len(r) == len(layer_peers.HEAD)
        fastnn, reference = float(r[3]), float(r[4])
        assert float(r[5].strip().rstrip("×")) == pytest.approx(reference / fastnn, rel=0.02)
        assert (r[6].strip() == "**fastnn slower**") == (reference < fastnn)
    assert any(line.startswith("- reference: NumPy") and "host tuning off" in line for line in lines)
    assert any(line.startswith("- fastnn: fastnn") and "host tuning on" in line for line in lines)
    assert "rows" in lines[-1] and " of 2 rows" in lines[-1]


def test_rows_without_a_twin_and_rows_where_fastnn_loses():
    only_fastnn = layer_peers.row("ConvReluPool", {"run": "fused"}, "time_forward", {"fastnn": 2e-3})
    assert only_fastnn == ["ConvReluPool", "run=fused", "forward", "2000", "n/a", "n/a", ""]
    slower = layer_peers.row("Affine", {"batch": 1}, "time_backward", {"fastnn": 2e-6, "reference": 1e-6})
    assert slower[3:] == ["2", "1", "0.50×", "**fastnn slower**"]


def test_combinations_follow_the_suites_parameters():
    classes = layer_peers.suite_classes(["Activation", "OptimizerUpdate"])
    acts = layer_peers.combinations(classes["Activation"], ["float32"], ["100"])
    assert acts == [{"kind": "relu", "dtype": "float32", "batch": 100},
                    {"kind": "sigmoid", "dtype": "float32", "batch": 100}]
    updates = layer_peers.combinations(classes["OptimizerUpdate"], ["float64"], ["1"])  # no batch: all kept
    assert len(updates) == 6 and all(u["dtype"] == "float64" for u in updates)


def test_arguments():
    args = layer_peers.parse_args(["--quick", "--suites", "Affine,Im2col", "--batches", "100"])
    assert args.suites == ["Affine", "Im2col"] and args.batches == ["100"] and args.rounds == 3
    assert layer_peers.parse_args([]).rounds == 5 and layer_peers.parse_args([]).threads is None
    for bad in (["--suites", "Softmax"], ["--batches", "32"], ["--threads", "0"], ["--rounds", "0"]):
        with pytest.raises(SystemExit):
            layer_peers.parse_args(bad)
