"""The matrix products alone: how fast fastnn's conv-net step could be if nothing but its GEMMs ran.

    python -m benchmarks.tools.gemm_floor [--nets SimpleConvNet,DeepConvNet] [--batches 32,100]
                                          [--dtype float32] [--rounds 5]

For every Convolution and Affine layer of a net, times the very matrix
products fastnn runs for it in a training step — the same shapes, the same
chunks of images, the same NumPy/BLAS calls (``np.matmul`` on a chunk's
column blocks for im2col layers, the 16 products per chunk for Winograd
layers, ``np.dot`` for Affine) — on one thread, for the whole batch, with
nothing else: no patches, folds, transforms, pooling, activations,
validation or Python between them. Half that time is a lower bound of the
step on two cores (perfect scaling, zero overhead): if it already exceeds a
target, the target is out of reach for this design, however well the rest is
done. The ``predict`` column is the same for the forward products alone.

Each layer's algorithm is the one its ``algorithm`` attribute and
``fastnn._runtime.winograd_pays`` choose within the GEMM design (a layer
that fastnn's direct kernels now take is timed as im2col or Winograd ran
it: the tool shows why that design was left). The first layer's
input gradient is not computed (as fastnn skips it). Prints a Markdown table
per net and batch.
"""
import argparse
import statistics
import time


def median_seconds(fn, rounds):
    """Median seconds of ``fn()`` over ``rounds`` samples, each after one untimed call."""
    fn()
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _chunks(n, step):
    return [(s, min(n, s + step)) for s in range(0, n, step)]


