"""The book's optimizer comparison (ch. 6): SGD, Momentum, AdaGrad and Adam training the same net.

A 5-layer MLP (4 hidden layers of 100 ReLUs, He init) is trained by each
optimizer from the same initial weights on the same mini-batches; the
smoothed training-loss curves are plotted.

    python examples/optimizer_compare.py --iters 500 --out optimizer_compare.png
"""
import sys
import time

import numpy as np
from _shared import load, parse, parser

from fastnn.nets import MultiLayerNet
from fastnn.optimizer import get_optimizer
from fastnn.plot import new_figure, save_figure
from fastnn.util import smooth_curve

OPTIMIZERS = {"SGD": {"lr": 0.01}, "Momentum": {"lr": 0.01}, "AdaGrad": {"lr": 0.01}, "Adam": {"lr": 0.001}}


def main(argv=None):
    p = parser(__doc__.splitlines()[0], "optimizer_compare.png")
    p.add_argument("--iters", type=int, default=500, help="mini-batch steps per optimizer (book: 2000)")
    p.add_argument("--batch-size", type=int, default=128)
    args = parse(p, argv)
    title, (x, t), _ = load(args.data)
    rng = np.random.default_rng(args.seed)
    batches = [rng.choice(len(x), args.batch_size) for _ in range(args.iters)]
    losses = {}
    for name, hyper in OPTIMIZERS.items():
        t0 = time.perf_counter()
        net = MultiLayerNet(x.shape[1], [100, 100, 100, 100], 10, seed=args.seed)
        opt = get_optimizer(name, **hyper)
        losses[name] = []
        for idx in batches:
            grads = net.gradient(x[idx], t[idx])
            opt.update(net.params, grads)
            losses[name].append(net.loss(x[idx], t[idx]))
        print(f"{name:8s} final loss {np.mean(losses[name][-20:]):.4f} ({time.perf_counter() - t0:.1f} s)")

    fig = new_figure((7, 4.5))
    ax = fig.subplots()
    for (name, curve), marker in zip(losses.items(), "osD^"):
        ax.plot(smooth_curve(np.array(curve)), marker=marker, markevery=max(1, args.iters // 10), label=name)
    ax.set_xlabel("iterations")
    ax.set_ylabel("training loss")
    ax.set_ylim(0, 1)
    ax.set_title(f"Optimizers on {title}")
    ax.legend()
    save_figure(fig, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
