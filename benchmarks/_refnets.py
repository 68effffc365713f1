"""The book's nets in plain NumPy, built from ``fastnn.reference``: the baseline of the training steps.

Each layer does what the book's ``common/layers.py`` does — the Convolution
caches its im2col columns for the backward, Pooling goes through im2col,
Dropout draws ``rand`` every forward — calling the plain-NumPy twins in
``fastnn.reference`` for the maths. ``Optimizer`` updates the parameters in
place with ``fastnn.reference``'s update rules. Everything runs in the dtype
the net is built with (the book always runs float64).

``make_reference_net(name, dtype)`` builds the same architectures as
``fastnn.nets`` with the book's default arguments: TwoLayerNet(784, 50, 10),
MultiLayerNetExtend(784, [100]*5, 10, use_batchnorm=True), SimpleConvNet(),
DeepConvNet().
"""
import numpy as np

import fastnn.reference as R

BN_EPS = 1e-6  # the book's 10e-7, as fastnn's default


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x, train_flg=True):
        self.x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return R.affine_forward(self.x, self.W, self.b)

    def backward(self, dout):
        dx, self.dW, self.db = R.affine_backward(self.x, self.W, dout)
        return dx.reshape(self.x_shape)


class Relu:
    def forward(self, x, train_flg=True):
        out, self.mask = R.relu_forward(x)
        return out

    def backward(self, dout):
        return R.relu_backward(dout, self.mask)


class BatchNormalization:
    """Per activation on (N, D), training mode (the book's MultiLayerNetExtend use)."""

    def __init__(self, gamma, beta, momentum=0.9):
        self.gamma, self.beta, self.momentum = gamma, beta, momentum
        self.running_mean = np.zeros_like(gamma)
        self.running_var = np.zeros_like(gamma)

    def forward(self, x, train_flg=True):
        out, self.xhat, self.inv_std, self.running_mean, self.running_var = R.batchnorm_forward_train(
            x, self.gamma, self.beta, BN_EPS, self.momentum, self.running_mean, self.running_var)
        return out

    def backward(self, dout):
        dx, self.dgamma, self.dbeta = R.batchnorm_backward_train(dout, self.xhat, self.gamma, self.inv_std)
        return dx


class Dropout:
    def __init__(self, ratio=0.5, seed=0):
        self.ratio = ratio
        self.rng = np.random.default_rng(seed)

    def forward(self, x, train_flg=True):
        out, self.mask = R.dropout_forward_train(x, self.rng.random(x.shape), self.ratio)
        return out

    def backward(self, dout):
        return R.dropout_backward(dout, self.mask)


class Convolution:
    """The book's Convolution: im2col + GEMM forward; backward reuses the cached columns."""

    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x, train_flg=True):
        self.x_shape = x.shape
        out, self.col, self.col_W = R.conv_forward(x, self.W, self.b, self.stride, self.pad)
        return out

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = np.dot(dout, self.col_W.T)
        return R.col2im(dcol, self.x_shape, FH, FW, self.stride, self.pad)


class Pooling:
    """Max pooling, as the book (through im2col)."""

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x, train_flg=True):
        self.x_shape = x.shape
        out, self.arg_max = R.max_pool_forward(x, self.pool_h, self.pool_w, self.stride, self.pad)
        return out

    def backward(self, dout):
        return R.max_pool_backward(dout, self.arg_max, self.x_shape, self.pool_h, self.pool_w,
                                   self.stride, self.pad)


class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t = t
        loss, self.y = R.softmax_loss_forward(x, t)
        return loss

    def backward(self, dout=1):
        return R.softmax_loss_backward(self.y, self.t, dout)


class ReferenceNet:
    """A chain of the layers above, the book's ``params``/``gradient`` interface.

    ``layers`` is a list of (layer, param_suffix or None); a layer with a
    suffix owns params ``W<k>``/``b<k>`` (Affine, Convolution) or
    ``gamma<k>``/``beta<k>`` (BatchNormalization).
    """

    def __init__(self, layers):
        self.layers = [layer for layer, _ in layers]
        self.owners = [(layer, k) for layer, k in layers if k is not None]
        self.last_layer = SoftmaxWithLoss()
        self.params = {}
        for layer, k in self.owners:
            for p, attr in self._names(layer):
                self.params[f"{p}{k}"] = getattr(layer, attr)

    @staticmethod
    def _names(layer):
        if isinstance(layer, BatchNormalization):
            return (("gamma", "gamma"), ("beta", "beta"))
        return (("W", "W"), ("b", "b"))

    def predict(self, x, train_flg=False):
        for layer in self.layers:
            x = layer.forward(x, train_flg)
        return x

    def loss(self, x, t, train_flg=True):
        return self.last_layer.forward(self.predict(x, train_flg), t)

    def gradient(self, x, t):
        self.loss(x, t, train_flg=True)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        grads = {}
        for layer, k in self.owners:
            if isinstance(layer, BatchNormalization):
                grads[f"gamma{k}"], grads[f"beta{k}"] = layer.dgamma, layer.dbeta
            else:
                grads[f"W{k}"], grads[f"b{k}"] = layer.dW, layer.db
        return grads


