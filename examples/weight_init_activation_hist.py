"""The book's weight-initialisation experiment (ch. 6): activation histograms of a 5-layer net.

1,000 random inputs pass through 5 layers of 100 units; the histograms of
each layer's activations are drawn for weights of std 1 and 0.01 (sigmoid:
saturation, then collapse), Xavier (sigmoid: spread kept) and He (ReLU).
No training, no data set: runs in seconds.

    python examples/weight_init_activation_hist.py --out weight_init.png
"""
import sys

import numpy as np
from _shared import parse, parser

from fastnn.functions import relu, sigmoid
from fastnn.plot import new_figure, save_figure

N_LAYERS, NODES = 5, 100
SETTINGS = [  # (label, std as a function of fan-in, activation)
    ("std 1, sigmoid", lambda n: 1.0, sigmoid),
    ("std 0.01, sigmoid", lambda n: 0.01, sigmoid),
    ("Xavier, sigmoid", lambda n: np.sqrt(1.0 / n), sigmoid),
    ("He, ReLU", lambda n: np.sqrt(2.0 / n), relu),
]


def activations(x, std, act, rng):
    out = []
    for _ in range(N_LAYERS):
        w = rng.standard_normal((x.shape[1], NODES)) * std(x.shape[1])
        x = act(x @ w)
        out.append(x)
    return out


def main(argv=None):
    p = parser(__doc__.splitlines()[0], "weight_init_activation_hist.png")
    args = parse(p, argv)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((1000, NODES))
    fig = new_figure((13, 9))
    axes = fig.subplots(len(SETTINGS), N_LAYERS)
    for row, (label, std, act) in zip(axes, SETTINGS):
        for i, (ax, a) in enumerate(zip(row, activations(x, std, act, rng))):
            ax.hist(a.ravel(), bins=30, range=(0, 1), color="tab:blue")
            ax.set_yticks([])
            if act is relu:
                ax.set_ylim(0, 7000)
            ax.set_title(f"layer {i + 1}", fontsize=9)
        row[0].set_ylabel(label)
    fig.suptitle("Activation distributions by weight initialisation")
    save_figure(fig, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
