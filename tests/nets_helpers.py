"""Helpers shared by tests/test_nets.py and tests/test_convnets.py."""
import numpy as np

from fastnn.testing import relative_error


def gradient_errors(net, x, t):
    """Relative error of backprop vs numerical gradient for every parameter of ``net`` (float64).

    A gradient that is zero in exact arithmetic — the bias of an Affine
    followed by batch norm, which subtracts the batch mean — has no relative
    error worth the name (both sides are rounding noise), so for a gradient
    under 1e-7 of the largest one the error is measured against that largest
    gradient instead.
    """
    # Biases start at zero, so a sample whose hidden units are all dropped (or all ReLU-dead) would sit
    # exactly on the next ReLU's kink, where the one-sided derivative and the central difference differ.
    # Any parameter point will do for a gradient check: move the biases off zero.
    rng = np.random.default_rng(0)
    for key, value in net.params.items():
        if key.startswith("b") and not key.startswith("beta"):
            value += 0.1 * rng.standard_normal(value.shape)
    numeric = net.numerical_gradient(x, t)
    backprop = net.gradient(x, t)
    assert set(numeric) == set(backprop) == set(net.params)
    scale = max(np.linalg.norm(g) for g in numeric.values())
    errors = {}
    for key, num in numeric.items():
        if np.linalg.norm(num) < 1e-7 * scale:
            errors[key] = float(np.linalg.norm(backprop[key] - num) / scale)
        else:
            errors[key] = relative_error(backprop[key], num)
    return errors


def snapshot(net):
    """Copies of every parameter and state array of ``net``."""
    params = {k: v.copy() for k, v in net.params.items()}
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("param/")}
    return params, state


def assert_unchanged(net, snap):
    params, state = snap
    for k, v in net.params.items():
        np.testing.assert_array_equal(v, params[k], err_msg=k)
    now = {k: v for k, v in net.state_dict().items() if not k.startswith("param/")}
    assert now.keys() == state.keys()
    for k, v in now.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(v, state[k], err_msg=str(k))
        else:
            assert v == state[k], k


def digits_split(seed=0, n_train=1400):
    """scikit-learn's 8×8 digits (1,797 real scans), scaled to [0, 1], split train/held-out."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data / 16.0
    t = digits.target
    perm = np.random.default_rng(seed).permutation(len(x))
    return (x[perm[:n_train]], t[perm[:n_train]]), (x[perm[n_train:]], t[perm[n_train:]])


def train(net, x, t, epochs, batch_size=50, lr=0.01, seed=1):
    """Mini-batch Adam on ``net`` (in place)."""
    from fastnn.optimizer import Adam

    opt = Adam(lr=lr)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        perm = rng.permutation(len(x))
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            opt.update(net.params, net.gradient(x[idx], t[idx]))
