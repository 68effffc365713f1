"""Argument types and shared steps of the command line (``fastnn train``/``evaluate``, ``tune``, ``export``).

Each type turns one option's text into a value or raises
``argparse.ArgumentTypeError`` with what was expected; the subcommands of
``fastnn.__main__``, ``fastnn.tune`` and ``fastnn.onnx`` share them, so an
option means the same everywhere.
"""
from __future__ import annotations

import argparse

from ._cli_errors import UserError
from ._optimizer_names import OPTIMIZER_NAMES
from .nets import build_net, recipe_from_params, registry

DATA_CHOICES = ("mnist", "fashion", "mnist5k", "digits")
OPTIMIZERS = OPTIMIZER_NAMES   # what --optimizer offers: fastnn.optimizer.OPTIMIZERS' names


#: Largest count (epochs, batch size, samples, threads) the command line accepts.
MAX_COUNT = 2**31


def _convert(text, kind):
    """``kind(text)`` (int or float), or the ArgumentTypeError that says what a number looks like."""
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_int(text):
    value = _convert(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected a number <= {MAX_COUNT:,}, got {value:,}")
    return value


def seed_value(text):
    value = _convert(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def positive_float(text):
    value = _convert(text, float)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def ratio(text):
    value = nonneg_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a ratio in [0, 1), got {text}")
    return value


def train_dtype(text):
    if text in ("float32", "float64"):
        return text
    if text in ("float16", "bfloat16"):
        raise argparse.ArgumentTypeError(f"{text} is for inference only: train in float32, then "
                                         f"'fastnn evaluate MODEL.npz --dtype {text}'")
    raise argparse.ArgumentTypeError(f"expected float32 or float64, got {text!r}")


def fraction(text):
    value = _convert(text, float)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction strictly between 0 and 1 such as 0.1, got {text}")
    return value


def augment_spec(text):
    from .augment import parse_augment  # numba's kernels: only when --augment is given (--help stays light)
    try:
        return parse_augment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def nonneg_float(text):
    value = _convert(text, float)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def init_std(text):
    if text.lower() in ("he", "relu", "xavier", "sigmoid"):
        return text.lower()
    value = nonneg_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("a weight std of 0 makes every unit the same; give a number > 0")
    return value


def sizes(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 100 or 100,100,50, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected sizes >= 1 like 100 or 100,100,50, got {text!r}")
    return sizes


def dims(text):
    try:
        values = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W like 1,28,28, got {text!r}") from None
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected three sizes >= 1 like 1,28,28, got {text!r}")
    return values


def net_recipe(args, info) -> tuple[str, dict]:
    """Registered net name and JSON-friendly constructor kwargs for the chosen net and data."""
    c, h, w = info.image_shape
    k = info.n_classes
    hidden = args.hidden
    if args.net != "multi_layer" and hidden is not None and len(hidden) != 1:
        raise ValueError(f"--hidden takes one size for {args.net}, got {','.join(map(str, hidden))}")
    if args.net != "multi_layer" and (args.weight_decay or args.dropout is not None or args.batchnorm):
        raise ValueError("--weight-decay, --dropout and --batchnorm apply to --net multi_layer only")
    if args.net == "simple_convnet":
        return "simple_convnet", {
            "input_dim": [c, h, w],
            "conv_param": {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
            "hidden_size": hidden[0] if hidden else 100, "output_size": k, "weight_init_std": args.weight_init}
    if args.net == "deep_convnet":
        return "deep_convnet", {"input_dim": [c, h, w], "hidden_size": hidden[0] if hidden else 50,
                                "output_size": k}
    if args.net == "two_layer":
        return "two_layer", {"input_size": c * h * w, "hidden_size": hidden[0] if hidden else 100,
                             "output_size": k, "weight_init_std": args.weight_init}
    kwargs = {"input_size": c * h * w, "hidden_size_list": hidden or [100, 100], "output_size": k,
              "activation": "relu", "weight_init_std": args.weight_init, "weight_decay_lambda": args.weight_decay}
    if args.dropout is not None or args.batchnorm:
        kwargs.update(use_dropout=args.dropout is not None, dropout_ration=args.dropout or 0.5,
                      use_batchnorm=args.batchnorm)
    return "multi_layer", kwargs


def net_from_params_file(path, name: str, dtype=None, image_hint: str = "give the image size it was "
                         "trained on with --input-dim C,H,W", **overrides):
    """The registered net ``name`` rebuilt from a params file, its sizes read from the file's shapes.

    What ``fastnn evaluate --net`` and ``fastnn export --net`` share: the
    recipe comes from ``fastnn.nets.recipe_from_params`` (``overrides``: what
    shapes cannot tell, such as ``input_dim``), then the file is loaded.
    ``dtype`` None: the file's own (float64 if it is neither float).
    ``image_hint``: how a wrong image size of a conv net is fixed on this
    command's line.
    """
    import numpy as np  # NumPy and the file reader: when a command runs (--help stays light)

    from .io import read_params

    params = read_params(path)
    if dtype is None:
        dtype = params["W1"].dtype if params["W1"].dtype in (np.float32, np.float64) else np.float64
    try:
        recipe = recipe_from_params(name, params, **overrides)
    except ValueError as exc:
        raise ValueError(str(exc).replace(registry.IMAGE_SIZE_HINT, image_hint)) from None
    net = build_net(name, recipe, dtype=dtype, seed=0)
    net.load_params(path)
    return net


def load_data(name, data_home, flatten, dtype, source="--data"):
    """Load data set ``name`` (None: the best one here); ``source`` names where the name came from."""
    from .datasets import DATASETS, best_dataset  # the loaders import NumPy: when a command runs

    if name is None:
        name = best_dataset()
    if name not in DATASETS:
        raise UserError(f"{source}: unknown data set {name!r}; give --data as one of {', '.join(DATASETS)}")
    info = DATASETS[name]
    kwargs = {"normalize": True, "flatten": flatten, "one_hot_label": False, "dtype": dtype}
    if data_home is not None and name != "digits":
        kwargs["data_home"] = data_home
    return name, info, info.loader(**kwargs)
