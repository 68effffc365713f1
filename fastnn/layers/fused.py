"""Convolution → Relu (→ max Pooling) of a net run as one stage, a few images at a time.

In a conv net the convolution's output is the largest array of the step,
and running the book's layers one after the other passes over it five times
(convolution writes it, ReLU reads it and writes its output, pooling reads
that; backward the same in reverse). ``ConvReluPool`` instead applies ReLU
and pooling to each chunk of images' convolution output right after its
GEMM, while it is in cache, and in backward builds each chunk's convolution
gradient right before the GEMMs that use it: the full-size arrays are never
written. It does so through the Convolution's public fusion hook (an
epilogue for ``forward``, a prologue for ``backward``); the kernels are
``fastnn.kernels.pool``'s ReLU + max pooling and ``max_pool_backward`` and
``fastnn.kernels.activation``'s ReLU. ``bench_nets`` times conv-net steps
with ``fuse`` on and off.

The results are bit-identical to running the layers in turn
(``tests/test_fused.py`` checks outputs and gradients for equality).

Which layers fuse is decided once, by ``fuse_stages``, when a net plans its
layers (``fastnn.nets.Sequential``, again whenever ``net.layers`` changes):
a Convolution followed by a Relu, and a max-mode Pooling after them if there
is one. A fused stage then never falls back: a bad input raises the error
the Convolution (or the Pooling's window check) raises for it.

The stage holds the very layer objects of the net, and leaves each of them
ready for its own ``backward``: the Convolution keeps its input as usual,
the Pooling its ``argmax`` (recorded with ``Pooling.forward_ran_elsewhere``),
and the Relu its mask (recorded with ``Relu.forward_ran_elsewhere``: made
in the pass without a pooling; with one, computed from the convolution's
input the first time it is needed). So the book's hand-written backward
loop over ``net.layers`` works on a fused net as on an unfused one.
"""
from __future__ import annotations

import math
import threading

import numpy as np

from .._validate import as_float_array
from ..kernels import activation as activation_kernels
from ..kernels import pool as pool_kernels
from .activation import Relu
from .conv import Convolution
from .pool import Pooling, max_pool_planes

__all__ = ["ConvReluPool", "fuse_stages", "fusible"]

_scratch = threading.local()


def _dconv_scratch(shape, dtype):
    """This thread's work array for one chunk's convolution gradient (read by the GEMMs before the next chunk)."""
    size = math.prod(shape)
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    buf = buffers.get(dtype)
    if buf is None or buf.size < size:
        buf = buffers[dtype] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


class _ReluEpilogue:
    """Forward epilogue: ReLU of each chunk into the stage's output, with the book's mask."""

    def start(self, out_shape, dtype):
        self.out = np.empty(out_shape, dtype=dtype)
        self.mask = np.empty(out_shape, dtype=np.bool_)
        return self.out

    def __call__(self, lo, hi, chunk):
        activation_kernels.relu_forward(chunk.reshape(-1), self.out[lo:hi].reshape(-1),
                                        self.mask[lo:hi].reshape(-1))


