"""Reference dropout (NumPy only), the twin of ``fastnn.kernels.dropout``.

The book's dropout: training keeps a unit where its uniform draw exceeds the
ratio, without rescaling; inference scales by 1 - ratio. The uniforms are an
input, so the twin is deterministic.
"""

__all__ = ["dropout_forward_train", "dropout_forward_infer", "dropout_backward"]


def dropout_forward_train(x, u, dropout_ratio):
    """Return (x * mask, mask) with mask = u > dropout_ratio (u: uniforms of x's shape)."""
    mask = u > dropout_ratio
    return x * mask, mask


def dropout_forward_infer(x, dropout_ratio):
    """Return x * (1 - dropout_ratio), in x's dtype."""
    return x * x.dtype.type(1.0 - dropout_ratio)


def dropout_backward(dout, mask):
    """Return dout * mask."""
    return dout * mask
