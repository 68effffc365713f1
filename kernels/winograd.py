"""Winograd F(2x2, 3x3) transforms for 3x3, stride-1 convolutions (NCHW).

The output is cut into 2x2 tiles, TH = ceil(OH / 2) by TW = ceil(OW / 2)
per image; tile (i, j) of image n is column p = (n*TH + i)*TW + j of the
transformed arrays, and reads the 4x4 input tile at rows 2i - pad ..
2i - pad + 3, columns 2j - pad .. 2j - pad + 3 (zero outside the image).
With U = G g G^T (per filter and channel), V = B^T d B (per channel and
tile), the 16 tile positions' products M[pos] = U[pos] (FN, C) @ V[pos]
(C, tiles) are GEMMs (done by the caller), and Y = A^T M A gives each
2x2 output tile. The matrices (Lavin and Gray, points 0, 1, -1):

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

Backward runs the adjoints: ``dout_transform`` (dM = A dY A^T), then the
caller's GEMMs dU[pos] = dM[pos] @ V[pos].T and dV[pos] = U[pos].T @ dM[pos],
``filter_grad_transform`` (dW = G^T dU G) and ``input_fold`` (B dV B^T added
back over the overlapping input tiles). ``fastnn.reference.winograd`` is the
NumPy twin (and holds F(4x4, 3x3) as well).

Layouts: U (16, FN, C); V and dV (16, C, P); M and dM (16, FN, P), P the
tiles of the images in the call; position pos = 4*a + b of the 4x4 tile.
All kernels run on the calling thread without the GIL (the Convolution
layer spreads chunks of images over its own threads), float32 or float64,
and trust their input: the caller guarantees the shapes, pad <= 2, and
OH, OW >= 1.
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def filter_transform(w, u):
    """u[4a+b, k, c] = (G w[k, c] G^T)[a, b] for w (FN, C, 3, 3); u (16, FN, C)."""
    fn, ch = w.shape[0], w.shape[1]
    half = w.dtype.type(0.5)
    t = np.empty((4, 3), dtype=w.dtype)
    for k in range(fn):
        for c in range(ch):
            g = w[k, c]
            for j in range(3):               # t = G g
                t[0, j] = g[0, j]
                t[1, j] = half * (g[0, j] + g[1, j] + g[2, j])
                t[2, j] = half * (g[0, j] - g[1, j] + g[2, j])
                t[3, j] = g[2, j]
            for a in range(4):               # u = t G^T
                u[4 * a + 0, k, c] = t[a, 0]
                u[4 * a + 1, k, c] = half * (t[a, 0] + t[a, 1] + t[a, 2])
                u[4 * a + 2, k, c] = half * (t[a, 0] - t[a, 1] + t[a, 2])
                u[4 * a + 3, k, c] = t[a, 2]


@njit(cache=True, nogil=True)
def filter_grad_transform(du, dw):
    """dw[k, c] = G^T du[:, k, c] G (du as a 4x4 per (k, c)): the adjoint of ``filter_transform``."""
    fn, ch = dw.shape[0], dw.shape[1]
    half = dw.dtype.type(0.5)
    t = np.empty((4, 3), dtype=dw.dtype)
    for k in range(fn):
        for c in range(ch):
            for a in range(4):               # t = du G
                d0, d1, d2, d3 = du[4 * a, k, c], du[4 * a + 1, k, c], du[4 * a + 2, k, c], du[4 * a + 3, k, c]
                t[a, 0] = d0 + half * (d1 + d2)
                t[a, 1] = half * (d1 - d2)
                t[a, 2] = half * (d1 + d2) + d3
            for j in range(3):               # dw = G^T t
                dw[k, c, 0, j] = t[0, j] + half * (t[1, j] + t[2, j])
                dw[k, c, 1, j] = half * (t[1, j] - t[2, j])
                dw[k, c, 2, j] = half * (t[1, j] + t[2, j]) + t[3, j]


@njit(cache=True, nogil=True)
def input_transform(x, pad, th, tw, v):
    """v[:, c, p] = B^T d B for every 4x4 input tile d of x (N, C, H, W); v (16, C, N*TH*TW).

    Each image plane is first copied into a zero-padded plane (2*TH + 2, 2*TW + 2),
    so the tiles read it without bounds tests.
    """
    n_img, ch, h, w = x.shape
    hp, wp = 2 * th + 2, 2 * tw + 2
    plane = np.zeros((hp, wp), dtype=x.dtype)
    rows, cols = min(h, hp - pad), min(w, wp - pad)
    d = np.empty((4, 4), dtype=x.dtype)
    for n in range(n_img):
        for c in range(ch):
            for r in range(rows):
                for q in range(cols):
                    plane[pad + r, pad + q] = x[n, c, r, q]
            for i in range(th):
                p0 = (n * th + i) * tw
                for j in range(tw):
                    r0, c0 = 2 * i, 2 * j
                    for a in range(4):       # d = B^T tile, row by row
                        d[0, a] = plane[r0, c0 + a] - plane[r0 + 2, c0 + a]
                        d[1, a] = plane[r0 + 1, c0 + a] + plane[r0 + 2, c0 + a]
                        d[2, a] = plane[r0 + 2, c0 + a] - plane[r0 + 1, c0 + a]
                        d[3, a] = plane[r0 + 1, c0 + a] - plane[r0 + 3, c0 + a]
                    p = p0 + j
                    for a in range(4):       # then d B
                        v[4 * a + 0, c, p] = d[a, 0] - d[a, 2]
                        v[4 * a + 1, c, p] = d[a, 1] + d[a, 2]
                        v[4 * a + 2, c, p] = d[a, 2] - d[a, 1]
                        v[4 * a + 3, c, p] = d[a, 1] - d[a, 3]


@njit(cache=True, nogil=True)
def output_transform(m, b, th, tw, out):
    """out[n, k] = A^T m A per tile (cropped to OH x OW) + b[k]; m (16, FN, N*TH*TW), out (N, FN, OH, OW)."""
    n_img, fn, oh, ow = out.shape
    s = np.empty((2, 4), dtype=out.dtype)
    for n in range(n_img):
        for k in range(fn):
            bias = b[k]
            for i in range(th):
                p0 = (n * th + i) * tw
                r = 2 * i
                for j in range(tw):
                    p = p0 + j
                    for q in range(4):       # s = A^T m
                        m0, m1, m2, m3 = m[q, k, p], m[4 + q, k, p], m[8 + q, k, p], m[12 + q, k, p]
                        s[0, q] = m0 + m1 + m2
                        s[1, q] = m1 - m2 - m3
                    c = 2 * j
                    for a in range(2):       # y = s A
                        if r + a < oh:
                            out[n, k, r + a, c] = s[a, 0] + s[a, 1] + s[a, 2] + bias
                            if c + 1 < ow:
                                out[n, k, r + a, c + 1] = s[a, 1] - s[a, 2] - s[a, 3] + bias


@njit(cache=True, nogil=True)
def dout_transform(dout, th, tw, dm, db):
    """dm[:, k, p] = A dY A^T per 2x2 tile dY of dout (N, FN, OH, OW) (zero beyond OH x OW): the adjoint of
    ``output_transform``; dm (16, FN, N*TH*TW). Also db[n, k] = sum of dout[n, k] (db (N, FN))."""
    n_img, fn, oh, ow = dout.shape
    zero = dout.dtype.type(0)
    e = np.empty((4, 2), dtype=dout.dtype)
    for n in range(n_img):
        for k in range(fn):
            total = zero
            for i in range(th):
                p0 = (n * th + i) * tw
                r = 2 * i
                for j in range(tw):
                    c = 2 * j
                    y00 = dout[n, k, r, c]
                    y01 = dout[n, k, r, c + 1] if c + 1 < ow else zero
                    y10 = zero
                    y11 = zero
                    if r + 1 < oh:
                        y10 = dout[n, k, r + 1, c]
                        y11 = dout[n, k, r + 1, c + 1] if c + 1 < ow else zero
                    total += (y00 + y01) + (y10 + y11)
                    # e = A dY (rows of A: [1, 0], [1, 1], [1, -1], [0, -1])
                    e[0, 0], e[0, 1] = y00, y01
                    e[1, 0], e[1, 1] = y00 + y10, y01 + y11
                    e[2, 0], e[2, 1] = y00 - y10, y01 - y11
                    e[3, 0], e[3, 1] = -y10, -y11
                    p = p0 + j
                    for a in range(4):       # dm = e A^T
                        dm[4 * a + 0, k, p] = e[a, 0]
                        dm[4 * a + 1, k, p] = e[a, 0] + e[a, 1]
                        dm[4 * a + 2, k, p] = e[a, 0] - e[a, 1]
                        dm[4 * a + 3, k, p] = -e[a, 1]
            db[n, k] = total


@njit(cache=True, nogil=True)
def input_fold(dv, pad, th, tw, dx):
    """dx[n, c] = the sum over tiles of B dv[:, c, p] B^T, added at each tile's place (the padding
    dropped): the adjoint of ``input_transform``. dv (16, C, N*TH*TW); dx (N, C, H, W), overwritten."""
    n_img, ch, h, w = dx.shape
    hp, wp = 2 * th + 2, 2 * tw + 2
    plane = np.empty((hp, wp), dtype=dx.dtype)
    rows, cols = min(h, hp - pad), min(w, wp - pad)
    zero = dx.dtype.type(0)
    t = np.empty((4, 4), dtype=dx.dtype)
    for n in range(n_img):
        for c in range(ch):
            plane[:, :] = zero
            for i in range(th):
                p0 = (n * th + i) * tw
                r0 = 2 * i
                for j in range(tw):
                    p = p0 + j
                    # t = dv B^T (B's rows: [1, 0, 0, 0], [0, 1, -1, 1], [-1, 1, 1, 0], [0, 0, 0, -1])
                    for a in range(4):
                        v0, v1, v2, v3 = dv[4 * a, c, p], dv[4 * a + 1, c, p], dv[4 * a + 2, c, p], dv[4 * a + 3, c, p]
                        t[a, 0] = v0
                        t[a, 1] = v1 - v2 + v3
                        t[a, 2] = v1 + v2 - v0
                        t[a, 3] = -v3
                    c0 = 2 * j
                    for q in range(4):       # plane += B t
                        plane[r0, c0 + q] += t[0, q]
                        plane[r0 + 1, c0 + q] += t[1, q] - t[2, q] + t[3, q]
                        plane[r0 + 2, c0 + q] += t[1, q] + t[2, q] - t[0, q]
                        plane[r0 + 3, c0 + q] -= t[3, q]
            for r in range(rows):
                for q in range(cols):
                    dx[n, c, r, q] = plane[pad + r, pad + q]
            for r in range(rows, h):         # rows/columns no tile reaches (none for pad <= 2)
                for q in range(w):
                    dx[n, c, r, q] = zero
            for r in range(rows):
                for q in range(cols, w):
                    dx[n, c, r, q] = zero
