"""fastnn._runtime: thresholds, thread choices, BLAS, memory, the host-process promise, forks."""
import ast
import os
import pathlib
import subprocess
import sys
import textwrap
import time

import numba
import numpy as np
import pytest

import fastnn
import fastnn.layers  # noqa: F401  (applies the host tuning in this process, as a user's import does)
from fastnn import _runtime
from fastnn import reference as ref
from fastnn.layers import Affine

REPO = pathlib.Path(__file__).resolve().parents[1]
#: The MLPs' first layer at batch 100: (100, 784) x (784, 50).
N, D, M = 100, 784, 50


def _run(code, env=None, timeout=300):
    env = dict(os.environ if env is None else env)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _env(**changes):
    """This environment without fastnn's and the libraries' own switches, plus ``changes``."""
    drop = ("FASTNN_", "MALLOC_", "OMP_WAIT_POLICY", "OPENBLAS_", "NUMBA_THREADING_LAYER")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["NUMBA_NUM_THREADS"] = "2"
    env.update(changes)
    return env


@pytest.fixture
def two_threads():
    """fastnn on 2 threads whatever the load (restored after), so the parallel paths run."""
    saved = numba.get_num_threads()
    fastnn.set_num_threads(2, follow_load=False)
    yield
    fastnn.set_num_threads(saved)


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------

