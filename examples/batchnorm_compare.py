"""The book's batch-normalisation experiment (ch. 6): training with and without batch norm.

A 6-layer MLP (5 hidden layers of 100) is trained on 1,000 images with
and without batch normalization, for several scales of the initial weights.
With batch norm, learning is fast and hardly depends on the scale.

    python examples/batchnorm_compare.py --epochs 20 --out batchnorm.png
"""
import sys

import numpy as np
from _shared import load, parse, parser

from fastnn.nets import MultiLayerNetExtend
from fastnn.plot import new_figure, save_figure
from fastnn.trainer import Trainer


def main(argv=None):
    p = parser(__doc__.splitlines()[0], "batchnorm_compare.png")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--scales", default="1,0.1,0.01,0.001", help="weight init std values, comma-separated")
    args = parse(p, argv)
    title, (x, t), _ = load(args.data, args.n_train, 0)
    scales = [float(s) for s in args.scales.split(",")]
    fig = new_figure((3.2 * len(scales), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(scales), sharey=True))
    for ax, std in zip(axes, scales):
        for use_bn, style in ((True, "-"), (False, "--")):
            net = MultiLayerNetExtend(x.shape[1], [100] * 5, 10, weight_init_std=std,
                                      use_batchnorm=use_bn, seed=args.seed)
            tr = Trainer(net, x, t, x, t, epochs=args.epochs, mini_batch_size=100, optimizer="sgd",
                         optimizer_param={"lr": 0.01}, verbose=False, seed=args.seed)
            label = "batch norm" if use_bn else "no batch norm"
            try:
                tr.train()
                note = f"train acc {tr.train_acc_list[-1]:.3f}"
            except FloatingPointError as exc:   # the book's code trains on NaN here without a word
                note = f"diverged: {str(exc).split(';')[0]}"
                ax.text(0.03, 0.5 if use_bn else 0.4, f"{label}: diverged (NaN loss)", transform=ax.transAxes,
                        fontsize=8, color="tab:red")
            ax.plot(tr.train_acc_list, style, label=label)
            print(f"std {std:g}, {label:14s}: {note}")
        ax.set_title(f"W std = {std:g}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("training accuracy")
    axes[0].legend(loc="lower right")
    fig.suptitle(f"Batch normalization, {args.n_train} {title} images")
    save_figure(fig, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
