"""Reference Winograd convolution (NumPy only): 3x3 filters, stride 1, by minimal filtering F(m x m, 3 x 3).

The output is cut into m x m tiles; tile (i, j) depends on the
(m + 2) x (m + 2) input tile starting at row i*m, column j*m of the padded
input. With the transform matrices BT, G and AT of F(m, 3),

    Y = AT [ (G g GT) * (BT d B) ] A        (* element-wise)

is the tile's cross-correlation of d with the 3x3 filter g, summed over
channels inside the brackets: with U = G g GT per (filter, channel) and
V = BT d B per (channel, tile), each of the (m + 2)**2 tile positions is a
matrix product M[pos] = U[pos] (FN, C) @ V[pos] (C, tiles). F(2x2, 3x3)
needs 16 multiplies per 2x2 output tile instead of 36; F(4x4, 3x3) 36 per
4x4 tile instead of 144, at the price of larger rounding errors (its
matrices hold 1/6, 1/24, 4, 8...).

Backward is the adjoint of the same computation: dM = A dY AT per tile,
dU = sum over tiles dM[pos] @ V[pos].T, dW = GT dU G; dV = U[pos].T @ dM[pos],
dd = B dV BT added back over the (overlapping) input tiles.

Shapes as ``fastnn.reference.conv``: x (N, C, H, W), W (FN, C, 3, 3), b (FN,),
output (N, FN, OH, OW), OH = H + 2*pad - 2, OW = W + 2*pad - 2.
"""
import numpy as np

__all__ = ["winograd_matrices", "winograd_forward", "winograd_backward"]


def winograd_matrices(m=2):
    """(AT, G, BT) of F(m x m, 3 x 3) for m = 2 or 4, float64.

    AT (m, m+2), G (m+2, 3), BT (m+2, m+2) (Lavin and Gray's choice of points:
    0, 1, -1 for m = 2; 0, 1, -1, 2, -2 for m = 4; and infinity).
    """
    if m == 2:
        AT = [[1, 1, 1, 0],
              [0, 1, -1, -1]]
        G = [[1, 0, 0],
             [0.5, 0.5, 0.5],
             [0.5, -0.5, 0.5],
             [0, 0, 1]]
        BT = [[1, 0, -1, 0],
              [0, 1, 1, 0],
              [0, -1, 1, 0],
              [0, 1, 0, -1]]
    elif m == 4:
        AT = [[1, 1, 1, 1, 1, 0],
              [0, 1, -1, 2, -2, 0],
              [0, 1, 1, 4, 4, 0],
              [0, 1, -1, 8, -8, 1]]
        G = [[1 / 4, 0, 0],
             [-1 / 6, -1 / 6, -1 / 6],
             [-1 / 6, 1 / 6, -1 / 6],
             [1 / 24, 1 / 12, 1 / 6],
             [1 / 24, -1 / 12, 1 / 6],
             [0, 0, 1]]
        BT = [[4, 0, -5, 0, 1, 0],
              [0, -4, -4, 1, 1, 0],
              [0, 4, -4, -1, 1, 0],
              [0, -2, -1, 2, 1, 0],
              [0, 2, -1, -2, 1, 0],
              [0, 4, 0, -5, 0, 1]]
    else:
        raise ValueError(f"m must be 2 or 4, got {m!r}")
    return np.array(AT, dtype=float), np.array(G, dtype=float), np.array(BT, dtype=float)


def _geometry(x_shape, pad, m):
    _, _, h, w = x_shape
    oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
    th, tw = -(-oh // m), -(-ow // m)          # tiles per column and row (ceil)
    return oh, ow, th, tw


def _input_tiles(x, pad, m, th, tw):
    """(N, C, th, tw, m+2, m+2): the overlapping input tiles of x padded (zeros beyond the image too)."""
    n, c, h, w = x.shape
    a = m + 2
    xp = np.zeros((n, c, th * m + 2, tw * m + 2), dtype=x.dtype)
    rows, cols = min(h, th * m + 2 - pad), min(w, tw * m + 2 - pad)
    xp[:, :, pad:pad + rows, pad:pad + cols] = x[:, :, :rows, :cols]
    windows = np.lib.stride_tricks.sliding_window_view(xp, (a, a), axis=(2, 3))
    return windows[:, :, ::m, ::m]


def winograd_forward(x, W, b, pad=1, m=2):
    """out (N, FN, OH, OW) = conv(x, W) + b by F(m x m, 3 x 3), in x's dtype."""
    AT, G, BT = (t.astype(x.dtype) for t in winograd_matrices(m))
    n = x.shape[0]
    fn = W.shape[0]
    oh, ow, th, tw = _geometry(x.shape, pad, m)
    U = G @ W @ G.T                                           # (FN, C, a, a)
    V = BT @ _input_tiles(x, pad, m, th, tw) @ BT.T           # (N, C, th, tw, a, a)
    M = np.einsum("kcab,ncijab->nkijab", U, V)                # the (a*a) products over channels
    Y = AT @ M @ AT.T                                         # (N, FN, th, tw, m, m)
    out = Y.transpose(0, 1, 2, 4, 3, 5).reshape(n, fn, th * m, tw * m)[:, :, :oh, :ow]
    return out + b.reshape(1, fn, 1, 1)


def winograd_backward(dout, x, W, pad=1, m=2):
    """(dx, dW, db) of out = conv(x, W) + b (as ``winograd_forward``) for the gradient dout (N, FN, OH, OW)."""
    AT, G, BT = (t.astype(x.dtype) for t in winograd_matrices(m))
    n, c, h, w = x.shape
    fn = W.shape[0]
    a = m + 2
    oh, ow, th, tw = _geometry(x.shape, pad, m)
    dy = np.zeros((n, fn, th * m, tw * m), dtype=dout.dtype)
    dy[:, :, :oh, :ow] = dout
    dY = dy.reshape(n, fn, th, m, tw, m).transpose(0, 1, 2, 4, 3, 5)   # (N, FN, th, tw, m, m)
    dM = AT.T @ dY @ AT                                                # (N, FN, th, tw, a, a)
    V = BT @ _input_tiles(x, pad, m, th, tw) @ BT.T
    dU = np.einsum("nkijab,ncijab->kcab", dM, V)
    dW = G.T @ dU @ G
    U = G @ W @ G.T
    dV = np.einsum("kcab,nkijab->ncijab", U, dM)
    dd = BT.T @ dV @ BT                                                # (N, C, th, tw, a, a)
    dxp = np.zeros((n, c, th * m + 2, tw * m + 2), dtype=x.dtype)
    for i in range(th):
        for j in range(tw):
            dxp[:, :, i * m:i * m + a, j * m:j * m + a] += dd[:, :, i, j]
    dx = np.zeros_like(x)
    rows, cols = min(h, th * m + 2 - pad), min(w, tw * m + 2 - pad)
    dx[:, :, :rows, :cols] = dxp[:, :, pad:pad + rows, pad:pad + cols]
    return dx, dW, dout.sum(axis=(0, 2, 3))
