"""SimpleConvNet and DeepConvNet ``predict`` beside PyTorch (``torch.no_grad``, eval mode), each in its own process.

    python benchmarks/tools/predict_peers.py [--nets SimpleConvNet DeepConvNet] [--batch 1 32 100] [--rounds 3]

For every net and batch size, each round starts one fresh process per
implementation (fastnn, then torch, alternating), each in its own default
configuration (threads, BLAS, OpenMP); a process warms up, then prints the
median over ``--repeats`` calls of the wall time of one inference on a fixed
float32 batch (1, 28, 28). Printed: the median over rounds per implementation
and PyTorch / fastnn; the fastnn process also times, interleaved with
``predict``, the full forward (the layers' ``forward``, keeping what backward
needs: what ``predict`` ran before its inference path).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np


def _median_ms(calls, repeats):
    """Median wall time of each call in ``calls`` (ms), the calls interleaved."""
    for call in calls:
        for _ in range(5):
            call()
    times = [[] for _ in calls]
    for _ in range(repeats):
        for call, record in zip(calls, times):
            t0 = time.perf_counter()
            call()
            record.append(time.perf_counter() - t0)
    return [np.median(record) * 1e3 for record in times]


def _worker(impl, net_name, batch, repeats, threads):
    x = np.random.default_rng(0).random((batch, 1, 28, 28), dtype=np.float32)
    if impl == "fastnn":
        import fastnn
        from fastnn import nets

        if threads:
            fastnn.set_num_threads(threads)

        net = getattr(nets, net_name)(seed=0, dtype=np.float32)
        # predict, and the full forward that keeps what backward needs (what predict ran before ``infer``)
        calls = [lambda: net.predict(x), lambda: net.forward(x)]
    else:
        import torch
        from torch import nn

        sys.path.insert(0, ".")
        from benchmarks._torchnets import BUILDERS

        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = BUILDERS[net_name](nn).to(torch.float32).eval()
        tx = torch.from_numpy(x)

        def call():
            with torch.no_grad():
                model(tx)

        calls = [call]
    print(" ".join(f"{ms:.4f}" for ms in _median_ms(calls, repeats)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["SimpleConvNet", "DeepConvNet"])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32, 100])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for both (fastnn.set_num_threads, torch.set_num_threads); 0: each its default")
    parser.add_argument("--worker", nargs=3, metavar=("IMPL", "NET", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        impl, net_name, batch = args.worker
        _worker(impl, net_name, int(batch), args.repeats, args.threads)
        return
    print("| net | batch | fastnn predict ms | PyTorch ms | PyTorch / fastnn | fastnn full forward ms | full / predict |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for net_name in args.nets:
        for batch in args.batch:
            ms = {"fastnn": [], "torch": []}
            for _ in range(args.rounds):
                for impl in ms:
                    out = subprocess.run(
                        [sys.executable, __file__, "--repeats", str(args.repeats), "--threads", str(args.threads),
                         "--worker", impl, net_name, str(batch)],
                        check=True, capture_output=True, text=True).stdout
                    ms[impl].append([float(v) for v in out.split()])
            f, g = np.median([r[0] for r in ms["fastnn"]]), np.median([r[1] for r in ms["fastnn"]])
            t = np.median([r[0] for r in ms["torch"]])
            print(f"| {net_name} | {batch} | {f:.3f} | {t:.3f} | {t / f:.2f}x | {g:.3f} | {g / f:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
