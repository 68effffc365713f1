"""Export a fastnn net to ONNX, for onnxruntime and the other runtimes that read it.

    from fastnn.onnx import export
    export(net, "net.onnx")                 # the scores net.predict(x) returns
    export(net, "net.onnx", softmax=True)   # class probabilities instead

Needs the ``onnx`` package (``pip install 'fastnn[onnx]'``); the graph is
built with ``onnx.helper`` alone. ``import fastnn`` never imports this module.

What is exported: the layers of ``net.layers`` in order (a fused
Convolution → Relu → Pooling stage as its three layers), in inference form,
as ``predict(x)`` (``train_flg=False``) runs them:

==========================  ====================================================
fastnn layer                ONNX nodes
==========================  ====================================================
Affine                      Flatten(axis=1) (for input of rank > 2), Gemm
Relu, Sigmoid               Relu, Sigmoid
Convolution                 Conv (kernel_shape, pads, strides)
Pooling 'max'               MaxPool (ceil_mode=0; padded cells never win, as in
                            fastnn)
Pooling 'avg', AvgPooling   AveragePool (ceil_mode=0, count_include_pad=1:
                            padded cells count as 0, the sum is divided by
                            pool_h * pool_w, as in fastnn)
BatchNormalization          BatchNormalization with the running statistics: on
                            (N, D), per channel on (N, C, H, W), and the book's
                            per-activation form as Flatten, BatchNormalization
                            over the C*H*W features, Reshape
Dropout                     Mul by (1 - dropout_ratio): the book's Dropout is not
                            inverted, it scales at inference (ONNX's own Dropout
                            is the identity there)
==========================  ====================================================

Any other layer class (a subclass included: it may compute something else)
is refused with a ``TypeError`` naming the layer.

The graph computes in float32 whatever the net's dtype: onnxruntime's CPU
provider has no float64 Conv or AveragePool. A float64 net's parameters
are rounded to float32, so its exported scores agree with ``predict`` to
float32 precision. The opset (17 by default) and IR version 8 are ones
that current and slightly older runtimes load.
"""
__all__ = ["export", "build_model", "DEFAULT_OPSET", "IR_VERSION", "INPUT_NAME"]

from .versions import DEFAULT_OPSET, INPUT_NAME, IR_VERSION, MIN_OPSET  # noqa: F401 (MIN_OPSET: public, as before)


def __getattr__(name):
    # the builder imports NumPy (and onnx when called): loaded on first use, so that
    # ``fastnn --help`` (which registers ``fastnn export``) stays light
    if name in ("export", "build_model"):
        from . import _export
        return getattr(_export, name)
    raise AttributeError(f"module 'fastnn.onnx' has no attribute {name!r}")