class _ReluPoolEpilogue:
    """Forward epilogue: ReLU and max pooling of each chunk into the stage's output and argmax."""

    def __init__(self, pool: Pooling):
        self.pool = pool

    def start(self, out_shape, dtype):
        n, fn, oh, ow = out_shape
        # the Pooling's own checks of its window on this input: they raise what the Pooling would
        self.window = ph, pw, stride, pad, poh, pow_ = self.pool.window(out_shape)
        self.conv_shape = out_shape
        self.out = np.empty((n, fn, poh, pow_), dtype=dtype)
        self.argmax = np.empty((n, fn, poh, pow_), dtype=np.int32)
        return self.out

    def __call__(self, lo, hi, chunk):
        ph, pw, stride, pad, poh, pow_ = self.window
        _, _, oh, ow = self.conv_shape
        max_pool_planes(chunk.reshape(-1, oh, ow), ph, pw, stride, pad, True,
                        self.out[lo:hi].reshape(-1, poh, pow_), self.argmax[lo:hi].reshape(-1, poh, pow_), 0)


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
        if not fusible(conv, relu, pool):
            raise TypeError(f"ConvReluPool fuses a Convolution, a Relu and optionally a max Pooling, "
                            f"got {conv!r}, {relu!r}, {pool!r}")
        self.conv, self.relu, self.pool = conv, relu, pool
        self._saved = None      # (output shape, dtype, mask or argmax): what backward reads, fastnn's own

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

    def forward(self, x):
        conv, relu, pool = self.conv, self.relu, self.pool
        self._saved = None
        if pool is None:
            epilogue = _ReluEpilogue()
            out = conv.forward(x, epilogue)
            mask = epilogue.mask
            mask.flags.writeable = False      # backward indexes through it
            self._saved = (out.shape, out.dtype, out.shape, mask)
            relu.forward_ran_elsewhere(out.shape, out.dtype, mask=mask.view())   # a view: cannot be made writeable
            return out
        epilogue = _ReluPoolEpilogue(pool)
        out = conv.forward(x, epilogue)
        argmax = epilogue.argmax
        argmax.flags.writeable = False        # backward scatters through it
        self._saved = (out.shape, out.dtype, epilogue.conv_shape, argmax)
        conv_input = conv.x
        relu.forward_ran_elsewhere(epilogue.conv_shape, out.dtype, source=lambda: conv.forward(conv_input))
        pool.forward_ran_elsewhere(epilogue.conv_shape, out.dtype, argmax.view())  # likewise
        return out

    def backward(self, dout):
        if self._saved is None:
            raise RuntimeError("ConvReluPool.backward called before forward")
        out_shape, dtype, conv_shape, state = self._saved
        dout = as_float_array(dout, "dout", dtype=dtype, allow_empty=True)
        if dout.shape != out_shape:
            raise ValueError(f"dout must have the shape of the forward output {out_shape}, got {dout.shape}")
        _, fn, oh, ow = conv_shape
        if self.pool is None:
            def prologue(lo, hi):
                dconv = _dconv_scratch((hi - lo, fn, oh * ow), dtype)
                activation_kernels.relu_backward(dout[lo:hi].reshape(-1), state[lo:hi].reshape(-1),
                                                 dconv.reshape(-1))
                return dconv
        else:
            cells = out_shape[2] * out_shape[3]

            def prologue(lo, hi):
                dconv = _dconv_scratch((hi - lo, fn, oh * ow), dtype)
                pool_kernels.max_pool_backward(dout[lo:hi].reshape(-1, cells), state[lo:hi].reshape(-1, cells),
                                               dconv.reshape(-1, oh * ow))
                return dconv

        return self.conv.backward(prologue=prologue)

    def __repr__(self) -> str:
        return f"ConvReluPool({', '.join(map(repr, self.layers))})"


def fusible(conv, relu, pool=None) -> bool:
    """Whether ``conv``, ``relu`` (and ``pool``) can run as one ``ConvReluPool``.

    Only these very classes fuse (not subclasses, which may do something
    else), and a Pooling only in max mode.
    """
    return type(conv) is Convolution and type(relu) is Relu and (
        pool is None or (type(pool) is Pooling and pool.mode == "max"))


def fuse_stages(layers) -> list:
    """``layers`` in order, each run of Convolution, Relu[, max Pooling] replaced by a ``ConvReluPool``."""
    layers = list(layers)
    stages = []
    i = 0
    while i < len(layers):
        if i + 1 < len(layers) and fusible(layers[i], layers[i + 1]):
            pool = layers[i + 2] if i + 2 < len(layers) and fusible(*layers[i:i + 3]) else None
            stages.append(ConvReluPool(layers[i], layers[i + 1], pool))
            i += 3 if pool is not None else 2
        else:
            stages.append(layers[i])
            i += 1
    return stages
