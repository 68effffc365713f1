"""Data augmentation: each image of a batch resampled through its own affine map (shift, rotation, crop).

``augment_affine(x, maps, fill, out)``: ``x`` and ``out`` are C-contiguous
(N, C, H, W) arrays of one float dtype; ``maps`` is a float64 (N, 6) array
of inverse maps — output pixel (i, j) reads the input at
``sy = m0 (i − cy) + m1 (j − cx) + m4``, ``sx = m2 (i − cy) + m3 (j − cx) + m5``
with ``cy = (H − 1)/2``, ``cx = (W − 1)/2``, bilinearly from the four
nearest pixels; a neighbour outside the image counts as ``fill`` (the
padding). Coordinates and weights are float64, each output rounded once to
the dtype. An integer shift without rotation or crop copies pixels exactly.

The images are independent, so the parallel build (``fastnn.kernels._twins``)
gives the same bits as the serial one.
"""
import math

from numba import prange

from ._twins import serial_and_parallel


def augment_affine(x, maps, fill, out):
    """out[n, c] = x[n, c] resampled through maps[n] (see the module doc)."""
    n_img, n_ch, h, w = x.shape
    cy = (h - 1) * 0.5
    cx = (w - 1) * 0.5
    for n in prange(n_img):
        m0, m1, m2, m3, ty, tx = maps[n, 0], maps[n, 1], maps[n, 2], maps[n, 3], maps[n, 4], maps[n, 5]
        for i in range(h):
            u = i - cy
            for j in range(w):
                v = j - cx
                sy = m0 * u + m1 * v + ty
                sx = m2 * u + m3 * v + tx
                y0f = math.floor(sy)
                x0f = math.floor(sx)
                fy = sy - y0f
                fx = sx - x0f
                y0 = int(y0f)
                x0 = int(x0f)
                for c in range(n_ch):
                    acc = 0.0
                    for dy in range(2):
                        yy = y0 + dy
                        wy = fy if dy == 1 else 1.0 - fy
                        if wy == 0.0:
                            continue
                        for dx in range(2):
                            xx = x0 + dx
                            wx = fx if dx == 1 else 1.0 - fx
                            if wx == 0.0:
                                continue
                            if 0 <= yy < h and 0 <= xx < w:
                                acc += wy * wx * x[n, c, yy, xx]
                            else:
                                acc += wy * wx * fill
                    out[n, c, i, j] = acc


augment_affine, augment_affine_parallel = serial_and_parallel(augment_affine)
