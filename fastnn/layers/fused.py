"""Convolution → Relu (→ max Pooling) of a net run as one stage, a few images at a time.

In a conv net the convolution's output is the largest array of the step
(SimpleConvNet at batch 100: 1.7 million cells, 14 MB in float64), and
running the book's layers one after the other passes over it five times
(convolution writes it, ReLU reads it and writes its output, pooling reads
that; backward the same in reverse). ``ConvReluPool`` instead applies ReLU
and pooling to each chunk of images' convolution output right after its
GEMM, while it is in cache, and in backward builds each chunk's convolution
gradient right before the GEMMs that use it: the full-size arrays are never
written. The kernels: ``fastnn.kernels.pool``'s ReLU + max pooling
(``relu_max_pool``, ``max_pool_forward_2x2``) and ``max_pool_backward``, ``fastnn.kernels.activation``'s
ReLU. Measured on the 2-core machine, one SimpleConvNet training step at batch 100, fused against
unfused in one process: float32 14.6 → 12.7 ms, float64 25.7 → 19.1 ms.

The results are bit-identical to running the three layers in turn
(``tests/test_fused.py`` checks outputs and gradients for equality). The
stage holds the very layer objects of the net: the Convolution's ``x``,
``dW`` and ``db`` are set as usual; the Relu's ``mask`` and the Pooling's
``argmax`` are not (they would have to be written in full, the cost this
stage avoids), and those two layers refuse ``backward`` until they run a
``forward`` of their own. Nets run their layers fused unless ``net.fuse`` is
False (``fastnn.nets.Sequential``).

A stage runs the layers one by one, unfused, whenever fusing does not apply
to the call: a Pooling whose mode is no longer 'max', or any input or
parameter the layers would refuse (their own checks then raise the usual
errors).
"""
from __future__ import annotations

import numpy as np

from ..util import _window_geometry
from .activation import Relu
from .conv import Convolution, _scratch_array
from .pool import Pooling, max_pool_planes, max_pool_planes_infer

__all__ = ["ConvReluPool", "fuse_stages"]


