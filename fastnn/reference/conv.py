"""Reference convolution (NumPy only): the book's im2col, col2im and Convolution layer maths.

Shapes: x (N, C, H, W), filters W (FN, C, FH, FW), bias b (FN,), output
(N, FN, OH, OW) with OH = (H + 2*pad - FH) // stride + 1 (likewise OW) —
the book's im2col floors, so rows and columns no window reaches are dropped.
"""
import numpy as np

__all__ = ["im2col", "col2im", "conv_forward", "conv_backward"]


def _out_size(size, filter_size, stride, pad):
    return (size + 2 * pad - filter_size) // stride + 1


def im2col(x, filter_h, filter_w, stride=1, pad=0):
    """Patches of x as rows: (N*OH*OW, C*FH*FW), rows (n, oh, ow), columns (c, fh, fw)."""
    N, C, H, W = x.shape
    out_h = _out_size(H, filter_h, stride, pad)
    out_w = _out_size(W, filter_w, stride, pad)
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], mode="constant")
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w), dtype=x.dtype)
    # For each filter offset (y, x), the strided slice of the padded image is
    # that offset's entry of every patch at once.
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x_ in range(filter_w):
            x_max = x_ + stride * out_w
            col[:, :, y, x_, :, :] = img[:, :, y:y_max:stride, x_:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """Adjoint of im2col: add every patch row of col back into an image of input_shape."""
    N, C, H, W = input_shape
    out_h = _out_size(H, filter_h, stride, pad)
    out_w = _out_size(W, filter_w, stride, pad)
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=col.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x_ in range(filter_w):
            x_max = x_ + stride * out_w
            img[:, :, y:y_max:stride, x_:x_max:stride] += col[:, :, y, x_, :, :]
    return img[:, :, pad:H + pad, pad:W + pad]


def conv_forward(x, W, b, stride=1, pad=0):
    """Return (out, col, col_W): out = conv(x, W) + b as the book computes it, with its caches."""
    FN, C, FH, FW = W.shape
    N, _, H, W_in = x.shape
    out_h = _out_size(H, FH, stride, pad)
    out_w = _out_size(W_in, FW, stride, pad)
    col = im2col(x, FH, FW, stride, pad)      # (N*OH*OW, C*FH*FW)
    col_W = W.reshape(FN, -1).T               # (C*FH*FW, FN)
    out = np.dot(col, col_W) + b              # (N*OH*OW, FN)
    out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)
    return out, col, col_W


def conv_backward(dout, x, W, stride=1, pad=0):
    """Return (dx, dW, db) for out = conv(x, W) + b and upstream gradient dout (N, FN, OH, OW)."""
    FN, C, FH, FW = W.shape
    col = im2col(x, FH, FW, stride, pad)
    col_W = W.reshape(FN, -1).T
    dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)   # (N*OH*OW, FN)
    db = np.sum(dout, axis=0)
    dW = np.dot(col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)
    dcol = np.dot(dout, col_W.T)                         # (N*OH*OW, C*FH*FW)
    dx = col2im(dcol, x.shape, FH, FW, stride, pad)
    return dx, dW, db
