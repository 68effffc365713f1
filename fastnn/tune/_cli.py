"""``fastnn tune``: its arguments and its main. Importing this module imports neither Optuna nor numba."""
from __future__ import annotations

import argparse
import time

from .._cli_args import DATA_CHOICES, OPTIMIZERS, positive_int, sizes
from .._cli_errors import check_output_path
from ..nets import NETS
from . import make_setup, run

TUNE_DESCRIPTION = """\
Search hyperparameters as the book's chapter 6 does: each trial trains a net on
80% of the training images and is judged on the other 20% (the test set is not
touched); poor trials are stopped early (median pruner). Workers share one study
in a storage: a journal file here (default), or PostgreSQL for several machines.
"""

TUNE_EPILOG = """\
Search space: the book's lr = 10^U(-6, -2) and, for multi_layer, weight_decay =
10^U(-8, -4). --param adds a name or replaces one (repeat it):
  --param lr=1e-4:1e-1:log       log-uniform float
  --param dropout=0:0.5          uniform float (multi_layer)
  --param hidden=50:200:int      whole number (units per hidden layer)
  --param batch_size=32,64,128   choices
  --param optimizer=sgd,adam     choices ({optimizers})

Several machines, one study (each machine runs the same command):
  fastnn tune --storage postgresql+psycopg://USER@HOST/DB --study mlp --trials 200 --jobs 2

Running a command again continues its study; --trials is the study's total.
""".replace("{optimizers}", " ".join(OPTIMIZERS))


def _count(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def add_parser(sub):
    """Add the ``tune`` subcommand to ``sub`` (the subparsers of ``fastnn``)."""
    p = sub.add_parser("tune", help="search hyperparameters on a validation split (Optuna; several processes "
                                    "or machines)",
                       description=TUNE_DESCRIPTION, epilog=TUNE_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net", choices=list(NETS), default="multi_layer",
                   help="which net (default: multi_layer, the book's 6x100 MLP)")
    p.add_argument("--hidden", type=sizes, default=None, metavar="N[,N...]",
                   help="hidden layer size(s) (default: 100,100,100,100,100,100 for multi_layer; "
                        "as 'fastnn train' for the others)")
    p.add_argument("--data", choices=DATA_CHOICES, default=None,
                   help="which data set (default: the best one on this machine)")
    p.add_argument("--data-home", metavar="DIR", default=None, help="directory holding the data files")
    p.add_argument("--epochs", type=positive_int, default=10, help="epochs per trial (default: 10)")
    p.add_argument("--batch-size", type=positive_int, default=100, help="mini-batch size (default: 100)")
    p.add_argument("--optimizer", type=str.lower, choices=OPTIMIZERS, default="sgd",
                   help="update rule, unless --param optimizer=... searches it (default: sgd, as the book)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="(default: float32)")
    p.add_argument("--seed", type=int, default=None,
                   help="seeds the sampler and every trial's weights and batch order (default: random)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=SPEC",
                   help="search NAME over SPEC (LOW:HIGH[:log][:int] or A,B,...); see below")
    p.add_argument("--trials", type=_count, default=100,
                   help="the study's budget of finished trials, over all workers and runs (default: 100)")
    p.add_argument("--jobs", type=_count, default=1,
                   help="worker processes on this machine, each with its share of the cores (default: 1)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="numba/BLAS threads of each worker (default: cores // --jobs); on a busy machine 1 is "
                        "often fastest")
    p.add_argument("--storage", metavar="URL", default=None,
                   help="a journal file (default: ./fastnn-tune.journal) or postgresql+psycopg://USER@HOST/DB")
    p.add_argument("--study", metavar="NAME", default="fastnn", help="the study's name (default: fastnn)")
    p.add_argument("--sampler", choices=("tpe", "random"), default="tpe",
                   help="tpe (Optuna's default) or random (the book's method) (default: tpe)")
    p.add_argument("--pruner", choices=("median", "none"), default="median",
                   help="stop trials below the median of earlier trials at the same epoch (default: median)")
    p.add_argument("--heartbeat", type=_count, default=10, metavar="SECONDS",
                   help="PostgreSQL: seconds between a trial's heartbeats; a trial silent for 3x as long "
                        "(at most 60 s) is failed and its budget slot reused (default: 10)")
    p.add_argument("--top", type=_count, default=10, help="rows of the best-trials table (default: 10)")
    p.add_argument("--plot", metavar="FILE.png", default=None,
                   help="the best trials' validation curves and the study's history (needs matplotlib)")
    p.add_argument("--save-best", metavar="MODEL.npz", default=None,
                   help="train the best trial again and save it (fastnn evaluate MODEL.npz)")
    p.add_argument("--quiet", action="store_true", help="no line per trial, only the result")
    return p


def main(args) -> int:
    """Run ``fastnn tune``; bad input raises ``ValueError`` (``fastnn``'s main prints it on one line)."""
    if args.trials < 1:
        raise ValueError(f"--trials must be >= 1 (the study's budget of finished trials), got {args.trials}")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1 (worker processes on this machine), got {args.jobs}")
    if not 1 <= args.heartbeat <= 20:
        raise ValueError(f"--heartbeat must be 1 to 20 seconds (a dead worker's trial is failed after 3x as "
                         f"long, at most 60 s), got {args.heartbeat}")
    if args.top < 1:
        raise ValueError(f"--top must be >= 1, got {args.top}")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ImportError("--plot needs matplotlib: pip install matplotlib (or pip install 'fastnn[plot]')")
    # the report (NumPy, the nets' model files) and the storage (socket): when a study runs, not for --help
    from ._report import best_table, finished_trials, plot_study, save_best, summary
    from ._storage import describe_url

    for flag, path in (("--plot", args.plot), ("--save-best", args.save_best)):
        if path is not None:
            check_output_path(flag, path)      # before the search, not after it
    setup = make_setup(args.net, args.hidden, args.data, args.data_home, args.epochs, args.batch_size,
                       args.optimizer, args.dtype, args.param)
    t0 = time.perf_counter()
    if not args.quiet:
        space = ", ".join(p.describe() for p in setup.space.values())
        print(f"fastnn tune: study {args.study!r} in {describe_url(args.storage)}: {args.net} on {setup.data}, "
              f"{args.epochs} epochs a trial, {args.sampler} sampler, {args.pruner} pruner, "
              f"{args.jobs} worker(s); searching {space}", flush=True)
    study = run(net=args.net, hidden=args.hidden, data=setup.data, data_home=args.data_home, epochs=args.epochs,
                batch_size=args.batch_size, optimizer=args.optimizer, dtype=args.dtype, seed=args.seed,
                params=args.param, trials=args.trials, jobs=args.jobs, storage=args.storage, study=args.study,
                sampler=args.sampler, pruner=args.pruner, heartbeat=args.heartbeat, threads=args.threads,
                log=None if args.quiet else (lambda line: print(line, flush=True)))
    print(summary(study, args.trials) + f" (this run: {time.perf_counter() - t0:.1f} s)")
    print(best_table(study, args.top))
    best = finished_trials(study)
    if best:
        params = ", ".join(f"{k}={v!r}" for k, v in best[0].params.items())
        print(f"best: trial {best[0].number}, validation accuracy {best[0].value:.4f}: {params}")
    if args.plot:
        plot_study(study, args.plot)
        print(f"saved the figure to {args.plot}")
    if args.save_best:
        info = save_best(study, setup, args.save_best)
        print(f"saved trial {info['trial']} (trained again: validation accuracy {info['val_acc']:.4f}) to "
              f"{args.save_best} (fastnn evaluate {args.save_best})")
    return 0
