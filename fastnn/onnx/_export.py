"""The graph builder behind ``fastnn.onnx.export`` (see the package docstring)."""

from __future__ import annotations

import os

import numpy as np

from .. import __version__
from ..layers import Affine, AvgPooling, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid, fused
from .versions import DEFAULT_OPSET, INPUT_NAME, IR_VERSION, MIN_OPSET


def _onnx():
    try:
        import onnx  # the optional extra: imported when an export runs
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install onnx "
                          "(or pip install 'fastnn[onnx]')") from None
    return onnx


def _known_layers() -> dict:
    """Exact layer class -> converter. Exact classes only: a subclass may compute something else."""
    return {
        Affine: _affine, Relu: _relu, Sigmoid: _sigmoid, Convolution: _convolution,
        Pooling: _pooling, AvgPooling: _pooling, BatchNormalization: _batchnorm, Dropout: _dropout,
    }


def _stage_layers(layer):
    """The layers a fused stage runs (``fastnn.layers.fused``), or None for a plain layer."""
    stage_class = getattr(fused, "ConvReluPool", None)
    if stage_class is not None and type(layer) is stage_class:
        return list(layer.layers)
    return None


def _net_layers(net) -> list:
    """[(name, layer), ...] of ``net.layers`` (a dict name -> layer or a list), fused stages expanded."""
    layers = getattr(net, "layers", None)
    if isinstance(layers, dict):
        items = list(layers.items())
    elif isinstance(layers, (list, tuple)):
        items = [(f"{type(layer).__name__}{i}", layer) for i, layer in enumerate(layers, start=1)]
    else:
        raise TypeError(f"net must have a 'layers' dict or list (a fastnn net: fastnn.nets.Sequential or one "
                        f"of the book's nets), got {type(net).__name__}")
    if not items:
        raise ValueError("net.layers is empty: there is nothing to export")
    out = []
    for name, layer in items:
        inner = _stage_layers(layer)
        if inner is None:
            out.append((str(name), layer))
        else:
            out.extend((f"{name}.{type(sub).__name__}", sub) for sub in inner)
    return out


def _input_shape(net, layers, input_shape) -> tuple:
    """The shape of one sample: ``input_shape`` if given, else the net's ``input_dim``, else the first
    Affine's input size."""
    if input_shape is None:
        input_shape = getattr(net, "input_dim", None)
    if input_shape is None:
        first = layers[0][1]
        if type(first) is Affine:
            input_shape = (int(np.shape(first.W)[0]),)
        else:
            raise ValueError(f"input_shape is needed: the net's first layer is a {type(first).__name__} and "
                             f"the net has no input_dim; give the shape of one sample, e.g. "
                             f"input_shape=(1, 28, 28)")
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise TypeError(f"input_shape must be a tuple of positive ints (one sample's shape), "
                        f"got {input_shape!r}") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got {input_shape!r}")
    return shape


