"""The direct convolution's microkernels alone: GFLOP/s and the fraction of the core's measured FMA peak.

    python -m benchmarks.tools.microkernel [--batch 8] [--dtypes float32,float64] [--rounds 5]
                                           [--variants intrinsic,loops] [--kernels forward,weights,inputs]

On one thread, for each of DeepConvNet's six convolutions (and
SimpleConvNet's): the kernels of ``fastnn.kernels.direct`` on their blocked
operands, at the tile the runtime chooses (``fastnn._runtime``), with
nothing else (no layout conversions, no threads):

* ``forward``: ``forward_rows`` over every output row of the batch;
* ``inputs``: the same kernel as backward-data runs it (the padded output
  gradient, the flipped filters; skipped for one-channel inputs, whose dx a
  net never asks for);
* ``weights``: ``weight_grad`` over every item.

The peak is measured, not assumed: ``fastnn.kernels.simd.fma_peak`` runs
independent FMAs on registers only, the core's FMA rate at the CPU's vector
width; each kernel's rate is quoted as a fraction of it ("useful": the
layer's multiply-adds; "issued": including the lanes that padding to whole
channel blocks adds). The ``loops`` variant is the forward tile written as
plain numba loops (``fastmath``, the accumulator tile in a local array,
everything else alike): what numba gives without the intrinsic.

The header names the CPU and its vector unit; figures go in
``benchmarks/README.md``. Timings are medians of ``--rounds`` samples after
one untimed call; the machine should be quiet.
"""
import argparse

import numba
import numpy as np
from fastnn.kernels import direct as direct_kernels
from fastnn.kernels import simd

from fastnn import _runtime
from fastnn.layers import conv_direct

from .gemm_floor import median_seconds

#: name: (C, H, W, FN, FS, pad) of the conv nets' layers on 28x28 MNIST.
LAYERS = {
    "Deep conv1": (1, 28, 28, 16, 3, 1),
    "Deep conv2": (16, 28, 28, 16, 3, 1),
    "Deep conv3": (16, 14, 14, 32, 3, 1),
    "Deep conv4": (32, 14, 14, 32, 3, 2),
    "Deep conv5": (32, 8, 8, 64, 3, 1),
    "Deep conv6": (64, 8, 8, 64, 3, 1),
    "Simple conv1": (1, 28, 28, 30, 5, 0),
}


def peak_macs_per_second(dtype, rounds=5, steps=2_000_000):
    """The core's FMA rate at this dtype's full vector width (multiply-adds a second), measured."""
    lanes = _runtime.vector_lanes(dtype)
    buf = np.full((3 + simd.PEAK_CHAINS) * lanes, 0.999, dtype=dtype)
    peak = simd.fma_peak(lanes)
    seconds = median_seconds(lambda: peak(buf, steps), rounds)
    return steps * simd.PEAK_CHAINS * lanes / seconds