class Optimizer:
    """The book's optimizers (``SGD``, ``Momentum``, ``Nesterov``, ``AdaGrad``, ``RMSprop``, ``Adam``).

    Each ``update`` applies ``fastnn.reference``'s rule to every parameter and
    writes the result back in place (the layers hold the same arrays, as in
    the book); state arrays are created on the first update.
    """

    DEFAULTS = {
        "SGD": {"lr": 0.01},
        "Momentum": {"lr": 0.01, "momentum": 0.9},
        "Nesterov": {"lr": 0.01, "momentum": 0.9},
        "AdaGrad": {"lr": 0.01},
        "RMSprop": {"lr": 0.01, "decay_rate": 0.99},
        "Adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999},
    }
    STATE = {"SGD": 0, "Momentum": 1, "Nesterov": 1, "AdaGrad": 1, "RMSprop": 1, "Adam": 2}

    def __init__(self, name, **hyper):
        self.name = name
        self.hyper = {**self.DEFAULTS[name], **hyper}
        self.iter, self.state = 0, None

    def update(self, params, grads):
        h, name = self.hyper, self.name
        if self.state is None:
            self.state = {k: [np.zeros_like(v) for _ in range(self.STATE[name])] for k, v in params.items()}
        self.iter += 1
        if name == "Adam":
            lr_t = R.adam_lr_t(h["lr"], h["beta1"], h["beta2"], self.iter)
        for k, p in params.items():
            g, st = grads[k], self.state[k]
            if name == "SGD":
                p[...] = R.sgd_update(p, g, h["lr"])
            elif name == "Momentum":
                p[...], st[0] = R.momentum_update(p, g, st[0], h["lr"], h["momentum"])
            elif name == "Nesterov":
                p[...], st[0] = R.nesterov_update(p, g, st[0], h["lr"], h["momentum"])
            elif name == "AdaGrad":
                p[...], st[0] = R.adagrad_update(p, g, st[0], h["lr"])
            elif name == "RMSprop":
                p[...], st[0] = R.rmsprop_update(p, g, st[0], h["lr"], h["decay_rate"])
            else:
                p[...], st[0], st[1] = R.adam_update(p, g, st[0], st[1], lr_t, h["beta1"], h["beta2"])


def Adam(**hyper):
    return Optimizer("Adam", **hyper)


def _weights(rng, shape, std, dtype):
    return (rng.standard_normal(shape) * std).astype(dtype)


def _he(fan_in):
    return np.sqrt(2.0 / fan_in)


def two_layer_net(dtype, rng):
    d = dtype
    return ReferenceNet([
        (Affine(_weights(rng, (784, 50), 0.01, d), np.zeros(50, d)), 1), (Relu(), None),
        (Affine(_weights(rng, (50, 10), 0.01, d), np.zeros(10, d)), 2)])


def multi_layer_net_extend(dtype, rng):
    layers, n_in = [], 784
    for k in range(1, 6):
        layers += [(Affine(_weights(rng, (n_in, 100), _he(n_in), dtype), np.zeros(100, dtype)), k),
                   (BatchNormalization(np.ones(100, dtype), np.zeros(100, dtype)), k),
                   (Relu(), None)]
        n_in = 100
    layers.append((Affine(_weights(rng, (100, 10), _he(100), dtype), np.zeros(10, dtype)), 6))
    return ReferenceNet(layers)


def simple_conv_net(dtype, rng):
    d = dtype
    return ReferenceNet([
        (Convolution(_weights(rng, (30, 1, 5, 5), 0.01, d), np.zeros(30, d)), 1), (Relu(), None),
        (Pooling(2, 2, stride=2), None),
        (Affine(_weights(rng, (4320, 100), 0.01, d), np.zeros(100, d)), 2), (Relu(), None),
        (Affine(_weights(rng, (100, 10), 0.01, d), np.zeros(10, d)), 3)])


def deep_conv_net(dtype, rng):
    layers, c_in, k = [], 1, 1
    for c_out, pad in ((16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1)):
        W = _weights(rng, (c_out, c_in, 3, 3), _he(c_in * 9), dtype)
        layers += [(Convolution(W, np.zeros(c_out, dtype), 1, pad), k), (Relu(), None)]
        if k % 2 == 0:
            layers.append((Pooling(2, 2, stride=2), None))
        c_in, k = c_out, k + 1
    layers += [(Affine(_weights(rng, (1024, 50), _he(1024), dtype), np.zeros(50, dtype)), 7),
               (Relu(), None), (Dropout(0.5, seed=1), None),
               (Affine(_weights(rng, (50, 10), _he(50), dtype), np.zeros(10, dtype)), 8),
               (Dropout(0.5, seed=2), None)]
    return ReferenceNet(layers)


BUILDERS = {
    "TwoLayerNet": two_layer_net,
    "MultiLayerNetExtend": multi_layer_net_extend,
    "SimpleConvNet": simple_conv_net,
    "DeepConvNet": deep_conv_net,
}


def make_reference_net(name, dtype, seed=0):
    return BUILDERS[name](np.dtype(dtype), np.random.default_rng(seed))