def conv_products(np, runtime, conv, x_shape, dtype, first):
    """{'forward': fn, 'weights': fn, 'inputs': fn or None}: the GEMMs of one Convolution, whole batch.

    ``first``: the net's first layer (no input gradient).
    """
    from fastnn.layers import conv as conv_layers

    rng = np.random.default_rng(0)
    n, c, h, w = x_shape
    fn_, _, fh, fw = conv.W.shape
    oh = (h + 2 * conv.pad - fh) // conv.stride + 1
    ow = (w + 2 * conv.pad - fw) // conv.stride + 1
    choice = conv.algorithm_for(x_shape)
    if choice == "direct":
        # this tool measures the GEMM design's floor: a layer the direct kernels take, as that design ran it
        winograd = runtime.winograd_covers(fh, fw, conv.stride, conv.pad) and runtime.winograd_pays(c, fn_, oh, ow)
        choice = "winograd" if winograd else "im2col"
    if choice == "winograd":
        th, tw = (oh + 1) // 2, (ow + 1) // 2
        step = runtime.winograd_chunk(16 * (c + fn_) * th * tw * dtype.itemsize)
        tiles = min(step, n) * th * tw
        u = rng.random((16, fn_, c), dtype=dtype)
        v = rng.random((16, c, tiles), dtype=dtype)
        m = np.empty((16, fn_, tiles), dtype=dtype)
        u_t = np.ascontiguousarray(u.transpose(0, 2, 1))
        du = np.empty((16, fn_, c), dtype=dtype)
        dv = np.empty((16, c, tiles), dtype=dtype)
        count = -(-n // step)   # chunks (a last, shorter one is timed full: a slight overestimate)

        def forward():
            for _ in range(count):
                np.matmul(u, v, out=m)

        def weights():
            for _ in range(count):
                np.matmul(m, v.transpose(0, 2, 1), out=du)

        def inputs():
            for _ in range(count):
                np.matmul(u_t, m, out=dv)
        return {"forward": forward, "weights": weights, "inputs": None if first else inputs,
                "algorithm": "winograd"}
    k = c * fh * fw
    step = runtime.conv_chunk((k + 1) * oh * ow * dtype.itemsize)
    w_aug = rng.random((fn_, k + 1), dtype=dtype)
    cols = rng.random((step, k + 1, oh * ow), dtype=dtype)
    out = np.empty((n, fn_, oh * ow), dtype=dtype)
    dout = rng.random((n, fn_, oh * ow), dtype=dtype)
    cols_first = conv_layers.weight_grad_cols_first(dtype)   # the layer's own choice of the order
    per_image = np.empty((n, k + 1, fn_) if cols_first else (n, fn_, k + 1), dtype=dtype)
    dcols = np.empty((step, k, oh * ow), dtype=dtype)
    w_cols = np.ascontiguousarray(w_aug[:, :k]).T
    spans = _chunks(n, step)

    def forward():
        for s, e in spans:
            np.matmul(w_aug, cols[:e - s], out=out[s:e])

    def weights():
        for s, e in spans:
            if cols_first:
                np.matmul(cols[:e - s], dout[s:e].transpose(0, 2, 1), out=per_image[s:e])
            else:
                np.matmul(dout[s:e], cols[:e - s].transpose(0, 2, 1), out=per_image[s:e])

    def inputs():
        for s, e in spans:
            np.matmul(w_cols, dout[s:e], out=dcols[:e - s])
    return {"forward": forward, "weights": weights, "inputs": None if first else inputs, "algorithm": "im2col"}


def affine_products(np, layer, x_shape, dtype, first):
    """The GEMMs of one Affine: forward x @ W, weights x.T @ dout, inputs dout @ W.T."""
    rng = np.random.default_rng(0)
    n = x_shape[0]
    d, m = layer.W.shape
    x = rng.random((n, d), dtype=dtype)
    W = rng.random((d, m), dtype=dtype)
    dout = rng.random((n, m), dtype=dtype)
    out, dW, dx = np.empty((n, m), dtype), np.empty((d, m), dtype), np.empty((n, d), dtype)
    w_t = np.ascontiguousarray(W.T)
    return {"forward": lambda: np.dot(x, W, out=out), "weights": lambda: np.dot(x.T, dout, out=dW),
            "inputs": None if first else (lambda: np.dot(dout, w_t, out=dx)), "algorithm": "gemm"}


def layer_products(net_name, batch, dtype):
    """[(layer name, products)] for every Convolution and Affine of the net, in order."""
    import numpy as np

    import fastnn.nets
    from fastnn import _runtime
    from fastnn.layers import Affine, Convolution

    net = getattr(fastnn.nets, net_name)(dtype=dtype, seed=0)
    x = np.random.default_rng(0).random((batch, 1, 28, 28), dtype=dtype)
    rows, first = [], True
    for name, layer in net.layers.items():
        if isinstance(layer, Convolution):
            rows.append((name, conv_products(np, _runtime, layer, x.shape, np.dtype(dtype), first)))
            first = False
        elif isinstance(layer, Affine):
            rows.append((name, affine_products(np, layer, (x.shape[0], x[0].size), np.dtype(dtype), first)))
            first = False
        x = layer.forward(x)
    return rows


def floor_table(net_name, batch, dtype, rounds):
    """Markdown lines: per layer the products' one-thread ms, and the totals and two-core floors."""
    from threadpoolctl import threadpool_limits

    rows = layer_products(net_name, batch, dtype)   # before the limit: fastnn's layers set BLAS threads of their own
    with threadpool_limits(limits=1, user_api="blas"):
        lines = [f"**{net_name}, batch {batch}, {dtype}** (one thread, ms)", "",
                 "| layer | algorithm | forward | weight grad | input grad | step |",
                 "|---|---|---:|---:|---:|---:|"]
        fwd_total = step_total = 0.0
        for name, prods in rows:
            times = {k: (median_seconds(prods[k], rounds) * 1e3 if prods[k] else 0.0)
                     for k in ("forward", "weights", "inputs")}
            step = sum(times.values())
            fwd_total += times["forward"]
            step_total += step
            lines.append(f"| {name} | {prods['algorithm']} | {times['forward']:.2f} | {times['weights']:.2f} | "
                         f"{times['inputs']:.2f} | {step:.2f} |")
    lines.append(f"| **all** | | {fwd_total:.2f} | | | {step_total:.2f} |")
    lines += ["", f"Floor on two cores (half the one-thread time): step {step_total / 2:.2f} ms, "
                  f"predict {fwd_total / 2:.2f} ms.", ""]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", default="SimpleConvNet,DeepConvNet")
    parser.add_argument("--batches", default="32,100")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    nets = [s for s in args.nets.split(",") if s]
    allowed = {"SimpleConvNet", "DeepConvNet"}
    if not nets or set(nets) - allowed:
        parser.error(f"--nets: a comma-separated subset of {','.join(sorted(allowed))}, got {args.nets!r}")
    try:
        batches = [int(b) for b in args.batches.split(",") if b]
    except ValueError:
        parser.error(f"--batches: comma-separated integers, got {args.batches!r}")
    if not batches or min(batches) < 1:
        parser.error(f"--batches: integers >= 1, got {args.batches!r}")
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    for net in nets:
        for batch in batches:
            print("\n".join(floor_table(net, batch, args.dtype, args.rounds)))


if __name__ == "__main__":
    main()
