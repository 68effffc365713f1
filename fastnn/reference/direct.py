"""Reference direct convolution on the channel-blocked layout (NumPy only): the twin of ``fastnn.kernels.direct``.

Layouts as in ``fastnn.kernels.direct``: a blocked input xb (N, CB, HP, WP,
CX) (channel c in block c // CX, lane c % CX, zero halo), a packed filter
bank wb (G, CB, FH, FW*CX, OB*L) whose entry [g, ib, kh, kw*CX + ci,
o*L + l] is the weight of filter (g*OB + o)*L + l for channel ib*CX + ci at
(kh, kw), and a blocked gradient db (N, FNB, DH, DW, L). Stride 1.

The maths is the book's convolution written on these layouts: the output
at (n, f, oh, ow) is the bias plus the sum over blocks, lanes and the
filter window of wb * xb[n, ib, oh + kh, ow + kw, ci]; the weight gradient
is the same sum with the output gradient in place of the filters.
"""
import numpy as np

__all__ = ["to_blocked", "stack_rows", "forward_rows", "weight_grad"]


def to_blocked(x, top, left, out):
    """out (N, CB, HP, WP, CX) = x (N, C, H, W) placed at rows top.., columns left.., zeros elsewhere."""
    n, c, h, w = x.shape
    cx = out.shape[4]
    padded = np.zeros((n, out.shape[1] * cx, out.shape[2], out.shape[3]), dtype=out.dtype)
    padded[:, :c, top:top + h, left:left + w] = x
    out[...] = padded.reshape(n, out.shape[1], cx, out.shape[2], out.shape[3]).transpose(0, 1, 3, 4, 2)


def stack_rows(x, top, left, fh, out):
    """out[n, 0, h, left + w, kh*C + c] = x zero-padded by ``top`` rows, at row h + kh; zeros elsewhere."""
    n, c, h, w = x.shape
    oh = out.shape[2]
    padded = np.zeros((n, c, oh + fh - 1, w), dtype=out.dtype)
    rows = min(h, oh + fh - 1 - top)
    padded[:, :, top:top + rows] = x[:, :, :rows]
    out[...] = 0
    for kh in range(fh):
        out[:, 0, :, left:left + w, kh * c:(kh + 1) * c] = padded[:, :, kh:kh + oh].transpose(0, 2, 3, 1)


def forward_rows(xb, wb, bias, out, fh):
    """out (N, FN, OH, OW) = bias + the convolution of the blocked input with the packed filters (all rows)."""
    n, cb, _, _, cx = xb.shape
    g, _, _, taps, obl = wb.shape
    fw = taps // cx
    fn, oh, ow = out.shape[1:]
    # filters back to (G*OB*L, CB*CX, FH, FW)
    filters = wb.reshape(g, cb, fh, fw, cx, obl).transpose(0, 5, 1, 4, 2, 3).reshape(g * obl, cb * cx, fh, fw)
    planes = xb.transpose(0, 1, 4, 2, 3).reshape(n, cb * cx, xb.shape[2], xb.shape[3])
    acc = np.zeros((n, g * obl, oh, ow), dtype=np.float64)
    for kh in range(fh):
        for kw in range(fw):
            window = planes[:, :, kh:kh + oh, kw:kw + ow]
            acc += np.einsum("nchw,fc->nfhw", window, filters[:, :, kh, kw])
    out[...] = (acc + bias[None, :, None, None])[:, :fn].astype(out.dtype)


def weight_grad(xb, db, top, left, oh, ow, dwb):
    """dwb (G, CB, FH, FW*CX, OB*L): sum over images and output pixels of gradient x blocked input."""
    n, cb, _, _, cx = xb.shape
    g, _, fh, taps, obl = dwb.shape
    fw = taps // cx
    grad = db[:, :, top:top + oh, left:left + ow, :]                  # (N, FNB, OH, OW, L)
    grad = grad.transpose(0, 1, 4, 2, 3).reshape(n, -1, oh, ow)[:, :g * obl]
    planes = xb.transpose(0, 1, 4, 2, 3).reshape(n, cb * cx, xb.shape[2], xb.shape[3])
    full = np.zeros((g * obl, cb * cx, fh, fw), dtype=np.float64)
    for kh in range(fh):
        for kw in range(fw):
            full[:, :, kh, kw] = np.einsum("nfhw,nchw->fc", grad, planes[:, :, kh:kh + oh, kw:kw + ow])
    packed = full.reshape(g, obl, cb, cx, fh, fw).transpose(0, 2, 4, 5, 3, 1)
    dwb[...] = packed.reshape(dwb.shape).astype(dwb.dtype)
