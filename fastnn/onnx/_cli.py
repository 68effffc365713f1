"""``fastnn export SOURCE OUT.onnx``: a model file, or a params file with ``--net``, to ONNX.

A model file (``fastnn train --save``) holds its net's recipe. A params file
(fastnn's ``.npz`` from ``save_params``, or the book's ``.pkl``) holds only
arrays: ``--net`` names the net, and its sizes are read from the arrays'
shapes (W1 (input, hidden), ...); what shapes cannot tell — the image size
of a conv net, a dense net's activation and dropout — comes from options
with the book's defaults.
"""
from __future__ import annotations

import argparse
import re

from .._cli_args import dims, positive_int, ratio

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

_PARAM_NAME = re.compile(r"(?:^|[./])(W|b|gamma|beta)(\d+)$")


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


def _read_params(path) -> dict:
    """The parameter arrays of a params file by the book's names (W1, b1, gamma1, ...)."""
    import numpy as np

    with open(path, "rb") as f:
        magic = f.read(4)
    from ..io import read_book_pickle, read_state

    arrays = read_book_pickle(path) if magic[:1] == b"\x80" else read_state(path)[2]
    params = {}
    for key, value in arrays.items():
        m = _PARAM_NAME.search(key)
        if m and not key.startswith("state"):
            params[m.group(1) + m.group(2)] = np.asarray(value)
    if "W1" not in params:
        raise ValueError(f"{path!r} holds no parameters named W1, b1, ... (the book's names); "
                         f"is it a params file?")
    return params


def _count(params, name) -> int:
    n = 0
    while f"{name}{n + 1}" in params:
        n += 1
    return n


def _recipe(name: str, params: dict, args) -> dict:
    """Constructor keyword arguments of net ``name`` that fit the shapes of ``params``."""
    shape = {k: v.shape for k, v in params.items()}
    n_w = _count(params, "W")

    def need(key, rank):
        if key not in shape or len(shape[key]) != rank:
            raise ValueError(f"the params file does not fit --net {name}: it needs {key} with {rank} "
                             f"dimensions, got {shape.get(key, 'none')}")
        return shape[key]

    if name == "two_layer":
        (d, h), (_, k) = need("W1", 2), need("W2", 2)
        return {"input_size": d, "hidden_size": h, "output_size": k}
    if name == "multi_layer":
        ws = [need(f"W{i}", 2) for i in range(1, n_w + 1)]
        kwargs = {"input_size": ws[0][0], "hidden_size_list": [w[1] for w in ws[:-1]],
                  "output_size": ws[-1][1], "activation": args.activation,
                  "use_batchnorm": "gamma1" in params}
        if args.dropout is not None:
            kwargs.update(use_dropout=True, dropout_ration=args.dropout)
        return kwargs
    if name == "simple_convnet":
        fn, c, fs, _ = need("W1", 4)
        input_dim = args.input_dim or (c, 28, 28)
        return {"input_dim": input_dim, "hidden_size": need("W2", 2)[1], "output_size": need("W3", 2)[1],
                "conv_param": {"filter_num": fn, "filter_size": fs, "pad": 0, "stride": 1}}
    if name == "deep_convnet":
        kwargs = {"input_dim": args.input_dim or (need("W1", 4)[1], 28, 28),
                  "hidden_size": need("W7", 2)[1], "output_size": need("W8", 2)[1]}
        from ..nets import convnet
        for i, default in enumerate(convnet.DEEP_CONV_PARAMS, start=1):
            fn, _, fs, _ = need(f"W{i}", 4)
            kwargs[f"conv_param_{i}"] = {**default, "filter_num": fn, "filter_size": fs}
        return kwargs
    raise ValueError(f"--net must be one of {', '.join(NET_NAMES)}, got {name!r}")


def _net_from_params(path, name, args):
    import numpy as np

    from .. import nets

    params = _read_params(path)
    dtype = params["W1"].dtype if params["W1"].dtype in (np.float32, np.float64) else np.float64
    kwargs = _recipe(name, params, args)
    try:
        net = nets.build_net(name, kwargs, dtype=dtype, seed=0)
        net.load_params(path)
    except ValueError as exc:
        hint = (" (give the image size the net was trained on with --input-dim C,H,W)"
                if name.endswith("convnet") else "")
        raise ValueError(f"{path!r} does not fit a {name} net built from its shapes: {exc}{hint}") from exc
    return net


def _load_model(path):
    from ..io import load_model

    try:
        return load_model(path)[0]
    except ValueError as exc:
        raise ValueError(f"{exc}; a params file needs --net NAME") from exc


def run(args) -> int:
    """Carry out ``fastnn export``; returns the exit status."""
    import numpy as np

    from .._cli_errors import UserError, argument, check_output_path
    from . import DEFAULT_OPSET, export

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
