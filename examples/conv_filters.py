"""The book's filter visualisation (ch. 7): SimpleConvNet's first-layer filters before and after training.

Random filters look like noise; after training they become edge and blob
detectors. The 30 5×5 filters are drawn before and after a short training.

    python examples/conv_filters.py --epochs 3 --out conv_filters.png
"""
import sys
import time

import numpy as np
from _shared import load, parse, parser

from fastnn.nets import SimpleConvNet
from fastnn.plot import new_figure, save_figure
from fastnn.trainer import Trainer


def draw(fig, filters, title):
    n = filters.shape[0]
    cols = 10
    rows = -(-n // cols)
    axes = fig.subplots(rows, cols)
    for i, ax in enumerate(np.ravel(axes)):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n:
            ax.imshow(filters[i, 0], cmap="gray_r", interpolation="nearest")
        else:
            ax.set_visible(False)
    fig.suptitle(title)


def main(argv=None):
    p = parser(__doc__.splitlines()[0], "conv_filters.png")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--n-train", type=int, default=5000)
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = parse(p, argv)
    title, (x, t), (xt, tt) = load(args.data, args.n_train, 1000, flatten=False)
    x, xt = x.astype(args.dtype), xt.astype(args.dtype)
    net = SimpleConvNet(input_dim=x.shape[1:], weight_init_std=0.01, dtype=args.dtype, seed=args.seed)
    before = net.params["W1"].copy()
    t0 = time.perf_counter()
    tr = Trainer(net, x, t, xt, tt, epochs=args.epochs, mini_batch_size=100, optimizer="adam",
                 optimizer_param={"lr": 0.001}, verbose=False, seed=args.seed)
    tr.train()
    print(f"trained {args.epochs} epochs on {len(x)} {title} images: test acc {tr.test_acc:.3f} "
          f"({time.perf_counter() - t0:.1f} s)")
    fig = new_figure((10, 5.5))
    top, bottom = fig.subfigures(2, 1)
    draw(top, before, "first-layer filters before training (random)")
    draw(bottom, net.params["W1"], f"after {args.epochs} epochs on {title} (test acc {tr.test_acc:.3f})")
    save_figure(fig, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
