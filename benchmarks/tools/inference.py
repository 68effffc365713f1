"""Inference speed: fastnn's ``predict`` beside onnxruntime and PyTorch, each in its own process.

    python -m benchmarks.tools.inference [--rounds 5] [--threads 1,2] [--batches 1,32,100]
                                         [--nets SimpleConvNet,DeepConvNet] [--impls fastnn,onnxruntime,torch]

The subjects compute one function: the book's SimpleConvNet and DeepConvNet
(float32, seed 0) as fastnn builds them; onnxruntime runs the net exported
by ``fastnn.onnx`` (CPU provider, default graph optimisations, a dynamic
batch); PyTorch runs the same weights through ``torch.nn.functional`` under
``torch.inference_mode()``. Every worker first checks that its scores equal
fastnn's ``predict`` (float32 tolerance), so nothing else is timed.

Each implementation runs in a fresh process of its own (PyTorch's or
numba's OpenMP workers in one process slow the other's), one process per
implementation, thread count and round, the implementations alternating in
rotating order round after round, so that a busy machine slows them alike.
A worker warms every configuration up, then times batches of calls long
enough to read a clock (about 50 ms a sample) and reports the median time
per call; the table gives the median over rounds, and ``ORT / fastnn`` (>1:
fastnn is faster). Run it from the repository root. PyTorch is optional
(``pip install torch==2.13.0``, the CPU build): without it its column says
n/a.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

NETS = ["SimpleConvNet", "DeepConvNet"]
IMPLS = ["fastnn", "onnxruntime", "torch"]
BATCHES = [1, 32, 100]
THREADS = [1, 2]
#: Seconds one timed sample lasts at least, and samples per configuration in a worker.
SAMPLE_S = 0.05
SAMPLES = 5


def _thread_env(n: int) -> dict:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(n)
    return env


def _net(name):
    import numpy as np

    from fastnn import nets
    return getattr(nets, name)(dtype=np.float32, seed=0)


def _torch_forward(net, threads):
    """The net's inference, layer by layer, in torch.nn.functional with the net's own weights."""
    import numpy as np
    import torch
    from torch.nn import functional

    from fastnn.layers import Affine, Convolution, Dropout, Pooling, Relu

    torch.set_num_threads(threads)
    ops = []
    for layer in net.layers.values():
        kind = type(layer)
        if kind is Convolution:
            w, b = torch.from_numpy(np.array(layer.W)), torch.from_numpy(np.array(layer.b))
            ops.append(lambda x, w=w, b=b, s=layer.stride, p=layer.pad: functional.conv2d(x, w, b, s, p))
        elif kind is Relu:
            ops.append(functional.relu)
        elif kind is Pooling and layer.mode == "max":
            ops.append(lambda x, k=(layer.pool_h, layer.pool_w), s=layer.stride, p=layer.pad:
                       functional.max_pool2d(x, k, s, p))
        elif kind is Affine:
            w, b = torch.from_numpy(np.array(layer.W)), torch.from_numpy(np.array(layer.b))
            ops.append(lambda x, w=w, b=b: torch.addmm(b, x.reshape(x.shape[0], -1), w))
        elif kind is Dropout:
            ops.append(lambda x, keep=float(1 - layer.dropout_ratio): x * keep)
        else:
            raise NotImplementedError(f"no torch twin for {kind.__name__}")

    def forward(x):
        with torch.inference_mode():
            x = torch.from_numpy(x)
            for op in ops:
                x = op(x)
            return x.numpy()

    return forward


def _subject(impl, net, threads):
    """A function x -> scores for ``impl``."""
    if impl == "fastnn":
        import fastnn
        fastnn.set_num_threads(threads)
        return net.predict
    if impl == "onnxruntime":
        import onnxruntime

        from fastnn.onnx import build_model
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(build_model(net).SerializeToString(), options,
                                               providers=["CPUExecutionProvider"])
        return lambda x: session.run(None, {"x": x})[0]
    if impl == "torch":
        return _torch_forward(net, threads)
    raise ValueError(f"unknown implementation {impl!r}")


def _time_per_call(fn, x) -> float:
    """Median seconds per call of ``fn(x)`` over SAMPLES samples of about SAMPLE_S each, after a warm-up."""
    start = time.perf_counter()
    calls = 0
    while calls < 3 or time.perf_counter() - start < 2 * SAMPLE_S:
        fn(x)
        calls += 1
    number = max(1, int(SAMPLE_S * calls / (time.perf_counter() - start)))
    samples = []
    for _ in range(SAMPLES):
        t0 = time.perf_counter()
        for _ in range(number):
            fn(x)
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples)


def worker(impl, threads, nets, batches) -> dict:
    """{"NET/BATCH": seconds per call} for one implementation on ``threads`` threads (this process)."""
    import numpy as np

    from fastnn.testing import assert_allclose_dtype

    out = {}
    rng = np.random.default_rng(1)
    for name in nets:
        net = _net(name)
        fn = _subject(impl, net, threads)
        for batch in batches:
            x = rng.random((batch, *net.input_dim), dtype=np.float32)
            assert_allclose_dtype(np.asarray(fn(x)), net.predict(x), np.float32,
                                  err_msg=f"{impl} {name} batch {batch}")
            out[f"{name}/{batch}"] = _time_per_call(fn, x)
    return out


def _run_worker(impl, threads, nets, batches):
    cmd = [sys.executable, "-m", "benchmarks.tools.inference", "--worker", impl, "--threads", str(threads),
           "--nets", ",".join(nets), "--batches", ",".join(map(str, batches))]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_thread_env(threads))
    if proc.returncode != 0:
        if impl == "torch" and "No module named 'torch'" in proc.stderr:
            return None
        raise RuntimeError(f"the {impl} worker failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _list(text, convert=str):
    return [convert(s.strip()) for s in text.split(",") if s.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tools.inference",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", default=",".join(map(str, THREADS)))
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--nets", default=",".join(NETS))
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--worker", choices=IMPLS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    threads, batches = _list(args.threads, int), _list(args.batches, int)
    nets, impls = _list(args.nets), _list(args.impls)
    if any(n not in NETS for n in nets) or any(i not in IMPLS for i in impls) or not nets or not impls:
        parser.error(f"--nets takes a subset of {','.join(NETS)}, --impls of {','.join(IMPLS)}")
    if args.worker:
        print(json.dumps(worker(args.worker, threads[0], nets, batches)))
        return 0

    times = {}   # (impl, threads, "NET/BATCH") -> [seconds per round]
    for r in range(args.rounds):
        order = impls[r % len(impls):] + impls[:r % len(impls)]
        for n in threads:
            for impl in order:
                result = _run_worker(impl, n, nets, batches)
                for key, value in (result or {}).items():
                    times.setdefault((impl, n, key), []).append(value)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    def ms(impl, n, key):
        values = times.get((impl, n, key))
        return statistics.median(values) * 1e3 if values else None

    head = "| net | batch | threads | " + " | ".join(f"{i} (ms)" for i in impls)
    ratio = "fastnn" in impls and "onnxruntime" in impls
    print(head + (" | ORT / fastnn |" if ratio else " |"))
    print("|---" * (3 + len(impls) + ratio) + "|")
    for name in nets:
        for batch in batches:
            for n in threads:
                key = f"{name}/{batch}"
                cells = [ms(i, n, key) for i in impls]
                row = f"| {name} | {batch} | {n} | " + " | ".join("n/a" if c is None else f"{c:.3g}" for c in cells)
                if ratio:
                    f, o = ms("fastnn", n, key), ms("onnxruntime", n, key)
                    row += f" | {o / f:.2f}" if f and o else " | n/a"
                print(row + " |")
    print(f"\nmedians of {args.rounds} rounds; float32; each implementation in a fresh process per round",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
