"""Reference softmax and losses (NumPy only), in the dtype of the input."""
import numpy as np

__all__ = ["softmax_forward", "softmax_loss_labels", "softmax_loss_probs",
           "cross_entropy_labels", "cross_entropy_probs",
           "softmax_loss_forward", "softmax_loss_backward"]


def softmax_forward(x):
    """Row-wise softmax of x (N, C), shifted by the row maximum so exp never overflows."""
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_loss_labels(x, t):
    """Return (loss, grad): mean of -log softmax(x)[i, t[i]], and (softmax(x) - onehot(t)) / N."""
    n = x.shape[0]
    rows = np.arange(n)
    loss = -np.mean(_log_softmax(x)[rows, t], dtype=np.float64)
    grad = softmax_forward(x)
    grad[rows, t] -= 1
    return float(loss), grad / x.dtype.type(n)


def softmax_loss_probs(x, t):
    """Return (loss, grad): mean of -sum_j t log softmax(x), and (softmax(x) * sum_j t - t) / N."""
    n = x.shape[0]
    logp = _log_softmax(x)
    loss = -np.sum(np.where(t != 0, t * logp, 0), dtype=np.float64) / n
    grad = (softmax_forward(x) * t.sum(axis=1, keepdims=True) - t) / x.dtype.type(n)
    return float(loss), grad


def cross_entropy_labels(y, t):
    """The book's -mean log(y[i, t[i]] + 1e-7)."""
    n = y.shape[0]
    return float(-np.sum(np.log(y[np.arange(n), t] + y.dtype.type(1e-7)), dtype=np.float64) / n)


def cross_entropy_probs(y, t):
    """The book's -sum(t * log(y + 1e-7)) / N."""
    return float(-np.sum(t * np.log(y + y.dtype.type(1e-7)), dtype=np.float64) / y.shape[0])


def softmax_loss_forward(x, t):
    """The SoftmaxWithLoss layer's forward in the book's two-step form, with labels t (N,).

    Returns (loss, y): the mean loss from the logits by log-sum-exp (exact, no
    ``+1e-7``) and the probabilities y = softmax(x) that the backward needs.
    """
    n = x.shape[0]
    loss = -np.mean(_log_softmax(x)[np.arange(n), t], dtype=np.float64)
    return float(loss), softmax_forward(x)


def softmax_loss_backward(y, t, dout=1.0):
    """The SoftmaxWithLoss layer's backward: dout * (y - onehot(t)) / N, with y from the forward."""
    n = y.shape[0]
    dx = y.copy()
    dx[np.arange(n), t] -= 1
    return dx * y.dtype.type(dout) / y.dtype.type(n)
