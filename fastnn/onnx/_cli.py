"""``fastnn export SOURCE OUT.onnx``: a model file, or a params file with ``--net``, to ONNX.

A model file (``fastnn train --save``) holds its net's recipe. A params file
(fastnn's ``.npz`` from ``save_params``, or the book's ``.pkl``) holds only
arrays: ``--net`` names the net, and its sizes are read from the arrays'
shapes (W1 (input, hidden), ...: ``fastnn.nets.recipe_from_params``, as
``fastnn evaluate --net`` does); what shapes cannot tell — the image size
of a conv net, a dense net's activation and dropout — comes from options
with the book's defaults.
"""
from __future__ import annotations

import argparse

from .._cli_args import dims, net_from_params_file, positive_int, ratio
from .._cli_errors import UserError, argument, check_output_path
from .versions import DEFAULT_OPSET

#: --net choices: the registered nets (fastnn.nets.NETS).
NET_NAMES = ("two_layer", "multi_layer", "simple_convnet", "deep_convnet")

EPILOG = """\
SOURCE is a model file (fastnn train --save MODEL.npz), or a params file with --net:
fastnn's save_params .npz, or the book's params.pkl. Examples:
  fastnn export model.npz model.onnx
  fastnn export --net deep_convnet deep_convnet_params.pkl deep.onnx --softmax

The graph is float32 (onnxruntime's CPU provider has no float64 Conv), opset 17,
input "x" (N, C, H, W) or (N, D), output "scores" (or "probabilities" with --softmax).
"""


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``export`` subcommand to ``sub`` (the subparsers of ``fastnn``'s parser)."""
    p = sub.add_parser("export", help="write a saved model or params file as an ONNX model",
                       description="Write a saved model (or a params file, with --net) as an ONNX model.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE", help="model file, or params file (.npz/.pkl) with --net")
    p.add_argument("out", metavar="OUT.onnx")
    p.add_argument("--net", choices=NET_NAMES, default=None,
                   help="the net a params file belongs to (a model file names its own)")
    p.add_argument("--softmax", action="store_true", help="output softmax probabilities instead of scores")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="fix the batch size in the graph (default: any)")
    p.add_argument("--opset", type=positive_int, default=None, help="ONNX opset (default: 17)")
    p.add_argument("--input-dim", type=dims, default=None, metavar="C,H,W",
                   help="image shape of a conv net read from a params file (default: 1,28,28 as MNIST; "
                        "C from the filters)")
    p.add_argument("--activation", choices=("relu", "sigmoid"), default="relu",
                   help="hidden activation of a multi_layer params file (default: relu)")
    p.add_argument("--dropout", type=ratio, default=None, metavar="RATIO",
                   help="dropout ratio of a multi_layer params file trained with dropout (it scales "
                        "the inference output)")
    return p


def _net_from_params(path, name, args):
    overrides = {}
    if args.input_dim is not None:
        overrides["input_dim"] = list(args.input_dim)
    if name == "multi_layer":
        overrides["activation"] = args.activation
        if args.dropout is not None:
            overrides.update(use_dropout=True, dropout_ration=args.dropout)
    return net_from_params_file(path, name, **overrides)


def _load_model(path):
    from ..nets.model_file import load_model  # NumPy and the layers: when the command runs

    try:
        return load_model(path)[0]
    except ValueError as exc:
        raise ValueError(f"{exc}; a params file needs --net NAME") from exc


def run(args) -> int:
    """Carry out ``fastnn export``; returns the exit status."""
    import numpy as np  # NumPy, and the exporter below: when the command runs (--help stays light)

    from . import export

    check_output_path("OUT.onnx", args.out)
    if args.batch is not None and args.batch < 1:
        raise UserError(f"--batch must be >= 1, got {args.batch}")
    with argument("SOURCE", args.source):
        if args.net is None:
            net = _load_model(args.source)
        else:
            net = _net_from_params(args.source, args.net, args)
    with argument("OUT.onnx", args.out):
        export(net, args.out, softmax=args.softmax, batch=args.batch,
               opset=DEFAULT_OPSET if args.opset is None else args.opset)
    note = ""
    if net.dtype == np.float64:
        note = " (the net computes in float64; the ONNX graph is float32, as onnxruntime's CPU provider needs)"
    output = "probabilities" if args.softmax else "scores"
    print(f"wrote {args.out}: {type(net).__name__}, input 'x', output '{output}', float32{note}")
    return 0
