"""Reference augmentation (NumPy only), the twin of ``fastnn.kernels.augment``.

Each image is resampled through its own inverse affine map: output pixel
(i, j) reads the input at (sy, sx) = M (i − cy, j − cx) + t, bilinearly from
its four neighbours, with ``fill`` outside the image (the padding). The maps
are an input, so the twin is deterministic.
"""
import numpy as np

__all__ = ["augment_affine"]


def augment_affine(x, maps, fill=0.0):
    """Return x (N, C, H, W) resampled through maps (N, 6): m0..m3 the 2x2 matrix, m4, m5 the offset."""
    n, c, h, w = x.shape
    i, j = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    m = maps[:, :, None, None]                                   # (N, 6, 1, 1)
    sy = m[:, 0] * i + m[:, 1] * j + m[:, 4]                     # (N, H, W) source rows
    sx = m[:, 2] * i + m[:, 3] * j + m[:, 5]
    y0, x0 = np.floor(sy), np.floor(sx)
    fy, fx = sy - y0, sx - x0
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=fill)
    out = np.zeros((n, c, h, w))
    batch = np.arange(n)[:, None, None]
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = y0.astype(np.int64) + dy, x0.astype(np.int64) + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            # outside the image read the padding (index 0 of the padded array holds fill)
            yp, xp = np.where(inside, yy + 1, 0), np.where(inside, xx + 1, 0)
            pixel = padded[batch, :, yp, xp]                     # (N, H, W, C)
            out += (wy * wx)[:, None] * np.moveaxis(pixel, -1, 1)
    return out.astype(x.dtype)
