"""Time fastnn's steps in fresh processes, without and with a neighbour that keeps every core busy.

    python benchmarks/tools/busy_neighbour.py [--rounds 3] [--tree NAME=PATH ...]

Each round runs, for each variant, one fresh process without and one with
a spinning process per core (started and stopped here); rounds alternate,
medians are printed with the busy / quiet ratio as a Markdown table.
Variants: this checkout with ``follow_load`` on (the default) and off, plus
any ``--tree NAME=PATH`` (another checkout's import path, e.g. an older
commit unpacked with its ``kernels`` folder copied to ``fastnn/kernels``),
run as it imports.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PROBE = r'''
import os, sys, time, json
import numpy as np
import fastnn, fastnn.layers
if os.environ.get("BUSY_FOLLOW_LOAD") == "0":
    fastnn.set_num_threads(2, follow_load=False)
from fastnn import nets, optimizer
from fastnn.layers import Affine
rng = np.random.default_rng(0)
out = {}
def med(f, reps):
    f(); f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e3
x, t = rng.random((100, 784)), rng.integers(0, 10, 100)
for dt in ("float64", "float32"):
    net, opt, xx = nets.TwoLayerNet(784, 50, 10, dtype=dt), optimizer.Adam(), x.astype(dt)
    out["TwoLayerNet step " + dt] = med(lambda: opt.update(net.params, net.gradient(xx, t)), 60)
layer, d = Affine(rng.standard_normal((784, 50)) * 0.01, np.zeros(50)), rng.random((100, 50))
out["Affine 784-50 forward float64"] = med(lambda: layer.forward(x), 100)
layer.forward(x)
out["Affine 784-50 backward float64"] = med(lambda: layer.backward(d), 100)
xc = rng.random((100, 1, 28, 28)).astype("float32")
netc, optc = nets.SimpleConvNet(dtype="float32"), optimizer.Adam()
out["SimpleConvNet step float32"] = med(lambda: optc.update(netc.params, netc.gradient(xc, t)), 8)
xm = x.astype("float32")
netm, optm = nets.MultiLayerNetExtend(784, [100] * 5, 10, use_batchnorm=True, dtype="float32"), optimizer.Adam()
out["MultiLayerNetExtend step float32"] = med(lambda: optm.update(netm.params, netm.gradient(xm, t)), 30)
xd, td = xc[:32], t[:32]
netd, optd = nets.DeepConvNet(dtype="float32"), optimizer.Adam()
out["DeepConvNet batch 32 step float32"] = med(lambda: optd.update(netd.params, netd.gradient(xd, td)), 5)
print(json.dumps(out))
'''


def _run(path, follow_load):
    env = dict(os.environ, BUSY_FOLLOW_LOAD=follow_load)
    if path:
        env["PYTHONPATH"] = path
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[], help="NAME=PATH of another checkout to compare")
    args = parser.parse_args(argv)
    variants = {"follow_load": (None, "1"), "follow_load=False": (None, "0")}
    for item in args.tree:
        name, _, path = item.partition("=")
        variants[name] = (path, "1")
    times = {}
    for r in range(args.rounds):
        for busy in (False, True):
            spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                        for _ in range(os.cpu_count() or 1)] if busy else []
            try:
                time.sleep(0.5 if busy else 0)
                for name, (path, follow) in variants.items():
                    for case, ms in _run(path, follow).items():
                        times.setdefault((name, busy, case), []).append(ms)
            finally:
                for p in spinners:
                    p.kill()
                    p.wait()
        print(f"round {r + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    cases = sorted({case for _, _, case in times})
    print("| case | " + " | ".join(f"{n} quiet | busy | ratio" for n in variants) + " |")
    print("|---|" + "---:|" * (3 * len(variants)))
    for case in cases:
        cells = []
        for name in variants:
            quiet = statistics.median(times[(name, False, case)])
            busy = statistics.median(times[(name, True, case)])
            cells += [f"{quiet:.2f}", f"{busy:.2f}", f"{busy / quiet:.1f}x"]
        print(f"| {case} | " + " | ".join(cells) + " |")
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
