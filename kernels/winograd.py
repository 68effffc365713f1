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

from ._jit import njit


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
    so the tiles read it without bounds tests; a row of tiles is transformed
    at once, the inner loops running along the row (contiguous stores).
    """
    n_img, ch, h, w = x.shape
    hp, wp = 2 * th + 2, 2 * tw + 2
    plane = np.zeros((hp, wp), dtype=x.dtype)
    rows, cols = min(h, hp - pad), min(w, wp - pad)
    t = np.empty((4, wp), dtype=x.dtype)             # t[a] = row a of B^T (4 rows of the plane)
    for n in range(n_img):
        for c in range(ch):
            for r in range(rows):
                for q in range(cols):
                    plane[pad + r, pad + q] = x[n, c, r, q]
            for i in range(th):
                r0 = 2 * i
                for col in range(wp):                # B^T d for the whole row of tiles
                    x0 = plane[r0, col]
                    x1 = plane[r0 + 1, col]
                    x2 = plane[r0 + 2, col]
                    x3 = plane[r0 + 3, col]
                    t[0, col] = x0 - x2
                    t[1, col] = x1 + x2
                    t[2, col] = x2 - x1
                    t[3, col] = x1 - x3
                p0 = (n * th + i) * tw
                for a in range(4):                   # then (B^T d) B, tile by tile
                    for j in range(tw):
                        t0 = t[a, 2 * j]
                        t1 = t[a, 2 * j + 1]
                        t2 = t[a, 2 * j + 2]
                        t3 = t[a, 2 * j + 3]
                        v[4 * a + 0, c, p0 + j] = t0 - t2
                        v[4 * a + 1, c, p0 + j] = t1 + t2
                        v[4 * a + 2, c, p0 + j] = t2 - t1
                        v[4 * a + 3, c, p0 + j] = t1 - t3


@njit(cache=True, nogil=True)
def output_transform(m, b, th, tw, out):
    """out[n, k] = A^T m A per tile (cropped to OH x OW) + b[k]; m (16, FN, N*TH*TW), out (N, FN, OH, OW)."""
    n_img, fn, oh, ow = out.shape
    s = np.empty((2, 4, tw), dtype=out.dtype)        # s[a, q, j] = (A^T m_j)[a, q]
    full = ow // 2                                   # tiles whose two columns both lie in the output
    for n in range(n_img):
        for k in range(fn):
            bias = b[k]
            for i in range(th):
                p0 = (n * th + i) * tw
                r = 2 * i
                for q in range(4):
                    for j in range(tw):
                        m0 = m[q, k, p0 + j]
                        m1 = m[4 + q, k, p0 + j]
                        m2 = m[8 + q, k, p0 + j]
                        m3 = m[12 + q, k, p0 + j]
                        s[0, q, j] = m0 + m1 + m2
                        s[1, q, j] = m1 - m2 - m3
                for a in range(2):                   # then (A^T m) A
                    if r + a < oh:
                        row = out[n, k, r + a]
                        for j in range(full):
                            row[2 * j] = s[a, 0, j] + s[a, 1, j] + s[a, 2, j] + bias
                            row[2 * j + 1] = s[a, 1, j] - s[a, 2, j] - s[a, 3, j] + bias
                        if full < tw:
                            row[2 * full] = s[a, 0, full] + s[a, 1, full] + s[a, 2, full] + bias


@njit(cache=True, nogil=True)
def dout_transform(dout, th, tw, dm, db):
    """dm[:, k, p] = A dY A^T per 2x2 tile dY of dout (N, FN, OH, OW) (zero beyond OH x OW): the adjoint of
    ``output_transform``; dm (16, FN, N*TH*TW). Also db[n, k] = sum of dout[n, k] (db (N, FN))."""
    n_img, fn, oh, ow = dout.shape
    zero = dout.dtype.type(0)
    y = np.zeros((2, 2 * tw), dtype=dout.dtype)      # two rows of dout, zero-padded to 2*TW columns
    e = np.empty((4, 2, tw), dtype=dout.dtype)       # e[a, q, j] = (A dY_j)[a, q]
    for n in range(n_img):
        for k in range(fn):
            total = zero
            for i in range(th):
                r = 2 * i
                for a in range(2):
                    if r + a < oh:
                        for q in range(ow):
                            y[a, q] = dout[n, k, r + a, q]
                            total += y[a, q]
                    else:
                        y[a, :] = zero
                # rows of A: [1, 0], [1, 1], [1, -1], [0, -1]
                for q in range(2):
                    for j in range(tw):
                        y0 = y[0, 2 * j + q]
                        y1 = y[1, 2 * j + q]
                        e[0, q, j] = y0
                        e[1, q, j] = y0 + y1
                        e[2, q, j] = y0 - y1
                        e[3, q, j] = -y1
                p0 = (n * th + i) * tw
                for a in range(4):                   # then (A dY) A^T
                    for j in range(tw):
                        dm[4 * a + 0, k, p0 + j] = e[a, 0, j]
                        dm[4 * a + 1, k, p0 + j] = e[a, 0, j] + e[a, 1, j]
                        dm[4 * a + 2, k, p0 + j] = e[a, 0, j] - e[a, 1, j]
                        dm[4 * a + 3, k, p0 + j] = -e[a, 1, j]
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
    t = np.empty((4, wp), dtype=dx.dtype)            # t[a] = row a of dv B^T, the row of tiles summed
    for n in range(n_img):
        for c in range(ch):
            plane[:, :] = zero
            for i in range(th):
                p0 = (n * th + i) * tw
                r0 = 2 * i
                t[:, :] = zero
                # B's rows: [1, 0, 0, 0], [0, 1, -1, 1], [-1, 1, 1, 0], [0, 0, 0, -1]
                for a in range(4):                   # dv B^T, tile by tile, overlapping columns added
                    for j in range(tw):
                        v0 = dv[4 * a, c, p0 + j]
                        v1 = dv[4 * a + 1, c, p0 + j]
                        v2 = dv[4 * a + 2, c, p0 + j]
                        v3 = dv[4 * a + 3, c, p0 + j]
                        t[a, 2 * j] += v0
                        t[a, 2 * j + 1] += v1 - v2 + v3
                        t[a, 2 * j + 2] += v1 + v2 - v0
                        t[a, 2 * j + 3] -= v3
                for col in range(wp):                # then plane += B (dv B^T) for the whole row
                    t0, t1, t2, t3 = t[0, col], t[1, col], t[2, col], t[3, col]
                    plane[r0, col] += t0
                    plane[r0 + 1, col] += t1 - t2 + t3
                    plane[r0 + 2, col] += t1 + t2 - t0
                    plane[r0 + 3, col] -= t3
            for r in range(rows):
                for q in range(cols):
                    dx[n, c, r, q] = plane[pad + r, pad + q]