class _Graph:
    """Nodes and float32 initializers of the graph being built, with the running sample shape."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.nodes = []
        self.initializers = []

    def const(self, name, value) -> str:
        array = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def const_int64(self, name, value) -> str:
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value, dtype=np.int64), name))
        return name

    def node(self, op, inputs, output, name, **attrs) -> str:
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=name, **attrs))
        return output


def _flat_size(shape) -> int:
    return int(np.prod(shape))


def _window_out(size, window, stride, pad, what, name) -> int:
    out = (size + 2 * pad - window) // stride + 1
    if size + 2 * pad < window:
        raise ValueError(f"layer {name!r}: its {what} {window} does not fit the {size}-wide input "
                         f"(padded by {pad}); check input_shape")
    return out


def _check_rank(name, shape, rank, what):
    if len(shape) != rank:
        raise ValueError(f"layer {name!r} ({what}) needs input of shape (N, C, H, W), but gets samples "
                         f"of shape {shape}; check input_shape")


def _affine(g, name, layer, x, shape):
    W, b = np.asarray(layer.W), np.asarray(layer.b)
    if W.shape[0] != _flat_size(shape):
        raise ValueError(f"layer {name!r} (Affine) has W of shape {W.shape}, but its input has "
                         f"{_flat_size(shape)} features per sample (shape {shape}); check input_shape")
    if len(shape) != 1:
        x = g.node("Flatten", [x], f"{name}.flat", f"{name}.Flatten", axis=1)
    y = g.node("Gemm", [x, g.const(f"{name}.W", W), g.const(f"{name}.b", b)], f"{name}.out", name)
    return y, (W.shape[1],)


def _relu(g, name, layer, x, shape):
    return g.node("Relu", [x], f"{name}.out", name), shape


def _sigmoid(g, name, layer, x, shape):
    return g.node("Sigmoid", [x], f"{name}.out", name), shape


def _convolution(g, name, layer, x, shape):
    _check_rank(name, shape, 3, "Convolution")
    W, b = np.asarray(layer.W), np.asarray(layer.b)
    fn, c, fh, fw = W.shape
    if shape[0] != c:
        raise ValueError(f"layer {name!r} (Convolution) has filters for {c} channels, its input has "
                         f"{shape[0]}; check input_shape")
    s, p = int(layer.stride), int(layer.pad)
    oh = _window_out(shape[1], fh, s, p, "filter height", name)
    ow = _window_out(shape[2], fw, s, p, "filter width", name)
    y = g.node("Conv", [x, g.const(f"{name}.W", W), g.const(f"{name}.b", np.broadcast_to(b, (fn,)))],
               f"{name}.out", name, kernel_shape=[fh, fw], pads=[p, p, p, p], strides=[s, s])
    return y, (fn, oh, ow)


def _pooling(g, name, layer, x, shape):
    _check_rank(name, shape, 3, "Pooling")
    ph, pw, s, p = int(layer.pool_h), int(layer.pool_w), int(layer.stride), int(layer.pad)
    oh = _window_out(shape[1], ph, s, p, "pool height", name)
    ow = _window_out(shape[2], pw, s, p, "pool width", name)
    attrs = dict(kernel_shape=[ph, pw], pads=[p, p, p, p], strides=[s, s], ceil_mode=0)
    if layer.mode == "max":
        y = g.node("MaxPool", [x], f"{name}.out", name, **attrs)
    elif layer.mode == "avg":
        y = g.node("AveragePool", [x], f"{name}.out", name, count_include_pad=1, **attrs)
    else:
        raise ValueError(f"layer {name!r}: Pooling mode must be 'max' or 'avg', got {layer.mode!r}")
    return y, (shape[0], oh, ow)


def _batchnorm(g, name, layer, x, shape):
    size = np.size(layer.gamma)
    stats = [g.const(f"{name}.{k}", getattr(layer, k))
             for k in ("gamma", "beta", "running_mean", "running_var")]
    eps = float(layer.eps)
    if len(shape) == 1 or (len(shape) == 3 and size == shape[0] and size != _flat_size(shape)):
        if size != shape[0]:
            raise ValueError(f"layer {name!r} (BatchNormalization) has {size} entries in gamma, its input "
                             f"has {shape[0]} features; check input_shape")
        return g.node("BatchNormalization", [x] + stats, f"{name}.out", name, epsilon=eps), shape
    if len(shape) == 3 and size == _flat_size(shape):
        # the book's layout: every one of the C*H*W activations has its own statistics
        flat = g.node("Flatten", [x], f"{name}.flat", f"{name}.Flatten", axis=1)
        y = g.node("BatchNormalization", [flat] + stats, f"{name}.bn", name, epsilon=eps)
        back = g.const_int64(f"{name}.shape", [0, *shape])
        return g.node("Reshape", [y, back], f"{name}.out", f"{name}.Reshape"), shape
    raise ValueError(f"layer {name!r} (BatchNormalization) has {size} entries in gamma, which fits neither "
                     f"layout for samples of shape {shape} (C = {shape[0]} per channel, C*H*W = "
                     f"{_flat_size(shape)} per activation); check input_shape")


def _dropout(g, name, layer, x, shape):
    keep = 1.0 - float(layer.dropout_ratio)
    return g.node("Mul", [x, g.const(f"{name}.scale", np.float32(keep))], f"{name}.out", name), shape


def _check_opset(onnx, opset) -> int:
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be an int from {MIN_OPSET} to {newest} (this onnx package's newest), "
                         f"got {opset!r}; {DEFAULT_OPSET} loads in current and slightly older runtimes")
    return int(opset)


def _check_batch(batch):
    if batch is None:
        return "N"
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be None (any batch size) or a positive int, got {batch!r}")
    return int(batch)


def build_model(net, *, softmax=False, opset=DEFAULT_OPSET, batch=None, input_shape=None):
    """The ONNX model (an ``onnx.ModelProto``) of ``net``, checked; see ``export``."""
    onnx = _onnx()
    opset = _check_opset(onnx, opset)
    batch_dim = _check_batch(batch)
    layers = _net_layers(net)
    sample = _input_shape(net, layers, input_shape)
    converters = _known_layers()
    g = _Graph(onnx)
    x, shape = INPUT_NAME, sample
    for name, layer in layers:
        convert = converters.get(type(layer))
        if convert is None:
            known = ", ".join(sorted(cls.__name__ for cls in converters))
            raise TypeError(f"layer {name!r} is a {type(layer).__module__}.{type(layer).__qualname__}, which "
                            f"ONNX export cannot translate; it translates fastnn's own {known} "
                            f"(not subclasses). Build the net from these layers to export it.")
        x, shape = convert(g, name, layer, x, shape)
    output = "probabilities" if softmax else "scores"
    if softmax:
        g.node("Softmax", [x], output, "Softmax", axis=1)
    else:
        g.node("Identity", [x], output, "scores")
    helper = onnx.helper
    f32 = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes, f"fastnn_{type(net).__name__}",
        [helper.make_tensor_value_info(INPUT_NAME, f32, [batch_dim, *sample])],
        [helper.make_tensor_value_info(output, f32, [batch_dim, *shape])],
        initializer=g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    ir_version = max(IR_VERSION, helper.find_min_ir_version_for(opsets))
    model = helper.make_model(graph, opset_imports=opsets, ir_version=ir_version, producer_name="fastnn",
                              producer_version=__version__,
                              doc_string=f"{type(net).__name__} exported by fastnn: "
                                         + ("softmax probabilities" if softmax else "the scores of predict"))
    onnx.checker.check_model(model, full_check=True)
    return model


def export(net, path, *, softmax=False, opset=DEFAULT_OPSET, batch=None, input_shape=None):
    """Write ``net`` as an ONNX model to ``path``; return the model (an ``onnx.ModelProto``).

    Parameters
    ----------
    net : a fastnn net (``fastnn.nets.Sequential`` or one of the book's nets)
        Its ``layers`` are exported in inference form (see the module doc).
    path : str or os.PathLike
        Where to write the ``.onnx`` file (replaced atomically).
    softmax : bool, default False
        False: the output ``scores`` is what ``net.predict(x)`` returns.
        True: the output ``probabilities`` is their softmax over the classes.
    opset : int, default 17
        The ONNX operator set (13 up to the installed onnx package's newest).
    batch : None or int
        None: any batch size (a symbolic first dimension ``N``); an int fixes it.
    input_shape : tuple of ints, optional
        The shape of one sample, e.g. ``(1, 28, 28)``. Default: the net's
        ``input_dim`` (the conv nets), else the first Affine's input size.

    Shape
    -----
    Input ``x``: (N, *input_shape) float32. Output: (N, classes) float32 for
    the book's nets (whatever the last layer gives for others).

    The model passes ``onnx.checker.check_model(model, full_check=True)``.
    Raises ``TypeError`` naming a layer that cannot be exported, and
    ``ValueError`` for shapes that do not fit.
    """
    onnx = _onnx()
    model = build_model(net, softmax=softmax, opset=opset, batch=batch, input_shape=input_shape)
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        onnx.save_model(model, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return model