def _benchmark_classes():
    names = set()
    for path in (REPO / "benchmarks").glob("bench_*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                names.add(f"{path.stem}.{node.name}")
    return names


def test_each_threshold_is_named_once_with_a_reason_and_a_benchmark_that_exists():
    names = [t.name for t in _runtime.THRESHOLDS]
    assert len(names) == len(set(names))
    classes = _benchmark_classes()
    for t in _runtime.THRESHOLDS:
        assert isinstance(t.value, (int, float)) and t.value > 0, t
        assert t.reason and t.unit, t
        assert t.benchmark in classes, f"{t.name}: no benchmark class {t.benchmark}"
    # every upper-case number of the module is in the table
    numbers = {k for k, v in vars(_runtime).items() if k.isupper() and not k.startswith("_") and isinstance(v, (int, float))}
    assert numbers == set(names)


def test_layers_carry_no_thresholds_of_their_own():
    for path in (REPO / "fastnn" / "layers").glob("*.py"):
        text = path.read_text()
        for name in ("SPLIT_WORK_LIMIT", "CHUNK_BYTES", "WIDE_PRODUCT_MACS", "WORK_LIMIT"):
            assert name not in text or f"_runtime.{name}" in text or f"_runtime.CONV_{name}" in text, (path, name)
        assert "numba.get_num_threads" not in text, path


def test_the_mlp_first_layer_is_wide_and_a_100_wide_layer_is_not():
    assert N * D * M >= _runtime.WIDE_PRODUCT_MACS > 100 * 100 * 100


# --------------------------------------------------------------------------------------------
# thread choices
# --------------------------------------------------------------------------------------------

def test_elementwise_kernels_go_parallel_only_when_big_and_on_several_threads(two_threads):
    from fastnn.kernels import activation

    big = _runtime.ELEMENTWISE_PARALLEL_ELEMENTS
    assert _runtime.elementwise_kernel(activation, "relu_forward", big) is activation.relu_forward_parallel
    assert _runtime.elementwise_kernel(activation, "relu_forward", big - 1) is activation.relu_forward
    fastnn.set_num_threads(1)
    assert _runtime.elementwise_kernel(activation, "relu_forward", big) is activation.relu_forward


def test_affine_split_is_decided_by_size_alone(two_threads):
    f32 = np.dtype(np.float32)
    assert _runtime.affine_split(100, 4320, 100, f32)
    assert not _runtime.affine_split(100, 784, 50, f32)
    assert not _runtime.affine_split(1, 10**6, 100, f32)
    fastnn.set_num_threads(1)
    assert _runtime.affine_split(100, 4320, 100, f32)


def test_split_affine_gives_the_same_bits_on_one_and_two_threads(two_threads):
    from fastnn.layers import Affine

    rng = np.random.default_rng(3)
    x = rng.standard_normal((100, 4320)).astype(np.float32)
    w = rng.standard_normal((4320, 100)).astype(np.float32)
    dout = rng.standard_normal((100, 100)).astype(np.float32)
    results = []
    for n in (2, 1):
        fastnn.set_num_threads(n, wide_products=False)
        layer = Affine(w, np.zeros(100, np.float32))
        out = layer.forward(x)
        results.append((out, layer.backward(dout), layer.dW.copy(), layer.db.copy()))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_split_over_threads_covers_the_range_once_and_reraises(two_threads, n, monkeypatch):
    monkeypatch.setattr(_runtime, "GEMM_SPLIT_MACS", 0)
    seen = []
    _runtime.split_over_threads(n, 1, lambda lo, hi: seen.append((lo, hi)))
    assert sorted(i for lo, hi in seen for i in range(lo, hi)) == list(range(n))
    assert len(seen) == min(n, 2)
    with pytest.raises(ZeroDivisionError):
        _runtime.split_over_threads(n, 1, lambda lo, hi: 1 / 0)


def test_threads_fall_to_one_while_other_processes_keep_the_cores_busy(two_threads):
    """A real neighbour: one spinning process per core. follow_load=False keeps the count."""
    fastnn.set_num_threads(2)   # follow_load=True, the default
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.5)
        seen = set()
        end = time.monotonic() + 4 * _runtime.LOAD_CHECK_SECONDS
        while time.monotonic() < end:
            seen.add(_runtime.threads())
            time.sleep(_runtime.LOAD_CHECK_SECONDS / 4)
        assert _runtime.threads() == 1, seen
        assert fastnn.get_num_threads() == {"numba": 2, "blas": 1, "now": 1}
        slices = {}
        for work in (_runtime.GEMM_SPLIT_MACS, _runtime.BUSY_SPLIT_MACS):   # short slices wait, long ones split
            seen_slices = []
            _runtime.split_over_threads(4, work, lambda lo, hi: seen_slices.append((lo, hi)))
            slices[work] = len(seen_slices)
        assert slices == {_runtime.GEMM_SPLIT_MACS: 1, _runtime.BUSY_SPLIT_MACS: 2}
        fastnn.set_num_threads(2, follow_load=False)
        assert _runtime.threads() == 2
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def test_own_runnable_threads_are_not_taken_for_load(two_threads, monkeypatch):
    """A first look counts what runs now: this process's own runnable threads (a BLAS worker still
    spinning after a product) are not other processes' load."""
    import hashlib
    import threading

    stop = threading.Event()

    def spin():   # hashing a long buffer runs without the GIL: a runnable thread of this process
        data = b"x" * (1 << 22)
        while not stop.is_set():
            hashlib.sha256(data).digest()

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        seen = max(_runtime._own_running_threads() for _ in range(200))
    finally:
        stop.set()
        worker.join()
    assert seen >= 2
    # the first look's arithmetic: the machine's runnable threads less our own
    monkeypatch.setattr(_runtime, "_load_last", None)
    monkeypatch.setattr(_runtime, "_load_next", 0.0)
    monkeypatch.setattr(_runtime, "_load_threads", None)
    monkeypatch.setattr(_runtime, "_running_now", lambda: 2)
    monkeypatch.setattr(_runtime, "_own_running_threads", lambda: 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert _runtime._threads_the_load_allows(2) == 2
    monkeypatch.setattr(_runtime, "_load_last", None)
    monkeypatch.setattr(_runtime, "_load_next", 0.0)
    monkeypatch.setattr(_runtime, "_running_now", lambda: 3)
    monkeypatch.setattr(_runtime, "_own_running_threads", lambda: 1)
    assert _runtime._threads_the_load_allows(2) == 1


@pytest.mark.parametrize("bad, exc, match", [
    (dict(wide_products="no"), TypeError, "wide_products must be True or False"),
    (dict(follow_load=1), TypeError, "follow_load must be True or False"),
])
def test_set_num_threads_rejects_bad_switches(bad, exc, match):
    with pytest.raises(exc, match=match):
        fastnn.set_num_threads(2, **bad)


# --------------------------------------------------------------------------------------------
# wide products
# --------------------------------------------------------------------------------------------

def _scipy_blas_threads():
    return _runtime._scipy_blas_getter()


def test_wide_product_runs_on_the_thread_count_and_restores_the_policy(two_threads):
    if _runtime._scipy_blas_setter is None:
        pytest.fail("fastnn found no SciPy OpenBLAS in the test process")
    assert _runtime.run_product(_scipy_blas_threads, N, D, M) == 2
    assert _scipy_blas_threads() == 1
    assert _runtime.run_product(_scipy_blas_threads, 100, 100, 100) == 1   # not wide
    with pytest.raises(ZeroDivisionError):  # restored on the way out of a failing kernel, too
        _runtime.run_product(lambda: 1 / 0, N, D, M)
    assert _scipy_blas_threads() == 1
    fastnn.set_num_threads(1)   # no more fastnn threads than BLAS threads: a plain call
    assert _runtime.run_product(_scipy_blas_threads, N, D, M) == 1


def test_wide_products_can_be_turned_off_and_on_again(two_threads):
    fastnn.set_num_threads(2, wide_products=False, follow_load=False)
    assert _runtime.run_product(_scipy_blas_threads, N, D, M) == 1
    fastnn.set_num_threads(2, follow_load=False)
    assert _runtime.run_product(_scipy_blas_threads, N, D, M) == 2


def test_wide_affine_matches_the_reference_and_repeats_bit_for_bit(two_threads, dtype, rng):
    x = rng.standard_normal((N, D)).astype(dtype)
    W = rng.standard_normal((D, M)).astype(dtype)
    b = rng.standard_normal(M).astype(dtype)
    dout = rng.standard_normal((N, M)).astype(dtype)
    runs = []
    for _ in range(2):
        layer = Affine(W, b)
        out = layer.forward(x)
        dx = layer.backward(dout)
        layer.input_grad = False  # the dW-only kernel, as a net's first layer runs it
        assert layer.backward(dout) is None
        runs.append((out, dx, layer.dW, layer.db))
    want_out = ref.affine_forward(x, W, b)
    want_dx, want_dW, want_db = ref.affine_backward(x, W, dout)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for got, want in zip(runs[0], (want_out, want_dx, want_dW, want_db)):
        np.testing.assert_allclose(got, want, **tol)
    for a, b_ in zip(*runs):
        np.testing.assert_array_equal(a, b_)


TWO_LAYER_STEPS = """
import sys, hashlib, numpy as np, fastnn
from fastnn import nets, optimizer
fastnn.set_num_threads(int(sys.argv[1]), wide_products=sys.argv[2] == "1", follow_load=False)
rng = np.random.default_rng(3)
net = nets.TwoLayerNet(784, 50, 10, seed=1)
x, t = rng.random((100, 784)), rng.integers(0, 10, 100)
opt = optimizer.Adam()
for _ in range(3):
    opt.update(net.params, net.gradient(x, t))
print(hashlib.sha256(net.params["W1"].tobytes()).hexdigest())
"""


def test_without_wide_products_results_are_bit_identical_for_any_thread_count():
    def run(n, wide):
        env = _env()
        proc = subprocess.run([sys.executable, "-c", TWO_LAYER_STEPS, str(n), str(int(wide))], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout.strip()

    assert run(1, False) == run(2, False)
    assert run(2, True) == run(2, True)


# --------------------------------------------------------------------------------------------
# convolution slices
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("geometry", [
    (5, 3, 9, 7, 4, 3, 3, 1, 1),       # odd batch over the threads, one image a chunk
    (4, 2, 10, 8, 3, 4, 2, 2, 2),      # stride 2, pad, H != W
])
@pytest.mark.parametrize("input_grad", [True, False])
def test_convolution_split_over_threads_gives_the_same_bits(two_threads, dtype, rng, monkeypatch, geometry,
                                                           input_grad):
    """The Convolution layer's threaded, chunked path equals its one-call path bit for bit, and the reference."""
    from fastnn.layers import Convolution
    from fastnn.testing import assert_allclose_dtype

    n, c, h, w, fn, fh, fw, stride, pad = geometry
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    W = rng.standard_normal((fn, c, fh, fw)).astype(dtype)
    b = rng.standard_normal(fn).astype(dtype)
    dout = None
    results = []
    for split in (False, True):
        with monkeypatch.context() as m:
            if split:
                m.setattr(_runtime, "GEMM_SPLIT_MACS", 0)
                m.setattr(_runtime, "CONV_CHUNK_BYTES", 1)
            layer = Convolution(W, b, stride=stride, pad=pad)
            layer.input_grad = input_grad
            out = layer.forward(x)
            if dout is None:
                dout = rng.standard_normal(out.shape).astype(dtype)
            dx = layer.backward(dout)
            results.append((out, dx, layer.dW, layer.db))
    (out0, dx0, dW0, db0), (out1, dx1, dW1, db1) = results
    np.testing.assert_array_equal(out1, out0)
    np.testing.assert_array_equal(dW1, dW0)
    np.testing.assert_array_equal(db1, db0)
    if input_grad:
        np.testing.assert_array_equal(dx1, dx0)
    else:
        assert dx0 is None and dx1 is None
    out_ref, _, _ = ref.conv_forward(x, W, b, stride, pad)
    dx_ref, dW_ref, db_ref = ref.conv_backward(dout, x, W, stride, pad)
    assert_allclose_dtype(out1, out_ref)
    assert_allclose_dtype(dW1, dW_ref)
    assert_allclose_dtype(db1, db_ref)
    if input_grad:
        assert_allclose_dtype(dx1, dx_ref)


# --------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------

MALLOC_PROBE = """
import resource, numpy as np, fastnn.layers, fastnn._runtime as r
def cycle():  # like a step: several arrays of megabytes alive at once, then all freed
    arrays = [np.empty(size << 20, dtype=np.uint8) for size in (7, 7, 2, 7, 5)]
    for a in arrays:
        a.fill(1)
    del arrays
for _ in range(3):
    cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    cycle()
print(r._malloc_tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")


def _malloc_probe(**env):
    applied, faults = _run(MALLOC_PROBE, env=_env(**env)).split()
    return applied == "True", int(faults)


@pytest.mark.skipif(not GLIBC, reason="the malloc settings are glibc's")
def test_freed_big_arrays_are_reused_without_page_faults():
    applied, faults = _malloc_probe()
    assert applied
    assert faults < 200, faults   # 20 cycles of 28 MiB of fresh pages would be ~143,000 faults


@pytest.mark.skipif(not GLIBC, reason="the malloc settings are glibc's")
@pytest.mark.parametrize("env", [{"FASTNN_HOST_TUNING": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}])
def test_opt_out_and_user_settings_leave_malloc_alone(env):
    applied, _ = _malloc_probe(**env)
    assert not applied


# --------------------------------------------------------------------------------------------
# the host process
# --------------------------------------------------------------------------------------------

HOST_PROBE = """
import os, sys, json
import numpy as np
from threadpoolctl import threadpool_info
def counts():
    return {os.path.basename(l["filepath"]): l["num_threads"] for l in threadpool_info() if l["user_api"] == "blas"}
numpy_blas = counts()                         # the user's NumPy BLAS, before fastnn
environ = dict(os.environ)
import fastnn
if sys.argv[1] == "call":
    fastnn.set_host_tuning(False)
import numba
default_order = list(numba.config.THREADING_LAYER_PRIORITY)
import fastnn.layers
from fastnn import nets, optimizer, _runtime
rng = np.random.default_rng(0)
for net, x in ((nets.SimpleConvNet(seed=1), rng.random((8, 1, 28, 28))),
               (nets.TwoLayerNet(784, 50, 10, seed=1), rng.random((100, 784)))):
    optimizer.Adam().update(net.params, net.gradient(x, rng.integers(0, 10, len(x))))
after = counts()
print(json.dumps({
    "numpy_blas_kept": all(after[k] == v for k, v in numpy_blas.items()),
    "numpy_blas": [after[k] for k in numpy_blas],
    "scipy_blas": [v for k, v in after.items() if k not in numpy_blas],
    "environ_kept": dict(os.environ) == environ,
    "order_kept": list(numba.config.THREADING_LAYER_PRIORITY) == default_order,
    "malloc": _runtime._malloc_tuned,
}))
"""


def _host(mode, **env):
    import json

    proc = subprocess.run([sys.executable, "-c", HOST_PROBE, mode], env=_env(OPENBLAS_NUM_THREADS="2", **env),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_users_numpy_blas_and_environment_stay_as_they_were_after_a_training_step():
    got = _host("default")
    assert got["numpy_blas_kept"] and got["numpy_blas"] == [2], got
    assert got["scipy_blas"] == [1], got          # the BLAS numba's np.dot calls: fastnn's own count
    assert got["environ_kept"], got               # no OMP_WAIT_POLICY, no OPENBLAS_THREAD_TIMEOUT left
    assert not got["order_kept"]                  # listed: numba's layer order is fastnn's
    assert got["malloc"] == GLIBC


@pytest.mark.parametrize("how", ["call", "environment"])
def test_host_tuning_switched_off_changes_nothing_outside_fastnn(how):
    got = _host("call") if how == "call" else _host("default", FASTNN_HOST_TUNING="0")
    assert got["numpy_blas_kept"] and got["scipy_blas"] == [2], got
    assert got["environ_kept"] and got["order_kept"] and got["malloc"] is False, got


def test_set_host_tuning_late_gives_blas_back_and_warns_about_what_stays():
    code = """
    import warnings, fastnn, fastnn.layers
    from fastnn import _runtime
    assert _runtime._scipy_blas_getter() == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fastnn.set_host_tuning(False)
    print(_runtime._scipy_blas_getter(), len(caught), "stay as set" in str(caught[0].message))
    """
    assert _run(code, env=_env(OPENBLAS_NUM_THREADS="2")).split() == ["2", "1", "True"]


def test_bad_switch_values_are_refused():
    with pytest.raises(TypeError, match="enabled must be True or False"):
        fastnn.set_host_tuning("no")
    proc = subprocess.run([sys.executable, "-c", "import fastnn.layers"], env=_env(FASTNN_HOST_TUNING="off"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "FASTNN_HOST_TUNING must be 0 or 1, got 'off'" in proc.stderr


def test_fastnn_loads_scipy_blas_with_a_short_spin_only_when_it_is_the_first():
    code = """
    import os, sys, fastnn.layers, fastnn._runtime as r
    print(r._scipy_blas_setter is not None, "OPENBLAS_THREAD_TIMEOUT" in os.environ)
    """
    assert _run(code, env=_env()).split() == ["True", "False"]
    # SciPy's BLAS loaded before fastnn: still found (inside SciPy's installation), limited the same way
    assert _run("import scipy.linalg\n" + textwrap.dedent(code), env=_env()).split() == ["True", "False"]


# --------------------------------------------------------------------------------------------
# forks
# --------------------------------------------------------------------------------------------

FORK_PROBE = """
import os, sys, warnings, multiprocessing as mp
import numpy as np
import fastnn
from fastnn import nets, optimizer, _runtime

def loss_after_a_step(seed):
    net = nets.SimpleConvNet(seed=seed)
    rng = np.random.default_rng(seed)
    x, t = rng.random((16, 1, 28, 28)), rng.integers(0, 10, 16)
    optimizer.Adam().update(net.params, net.gradient(x, t))
    return net.loss(x, t)

if __name__ == "__main__":
    fastnn.set_num_threads(2, follow_load=False)     # the pool and numba's threads both started
    want = [loss_after_a_step(s) for s in (1, 2)]
    how = sys.argv[1]
    if how == "os.fork":
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                got = loss_after_a_step(1)
            os.write(w, f"{got!r} {len(caught)}".encode())
            os._exit(0)
        os.close(w)
        _, status = os.waitpid(pid, 0)
        got, warned = os.read(r, 1000).decode().split()
        print(status == 0, float(got) == want[0], warned)
    else:
        with mp.get_context(how).Pool(2) as pool:
            got = pool.map(loss_after_a_step, [1, 2])
        print(True, got == want, "-")
"""


@pytest.mark.parametrize("how", ["os.fork", "fork", "spawn", "forkserver"])
def test_children_compute_correct_results_after_a_training_step(how, tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(FORK_PROBE)
    proc = subprocess.run([sys.executable, str(script), how], env=_env(), capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ok, right, warned = proc.stdout.split()
    assert ok == "True" and right == "True", proc.stdout
    if how == "os.fork":
        assert warned == "1"   # one warning: the child runs on one thread (OpenMP cannot run after a fork)


#: A user's script, as written: a conv net trained in the parent (float64, the default), then a pool of
#: forked children that train too. SimpleConvNet's Affine at batch 50 in float64 runs as the split
#: kernels, which in the parent start numba's OpenMP threads.
FORK_POOL_SNIPPET = """\
import numpy as np, multiprocessing as mp
from fastnn.nets import SimpleConvNet
from fastnn.optimizer import Adam
def train(seed):
    net = SimpleConvNet((1, 28, 28), seed=seed); r = np.random.default_rng(seed); o = Adam()
    for _ in range(2):
        o.update(net.params, net.gradient(r.random((50, 1, 28, 28)), r.integers(0, 10, 50)))
    return float(net.loss(r.random((10, 1, 28, 28)), r.integers(0, 10, 10)))
if __name__ == "__main__":
    train(0)
    with mp.get_context("fork").Pool(2) as pool:
        print(pool.map_async(train, [1, 2]).get(timeout=200))
"""

#: Appended to each variant: what the parent ran on, and the children's results computed in the parent.
FORK_POOL_CHECK = """\
    import numba
    print(numba.threading_layer(), [train(1), train(2)])
"""

FORK_POOL_VARIANTS = {
    "snippet": FORK_POOL_SNIPPET,
    "float32": FORK_POOL_SNIPPET.replace("seed=seed)", "seed=seed, dtype=np.float32)")
                                .replace("(50, 1, 28, 28)), r.integers(0, 10, 50)",
                                         "(100, 1, 28, 28)), r.integers(0, 10, 100)"),
    # two threads whatever the load, so that the parent's element-wise kernels take their parallel builds
    "deep_convnet": FORK_POOL_SNIPPET.replace("SimpleConvNet", "DeepConvNet")
                                     .replace("(50, 1, 28, 28)), r.integers(0, 10, 50)",
                                              "(32, 1, 28, 28)), r.integers(0, 10, 32)")
                                     .replace("    train(0)", "    import fastnn\n"
                                              "    fastnn.set_num_threads(2, follow_load=False)\n    train(0)"),
}


@pytest.mark.parametrize("variant", sorted(FORK_POOL_VARIANTS))
def test_a_fork_pool_after_training_computes(variant, tmp_path):
    """Children forked after the parent ran numba's OpenMP threads train on one thread, warned, and
    give the parent's numbers; GNU OpenMP ends a child that enters a parallel region, and the pool
    then waits for ever, so the script runs in a process of its own with a timeout."""
    script = tmp_path / "user.py"
    script.write_text(FORK_POOL_VARIANTS[variant] + FORK_POOL_CHECK)
    proc = subprocess.run([sys.executable, str(script)], env=_env(), capture_output=True, text=True,
                          timeout=400)
    assert "Terminating" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stderr[-3000:]
    children, parent = proc.stdout.strip().splitlines()
    got = ast.literal_eval(children)
    layer, want = parent.split(" ", 1)
    assert layer == "omp"        # the parent did start GNU OpenMP: the case under test
    assert len(got) == 2 and all(isinstance(v, float) and np.isfinite(v) for v in got), got
    assert got == ast.literal_eval(want)
    assert "fastnn's numba kernels run on one thread in this process" in proc.stderr, proc.stderr[-3000:]


def test_a_forked_child_keeps_its_threads_on_the_workqueue_layer(tmp_path):
    code = """
    import os, numpy as np, fastnn
    from fastnn import nets, _runtime
    fastnn.set_num_threads(2, follow_load=False)
    net = nets.SimpleConvNet(seed=1)
    x = np.random.default_rng(0).random((16, 1, 28, 28))
    want = net.predict(x)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if _runtime.threads() == 2 and np.array_equal(net.predict(x), want) else 3)
    print(os.waitpid(pid, 0)[1])
    """
    assert _run(code, env=_env(NUMBA_THREADING_LAYER="workqueue"), timeout=240).strip() == "0"


def test_a_child_forked_after_the_import_keeps_its_threads():
    """Importing fastnn.layers starts no thread pool: a forkserver-style parent forks full children."""
    code = """
    import os, numpy as np, fastnn, fastnn.layers, numba
    from fastnn import nets, optimizer, _runtime
    pid = os.fork()
    if pid == 0:
        fastnn.set_num_threads(2, follow_load=False)
        net = nets.SimpleConvNet(seed=1)
        x = np.random.default_rng(0).random((16, 1, 28, 28))
        optimizer.Adam().update(net.params, net.gradient(x, np.arange(16) % 10))
        os._exit(0 if _runtime.threads() == 2 and numba.threading_layer() == "omp" else 3)
    print(os.waitpid(pid, 0)[1])
    """
    assert _run(code, env=_env(), timeout=240).strip() == "0"
