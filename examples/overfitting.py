"""The book's overfitting experiment (ch. 6): a deep net on 300 images, plain, with weight decay, with dropout.

A 7-layer MLP (6 hidden layers of 100) trained on only 300 training images
overfits: training accuracy reaches 1 while test accuracy stalls. Weight
decay (λ = 0.1) and dropout (ratio 0.2) narrow the gap. Train and test
accuracy per epoch are plotted for the three runs.

    python examples/overfitting.py --epochs 200 --out overfitting.png
"""
import sys
import time

from _shared import load, parse, parser

from fastnn.nets import MultiLayerNet, MultiLayerNetExtend
from fastnn.plot import new_figure, save_figure
from fastnn.trainer import Trainer


def main(argv=None):
    p = parser(__doc__.splitlines()[0], "overfitting.png")
    p.add_argument("--epochs", type=int, default=200, help="epochs per run (book: 201 / 301)")
    p.add_argument("--n-train", type=int, default=300)
    p.add_argument("--n-test", type=int, default=2000)
    args = parse(p, argv)
    title, (x, t), (xt, tt) = load(args.data, args.n_train, args.n_test)
    d = x.shape[1]
    runs = {
        "no regularisation": MultiLayerNet(d, [100] * 6, 10, seed=args.seed),
        "weight decay λ=0.1": MultiLayerNet(d, [100] * 6, 10, weight_decay_lambda=0.1, seed=args.seed),
        "dropout 0.2": MultiLayerNetExtend(d, [100] * 6, 10, use_dropout=True, dropout_ration=0.2, seed=args.seed),
    }
    fig = new_figure((13, 4))
    axes = fig.subplots(1, len(runs), sharey=True)
    for ax, (label, net) in zip(axes, runs.items()):
        t0 = time.perf_counter()
        tr = Trainer(net, x, t, xt, tt, epochs=args.epochs, mini_batch_size=100, optimizer="sgd",
                     optimizer_param={"lr": 0.01}, verbose=False, seed=args.seed)
        tr.train()
        print(f"{label:20s} train acc {tr.train_acc_list[-1]:.3f}, test acc {tr.test_acc_list[-1]:.3f} "
              f"({time.perf_counter() - t0:.1f} s)")
        ax.plot(tr.train_acc_list, label="train")
        ax.plot(tr.test_acc_list, label="test")
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="lower right")
    fig.suptitle(f"Overfitting on {args.n_train} {title} images")
    save_figure(fig, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