@numba.njit(fastmath=True, nogil=True)
def _loops_forward(xb, wb, bias, out, fh, rw, ob, lanes):
    """forward_rows' tile as plain numba loops: the accumulators in a local array, a fully unrollable inner loop."""
    n_n, cb, hp, wp, cx = xb.shape
    g_n, _, _, taps, _ = wb.shape
    fn, oh_n, ow_n = out.shape[1], out.shape[2], out.shape[3]
    acc = np.empty((rw, ob, lanes), dtype=xb.dtype)
    for n in range(n_n):
        for oh in range(oh_n):
            for g in range(g_n):
                for t in range((ow_n + rw - 1) // rw):
                    ow0 = t * rw
                    for r in range(rw):
                        for o in range(ob):
                            for lane in range(lanes):
                                acc[r, o, lane] = bias[(g * ob + o) * lanes + lane]
                    for ib in range(cb):
                        for kh in range(fh):
                            for j in range(taps):
                                kw = j // cx
                                ci = j - kw * cx
                                for r in range(rw):
                                    v = xb[n, ib, oh + kh, ow0 + r + kw, ci]
                                    for o in range(ob):
                                        for lane in range(lanes):
                                            acc[r, o, lane] += v * wb[g, ib, kh, j, o * lanes + lane]
                    for o in range(ob):
                        for lane in range(lanes):
                            co = (g * ob + o) * lanes + lane
                            if co < fn:
                                for r in range(min(rw, ow_n - ow0)):
                                    out[n, co, oh, ow0 + r] = acc[r, o, lane]


def layer_kernels(geometry, batch, dtype, variants):
    """{kernel name: (callable, useful MACs, issued MACs, tile)} for one layer at one batch."""
    c, h, w, fn, fs, pad = geometry
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, c, h, w)).astype(dtype)
    W = rng.standard_normal((fn, c, fs, fs)).astype(dtype)
    lanes = _runtime.vector_lanes(dtype)
    oh, ow = h + 2 * pad - fs + 1, w + 2 * pad - fs + 1
    fnb = -(-fn // lanes)
    stacked = conv_direct.stacks(c, fs, lanes)
    rw, ob = _runtime.direct_forward_tile(fnb, ow, dtype)
    xb = conv_direct.blocked_input(x, pad, oh, ow, fs, fs, rw, lanes, stacked)
    conv_direct.fill_blocked(x, pad, fs, xb, stacked)
    cx, cb = xb.shape[4], xb.shape[1]
    kfh = 1 if stacked else fs
    wb = conv_direct.pack_filters(conv_direct.filters_for(W, stacked), cx, lanes, ob)
    bias = np.zeros(fnb * lanes, dtype=dtype)
    out = np.empty((batch, fn, oh, ow), dtype=dtype)
    useful = batch * fn * c * fs * fs * oh * ow
    issued_fwd = batch * fnb * lanes * cb * cx * kfh * (wb.shape[3] // cx) * oh * (-(-ow // rw) * rw)
    kernels = {}
    rows = direct_kernels.forward_rows(rw, ob, cx, lanes)
    if "intrinsic" in variants:
        kernels["forward"] = (lambda: rows(xb, wb, bias, out, 0, 0, batch * oh, kfh), useful, issued_fwd,
                              f"{rw}x{ob}")
    if "loops" in variants:
        kernels["forward (loops)"] = (lambda: _loops_forward(xb, wb, bias, out, kfh, rw, ob, lanes), useful,
                                      issued_fwd, f"{rw}x{ob}")
    if "intrinsic" not in variants:
        return kernels
    dout = rng.standard_normal((batch, fn, oh, ow)).astype(dtype)
    qh, qw = fs - 1 - pad, fs - 1 - pad
    dx_rw, dx_ob = _runtime.direct_forward_tile(-(-c // lanes), w, dtype)
    db = np.empty((batch, fnb, oh + 2 * qh, max(ow + 2 * qw, -(-w // dx_rw) * dx_rw + fs - 1), lanes), dtype=dtype)
    direct_kernels.to_blocked(dout, qh, qw, db)
    taps = fs * cx
    wrw, wob = _runtime.direct_weight_tile(fnb, taps, dtype)
    dwb = np.empty((fnb // wob, cb, kfh, taps, wob * lanes), dtype=dtype)
    items = (fnb // wob) * cb * kfh * (taps // wrw)
    grad = direct_kernels.weight_grad(wrw, wob, cx, lanes)
    issued_w = batch * fnb * lanes * cb * cx * kfh * fs * oh * ow
    kernels["weights"] = (lambda: grad(xb, db, qh, qw, oh, ow, dwb, 0, items, False), useful, issued_w, f"{wrw}x{wob}")
    if c > 1:
        flipped = np.ascontiguousarray(W.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
        wbt = conv_direct.pack_filters(flipped, lanes, lanes, dx_ob)
        dx = np.empty((batch, c, h, w), dtype=dtype)
        zero = np.zeros(-(-c // lanes) * lanes, dtype=dtype)
        back = direct_kernels.forward_rows(dx_rw, dx_ob, lanes, lanes)
        issued_dx = batch * (-(-c // lanes)) * lanes * fnb * lanes * fs * fs * h * (-(-w // dx_rw) * dx_rw)
        kernels["inputs"] = (lambda: back(db, wbt, zero, dx, 0, 0, batch * h, fs), batch * c * fn * fs * fs * h * w,
                             issued_dx,
                             f"{dx_rw}x{dx_ob}")
    return kernels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", default="intrinsic,loops")
    parser.add_argument("--kernels", default="forward,weights,inputs")
    parser.add_argument("--layers", default=",".join(LAYERS))
    args = parser.parse_args(argv)
    numba.set_num_threads(1)
    variants = args.variants.split(",")
    wanted = args.kernels.split(",")
    print(f"CPU: {_runtime.cpu_description()}; one thread, batch {args.batch}")
    for dtype in [np.dtype(d) for d in args.dtypes.split(",")]:
        peak = peak_macs_per_second(dtype, args.rounds)
        print(f"\n{dtype}: measured FMA peak {peak / 1e9:.1f} G multiply-adds/s "
              f"({2 * peak / 1e9:.1f} GFLOP/s), {_runtime.vector_lanes(dtype)} lanes\n")
        print("| layer | kernel | tile RWxOB | ms | GFLOP/s | % of peak (useful) | % of peak (issued) |")
        print("|---|---|---|---:|---:|---:|---:|")
        for name in args.layers.split(","):
            for kernel, (fn, useful, issued, tile) in layer_kernels(LAYERS[name], args.batch, dtype,
                                                                   variants).items():
                if kernel.split(" ")[0] not in wanted:
                    continue
                seconds = median_seconds(fn, args.rounds)
                print(f"| {name} | {kernel} | {tile} | {seconds * 1e3:.3f} | {2 * useful / seconds / 1e9:.1f} | "
                      f"{100 * useful / seconds / peak:.1f} | {100 * issued / seconds / peak:.1f} |", flush=True)


if __name__ == "__main__":
    main()
