"""The book's random search (ch. 6): learning rate and weight decay, judged on a validation split.

The training images are cut into training (80%) and validation (20%) sets
— the test set is not touched. Each trial draws lr = 10^U(-6, -2) and
weight decay = 10^U(-8, -4), trains a 7-layer MLP and records its
validation accuracy. The best trials' curves are plotted, best first.

    python examples/hyperparameter_search.py --trials 20 --epochs 50 --out hyperparameters.png

This script is the book's loop, one trial after another in one process.
``fastnn tune`` runs the same search on Optuna: pruning, many worker
processes, and one study shared by many machines through PostgreSQL.
"""
import sys

import numpy as np
from _shared import load, parse, parser

from fastnn.nets import MultiLayerNet
from fastnn.plot import new_figure, save_figure
from fastnn.trainer import Trainer
from fastnn.util import shuffle_dataset


def main(argv=None):
    p = parser(__doc__.splitlines()[0], "hyperparameter_search.png")
    p.add_argument("--trials", type=int, default=20, help="random trials (book: 100)")
    p.add_argument("--epochs", type=int, default=50, help="epochs per trial (book: 50)")
    p.add_argument("--n-train", type=int, default=500)
    p.add_argument("--show", type=int, default=12, help="how many of the best trials to plot")
    args = parse(p, argv)
    title, (x, t), _ = load(args.data, args.n_train, 0)
    np.random.seed(args.seed)                          # shuffle_dataset uses NumPy's global generator, as the book
    x, t = shuffle_dataset(x, t)
    n_val = int(len(x) * 0.2)
    x_val, t_val, x_tr, t_tr = x[:n_val], t[:n_val], x[n_val:], t[n_val:]
    rng = np.random.default_rng(args.seed)
    results = []
    for i in range(args.trials):
        lr = 10 ** rng.uniform(-6, -2)
        decay = 10 ** rng.uniform(-8, -4)
        net = MultiLayerNet(x.shape[1], [100] * 6, 10, weight_decay_lambda=decay, seed=args.seed + i)
        tr = Trainer(net, x_tr, t_tr, x_val, t_val, epochs=args.epochs, mini_batch_size=100, optimizer="sgd",
                     optimizer_param={"lr": lr}, verbose=False, seed=args.seed + i)
        try:
            tr.train()
        except FloatingPointError:
            print(f"trial {i + 1:3d}: diverged (NaN loss)  lr {lr:.2e}  weight decay {decay:.2e}")
            continue
        results.append((tr.test_acc_list[-1], lr, decay, tr.train_acc_list, tr.test_acc_list))
        print(f"trial {i + 1:3d}: val acc {tr.test_acc_list[-1]:.3f}  lr {lr:.2e}  weight decay {decay:.2e}")
    results.sort(key=lambda r: -r[0])
    print("best:", ", ".join(f"val {r[0]:.3f} (lr {r[1]:.1e}, decay {r[2]:.1e})" for r in results[:5]))

    show = results[:args.show]
    cols = min(4, len(show))
    rows = -(-len(show) // cols)
    fig = new_figure((3 * cols, 2.4 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True)).ravel()
    for k, (ax, (val, lr, decay, train_acc, val_acc)) in enumerate(zip(axes, show)):
        ax.plot(val_acc, label="validation")
        ax.plot(train_acc, "--", label="train")
        ax.set_title(f"#{k + 1} lr {lr:.1e} wd {decay:.1e}", fontsize=8)
        ax.set_ylim(0, 1)
    for ax in axes[len(show):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Random search on {title}: the {len(show)} best of {args.trials} trials")
    save_figure(fig, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
