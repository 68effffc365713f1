"""DeepConvNet training steps with its convolutions by the rule ('auto'), all im2col, all Winograd: A/B interleaved.

    python benchmarks/tools/winograd_ab.py [--batch 32 100] [--rounds 7] [--steps 5] [--dtype float32]

One step is ``net.gradient(x, t)`` and an Adam update on a fixed random batch
(1, 28, 28). Each round times ``--steps`` steps of every configuration in
turn (one net per configuration, same seed); printed are the medians over
rounds of the wall time and of the process CPU time per step (CPU time is the
steadier figure on a loaded machine), and each configuration's ratio to im2col.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from fastnn.layers import Convolution
from fastnn.nets import DeepConvNet
from fastnn.optimizer import Adam

CONFIGS = ("auto", "im2col", "winograd")


def _net(algorithm, dtype):
    net = DeepConvNet(seed=0, dtype=dtype)
    for layer in net.layers.values():
        if isinstance(layer, Convolution):
            layer.algorithm = algorithm
    return net


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 100])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    for batch in args.batch:
        x = rng.random((batch, 1, 28, 28)).astype(args.dtype)
        t = rng.integers(0, 10, batch)
        nets = {c: (_net(c, args.dtype), Adam()) for c in CONFIGS}
        wall = {c: [] for c in CONFIGS}
        cpu = {c: [] for c in CONFIGS}
        for net, opt in nets.values():          # compile, warm
            opt.update(net.params, net.gradient(x, t))
        for _ in range(args.rounds):
            for c, (net, opt) in nets.items():
                w0, c0 = time.perf_counter(), time.process_time()
                for _ in range(args.steps):
                    opt.update(net.params, net.gradient(x, t))
                wall[c].append((time.perf_counter() - w0) / args.steps * 1e3)
                cpu[c].append((time.process_time() - c0) / args.steps * 1e3)
        base_w, base_c = np.median(wall["im2col"]), np.median(cpu["im2col"])
        for c in CONFIGS:
            w, u = np.median(wall[c]), np.median(cpu[c])
            print(f"DeepConvNet b{batch} {args.dtype} {c:9s} wall {w:7.2f} ms ({base_w / w:.2f}x im2col)  "
                  f"cpu {u:7.2f} ms ({base_c / u:.2f}x im2col)", flush=True)


if __name__ == "__main__":
    main()
