"""SimpleConvNet and DeepConvNet ``predict`` beside PyTorch (``torch.no_grad``, eval mode), each in its own process.

    python tools/predict_peers.py [--nets SimpleConvNet DeepConvNet] [--batch 1 32 100] [--rounds 3]

For every net and batch size, each round starts one fresh process per
implementation (fastnn, then torch, alternating), each in its own default
configuration (threads, BLAS, OpenMP); a process warms up, then prints the
median over ``--repeats`` calls of the wall time of one inference on a fixed
float32 batch (1, 28, 28). Printed: the median over rounds per implementation
and PyTorch / fastnn; with ``--full`` also fastnn's full forward (the layers'
``forward``, keeping what backward needs: what ``predict`` ran before its
inference path), in processes of its own in the same rounds.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np


def _worker(impl, net_name, batch, repeats):
    x = np.random.default_rng(0).random((batch, 1, 28, 28), dtype=np.float32)
    if impl in ("fastnn", "fastnn_full"):
        from fastnn import nets

        net = getattr(nets, net_name)(seed=0, dtype=np.float32)
        keep = impl == "fastnn_full"     # the full forward, keeping what backward needs (predict before infer)

        def call():
            net._forward(x, False, keep=keep)
    else:
        import torch
        from torch import nn

        sys.path.insert(0, ".")
        from benchmarks._torchnets import BUILDERS

        torch.manual_seed(0)
        model = BUILDERS[net_name](nn).to(torch.float32).eval()
        tx = torch.from_numpy(x)

        def call():
            with torch.no_grad():
                model(tx)
    for _ in range(5):
        call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    print(f"{np.median(times) * 1e3:.4f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["SimpleConvNet", "DeepConvNet"])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32, 100])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--full", action="store_true",
                        help="also time fastnn's full forward (what predict ran before its inference path)")
    parser.add_argument("--worker", nargs=3, metavar=("IMPL", "NET", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        impl, net_name, batch = args.worker
        _worker(impl, net_name, int(batch), args.repeats)
        return
    full = ["fastnn_full"] if args.full else []
    print("| net | batch | fastnn ms | PyTorch ms | PyTorch / fastnn |"
          + (" full forward ms | full / predict |" if full else ""))
    print("|---|---:|---:|---:|---:|" + ("---:|---:|" if full else ""))
    for net_name in args.nets:
        for batch in args.batch:
            ms = {impl: [] for impl in ["fastnn", "torch"] + full}
            for _ in range(args.rounds):
                for impl in ms:
                    out = subprocess.run(
                        [sys.executable, __file__, "--repeats", str(args.repeats),
                         "--worker", impl, net_name, str(batch)],
                        check=True, capture_output=True, text=True).stdout
                    ms[impl].append(float(out.split()[-1]))
            f, t = np.median(ms["fastnn"]), np.median(ms["torch"])
            extra = ""
            if full:
                g = np.median(ms["fastnn_full"])
                extra = f" {g:.3f} | {g / f:.2f}x |"
            print(f"| {net_name} | {batch} | {f:.3f} | {t:.3f} | {t / f:.2f}x |" + extra, flush=True)


if __name__ == "__main__":
    main()