class ConvReluPool:
    """Convolution, Relu and optionally a max Pooling, forward and backward in one pass.

    ``forward(x)``: x (N, C, H, W) → the Pooling's output (N, FN, POH, POW),
    or without a pooling the Relu's (N, FN, OH, OW); dtype of the
    convolution's W. ``backward(dout)`` (dout of the forward output's shape)
    returns dx (N, C, H, W), or None when ``input_grad`` (the Convolution's)
    is False, and sets the Convolution's ``dW`` and ``db``.
    """

    takes_train_flg = False

    def __init__(self, conv: Convolution, relu: Relu, pool: Pooling | None = None):
        self.conv, self.relu, self.pool = conv, relu, pool
        self._fused = None      # what the last forward ran: None (nothing yet), True or False
        self._saved = None      # fused forward's state for backward

    @property
    def input_grad(self) -> bool:
        """The Convolution's ``input_grad``: False makes ``backward`` skip dx."""
        return self.conv.input_grad

    @input_grad.setter
    def input_grad(self, value: bool) -> None:
        self.conv.input_grad = value

    @property
    def layers(self) -> tuple:
        """The layers the stage runs, in order: (conv, relu) or (conv, relu, pool)."""
        return (self.conv, self.relu) + ((self.pool,) if self.pool is not None else ())

    def _fusion_plan(self, x):
        """(x as the Convolution takes it, its output's (OH, OW), the pooling's (PH, PW, stride, pad,
        POH, POW) or None without one), or None where the call cannot run fused."""
        conv, pool = self.conv, self.pool
        try:
            conv._check_params()
            x = conv._check_input(x, ndim=4)
            _, _, fh, fw = conv.W.shape
            _, _, oh, ow = _window_geometry(x.shape, fh, fw, conv.stride, conv.pad)
            if pool is None:
                return x, (oh, ow), None
            if pool.mode != "max":
                return None
            return x, (oh, ow), pool._window_for((x.shape[0], conv.W.shape[0], oh, ow))
        except (TypeError, ValueError):
            return None   # the unfused layers raise the proper error

    def forward(self, x):
        plan = self._fusion_plan(x)
        self._saved = None
        if plan is None:
            self._fused = False
            for layer in self.layers:
                x = layer.forward(x)
            return x
        out = self._forward_fused(*plan)
        self._fused = True
        self.relu._forget()
        if self.pool is not None:
            self.pool._forget()
        return out

    def _forward_fused(self, x, conv_size, pooling):
        from ..kernels import activation as A

        conv = self.conv
        n, fn = x.shape[0], conv.W.shape[0]
        oh, ow = conv_size
        dtype = x.dtype
        if self.pool is None:
            out = np.empty((n, fn, oh, ow), dtype=dtype)
            mask = np.empty(out.shape, dtype=np.bool_)

            def epilogue(lo, hi, chunk):
                A.relu_forward(chunk.reshape(-1), out[lo:hi].reshape(-1), mask[lo:hi].reshape(-1))

            conv._forward(x, epilogue)
            self._saved = (out.shape, dtype, mask)
            return out
        ph, pw, stride, pad, poh, pow_ = pooling
        out = np.empty((n, fn, poh, pow_), dtype=dtype)
        argmax = np.empty((n, fn, poh, pow_), dtype=np.int32)

        def epilogue(lo, hi, chunk):
            max_pool_planes(chunk.reshape(-1, oh, ow), ph, pw, stride, pad, True,
                            out[lo:hi].reshape(-1, poh, pow_), argmax[lo:hi].reshape(-1, poh, pow_), 0)

        conv._forward(x, epilogue)
        self._saved = (out.shape, dtype, argmax)
        return out

    def infer(self, x):
        """The inference forward, fused: the forward-only ReLU (+ pooling) kernels over each chunk of the
        convolution's output; nothing is kept, and the layers' state from the last forward stays."""
        plan = self._fusion_plan(x)
        if plan is None:
            for layer in self.layers:
                x = layer.infer(x)
            return x
        from ..kernels import activation as A

        x, (oh, ow), pooling = plan
        conv = self.conv
        n, fn = x.shape[0], conv.W.shape[0]
        if pooling is None:
            out = np.empty((n, fn, oh, ow), dtype=x.dtype)

            def epilogue(lo, hi, chunk):
                A.relu_infer(chunk.reshape(-1), out[lo:hi].reshape(-1))
        else:
            ph, pw, stride, pad, poh, pow_ = pooling
            out = np.empty((n, fn, poh, pow_), dtype=x.dtype)

            def epilogue(lo, hi, chunk):
                max_pool_planes_infer(chunk.reshape(-1, oh, ow), ph, pw, stride, pad, True,
                                      out[lo:hi].reshape(-1, poh, pow_), 0)

        conv._forward(x, epilogue, keep=False)
        return out

    def backward(self, dout):
        if self._fused is None:
            raise RuntimeError("ConvReluPool.backward called before forward")
        if not self._fused:
            for layer in reversed(self.layers):
                dout = layer.backward(dout)
            return dout
        from ..kernels import activation as A
        from ..kernels import pool as P

        out_shape, dtype, state = self._saved
        dout = self.conv._check_dout(dout, out_shape, dtype)
        _, _, _, _, _, oh, ow = self.conv._geometry
        fn = out_shape[1]
        if self.pool is None:
            def prologue(lo, hi):
                dconv = _scratch_array("dconv", (hi - lo, fn, oh * ow), dtype)
                A.relu_backward(dout[lo:hi].reshape(-1), state[lo:hi].reshape(-1), dconv.reshape(-1))
                return dconv
        else:
            cells = out_shape[2] * out_shape[3]

            def prologue(lo, hi):
                dconv = _scratch_array("dconv", (hi - lo, fn, oh * ow), dtype)
                P.max_pool_backward(dout[lo:hi].reshape(-1, cells), state[lo:hi].reshape(-1, cells),
                                    dconv.reshape(-1, oh * ow))
                return dconv

        return self.conv._backward(None, prologue)

    def __repr__(self) -> str:
        return f"ConvReluPool({', '.join(map(repr, self.layers))})"


def fuse_stages(layers) -> list:
    """``layers`` in order, each run of Convolution, Relu[, Pooling] replaced by a ``ConvReluPool``.

    Only these very classes are fused (not subclasses, which may do
    something else; not AvgPooling).
    """
    layers = list(layers)
    stages = []
    i = 0
    while i < len(layers):
        if type(layers[i]) is Convolution and i + 1 < len(layers) and type(layers[i + 1]) is Relu:
            pool = layers[i + 2] if i + 2 < len(layers) and type(layers[i + 2]) is Pooling else None
            stages.append(ConvReluPool(layers[i], layers[i + 1], pool))
            i += 3 if pool is not None else 2
        else:
            stages.append(layers[i])
            i += 1
    return stages
