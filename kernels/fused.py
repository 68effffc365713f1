"""Kernels of the fused Convolution → ReLU (→ max pooling) stage.

A convolution's output, its ReLU and its max pooling are three passes over
the largest arrays of a conv net (SimpleConvNet at batch 100: 1.7 million
cells, 14 MB in float64). ``fastnn.layers.fused.ConvReluPool`` runs them on
a few images at a time while the convolution's output is still in cache:
these kernels are the ReLU and pooling parts, applied to a chunk of
convolution output planes, and their backward counterparts. They run on the
calling thread without the GIL (the stage spreads the batch over threads of
its own, like ``Convolution``).

Results are bit-identical to ``Relu`` then ``Pooling`` (max) run one after
the other: a window's output is max(0, window maximum); its gradient goes
to the window's first maximum in row-major order when that maximum is
positive and nowhere otherwise — exactly where ``Pooling.backward`` then
``Relu.backward`` would let it through. The ``argmax`` arrays hold the flat
index y*W + x of that cell in its plane, or -1 for "no gradient".

The caller guarantees the pooling geometry checks of ``fastnn.kernels.pool``
(``1 <= PH <= H + 2*pad``, ``pad < PH``, likewise the width, ``stride >=
1``).
"""
import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def relu_max_pool_2x2(conv, out, argmax):
    """ReLU then 2x2 max pooling, stride 2, no padding, of planes conv (P, H, W).

    out (P, H // 2, W // 2), conv's dtype; argmax (P, H // 2, W // 2) int32
    (see the module docstring). The winner's index is selected as a float of
    conv's dtype (integer selects under float masks kept LLVM from
    vectorising), so the caller guarantees H*W <= 2**24 (exact in float32).
    """
    n_planes, h, w = conv.shape
    _, oh_n, ow_n = out.shape
    zero = conv.dtype.type(0)
    one = conv.dtype.type(1)
    below = conv.dtype.type(w)
    no_cell = conv.dtype.type(-1)
    for p in range(n_planes):
        plane = conv[p]
        for i in range(oh_n):
            r0 = plane[2 * i]
            r1 = plane[2 * i + 1]
            orow = out[p, i]
            arow = argmax[p, i]
            base = conv.dtype.type(2 * i * w)
            for j in range(ow_n):
                a = r0[2 * j]
                b = r0[2 * j + 1]
                c = r1[2 * j]
                d = r1[2 * j + 1]
                top = b > a
                m_top = b if top else a
                off_top = one if top else zero
                bottom = d > c
                m_bottom = d if bottom else c
                off_bottom = below + one if bottom else below
                low = m_bottom > m_top
                m = m_bottom if low else m_top
                cell = base + conv.dtype.type(2 * j) + (off_bottom if low else off_top)
                alive = m > zero
                orow[j] = m if alive else zero
                arow[j] = np.int32(cell if alive else no_cell)


@njit(nogil=True, cache=True)
def relu_max_pool(conv, ph, pw, stride, pad, out, argmax):
    """ReLU then max pooling over PH x PW windows of planes conv (P, H, W), any stride and padding.

    out (P, OH, OW), conv's dtype; argmax (P, OH, OW) int32 (see the module
    docstring); padded cells never win.
    """
    n_planes, h, w = conv.shape
    _, oh_n, ow_n = out.shape
    zero = conv.dtype.type(0)
    for p in range(n_planes):
        plane = conv[p]
        for i in range(oh_n):
            y0 = i * stride - pad
            ya = max(y0, 0)
            yb = min(y0 + ph, h)
            for j in range(ow_n):
                x0 = j * stride - pad
                xa = max(x0, 0)
                xb = min(x0 + pw, w)
                best = plane[ya, xa]
                best_idx = ya * w + xa
                for y in range(ya, yb):
                    row = plane[y]
                    for xx in range(xa, xb):
                        v = row[xx]
                        if v > best:
                            best = v
                            best_idx = y * w + xx
                if best > zero:
                    out[p, i, j] = best
                    argmax[p, i, j] = best_idx
                else:
                    out[p, i, j] = zero
                    argmax[p, i, j] = -1


@njit(nogil=True, cache=True)
def relu_max_pool_backward(dout, argmax, dconv):
    """dconv[p] = sum over windows k with argmax[p, k] >= 0 of dout[p, k] at argmax[p, k].

    dout, argmax : (P, OH*OW); dconv : (P, H*W), fully overwritten.
    """
    n_planes, m = dout.shape
    hw = dconv.shape[1]
    zero = dconv.dtype.type(0)
    for p in range(n_planes):
        dst = dconv[p]
        for k in range(hw):
            dst[k] = zero
        src = dout[p]
        idx = argmax[p]
        for k in range(m):
            cell = idx[k]
            if cell >= 0:
                dst[cell] += src[k]


@njit(nogil=True, cache=True)
def relu(x, out):
    """out = max(x, 0), element-wise. x, out : (n,), one dtype."""
    zero = x.dtype.type(0)
    for i in range(x.size):
        v = x[i]
        out[i] = v if v > zero else zero


@njit(nogil=True, cache=True)
def relu_backward_from_output(dout, out, dx):
    """dx = dout where the ReLU's output is > 0 (its input was > 0), else 0. Shapes (n,)."""
    zero = dout.dtype.type(0)
    for i in range(dout.size):
        dx[i] = dout[i] if out[i] > zero else zero
