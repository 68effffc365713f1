"""The book's nets in ``torch.nn``, same shapes, for the PyTorch yardstick.

Each builder returns a ``TorchStep``: ``step()`` runs one training step
(forward, cross-entropy loss, backward, optimizer update) on a fixed batch;
``forward()`` runs the training-mode forward and loss only. Imported only
where PyTorch is installed (asv imports every module of the suite to
discover it, so torch is imported only when a net is built); nothing in
``fastnn`` imports this.
"""
import numpy as np

NETS = ("TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet")


def two_layer_net(nn):
    """TwoLayerNet(784, 50, 10): Affine, ReLU, Affine."""
    return nn.Sequential(nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 10))


def multi_layer_net_extend(nn):
    """MultiLayerNetExtend(784, [100]*5, 10, use_batchnorm=True): (Affine, BatchNorm, ReLU) x 5, Affine."""
    layers, n_in = [], 784
    for _ in range(5):
        layers += [nn.Linear(n_in, 100), nn.BatchNorm1d(100, eps=1e-6, momentum=0.1), nn.ReLU()]
        n_in = 100
    layers.append(nn.Linear(100, 10))
    return nn.Sequential(*layers)


def simple_conv_net(nn):
    """SimpleConvNet defaults: Conv 30x5x5, ReLU, MaxPool 2x2, Affine 4320->100, ReLU, Affine 100->10."""
    return nn.Sequential(
        nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10))


def deep_conv_net(nn):
    """DeepConvNet: 6 conv 3x3 (16,16,32,32,64,64; the fourth with pad 2), 3 max pools, Affine 1024->50, Dropout, Affine 50->10, Dropout."""
    def conv(c_in, c_out, pad=1):
        return [nn.Conv2d(c_in, c_out, 3, padding=pad), nn.ReLU()]

    return nn.Sequential(
        *conv(1, 16), *conv(16, 16), nn.MaxPool2d(2, 2),
        *conv(16, 32), *conv(32, 32, pad=2), nn.MaxPool2d(2, 2),
        *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(64 * 4 * 4, 50), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(50, 10), nn.Dropout(0.5))


BUILDERS = {
    "TwoLayerNet": two_layer_net,
    "MultiLayerNetExtend": multi_layer_net_extend,
    "SimpleConvNet": simple_conv_net,
    "DeepConvNet": deep_conv_net,
}


class TorchStep:
    """One net, its optimizer and a fixed batch; ``step()`` is one training step."""

    def __init__(self, name, x, t, dtype, optimizer="Adam", lr=None):
        import torch
        from torch import nn

        self.torch = torch
        torch.manual_seed(0)
        tdtype = {"float32": torch.float32, "float64": torch.float64}[np.dtype(dtype).name]
        self.model = BUILDERS[name](nn).to(tdtype).train()
        self.x = torch.from_numpy(np.ascontiguousarray(x, dtype=dtype))
        self.t = torch.from_numpy(np.asarray(t, dtype=np.int64))
        self.loss_fn = nn.CrossEntropyLoss()
        if optimizer == "Adam":
            self.opt = torch.optim.Adam(self.model.parameters(), lr=lr or 0.001)
        else:
            self.opt = torch.optim.SGD(self.model.parameters(), lr=lr or 0.01)

    def forward(self):
        with self.torch.no_grad():
            return float(self.loss_fn(self.model(self.x), self.t))

    def step(self):
        self.opt.zero_grad(set_to_none=False)
        loss = self.loss_fn(self.model(self.x), self.t)
        loss.backward()
        self.opt.step()
        return loss.item()
