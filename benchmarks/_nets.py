"""One training step of the book's nets, for every implementation: the subject of the net suites and the report.

``make_step(impl, net, dtype, batch)`` returns a ``Step`` whose ``step()``
runs forward, backward and the optimizer update on a fixed random batch of
MNIST-shaped inputs (``(batch, 784)`` for the MLPs, ``(batch, 1, 28, 28)``
for the conv nets) and integer labels; ``loss()`` runs the training-mode
forward and loss alone. The optimizer is Adam (lr 0.001) for every net and
implementation. Raises ``NotImplementedError`` where the implementation
cannot be had (PyTorch missing, a net not in ``fastnn`` at this commit).
"""
import numpy as np

from ._common import labels, need, need_torch, uniform

NETS = ["TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet"]

#: Constructor arguments of the nets under test (the issues' configurations).
NET_ARGS = {
    "TwoLayerNet": ((784, 50, 10), {}),
    "MultiLayerNetExtend": ((784, [100] * 5, 10), {"use_batchnorm": True}),
    "SimpleConvNet": ((), {}),
    "DeepConvNet": ((), {}),
}

CONV_NETS = {"SimpleConvNet", "DeepConvNet"}


def input_shape(net, batch):
    return (batch, 1, 28, 28) if net in CONV_NETS else (batch, 784)


def batch_data(net, dtype, batch):
    """MNIST-shaped inputs in [0, 1) and labels in [0, 10): fixed, seeded."""
    return uniform(input_shape(net, batch), dtype), labels(batch)


class Step:
    """``step()``: one training step; ``loss()``: training-mode forward + loss."""

    def __init__(self, step, loss, model):
        self.step, self.loss, self.model = step, loss, model


def _fastnn(net, dtype, x, t):
    cls = need("fastnn.nets", net)
    Adam = need("fastnn.optimizer", "Adam")
    args, kwargs = NET_ARGS[net]
    try:
        model = cls(*args, dtype=dtype, seed=0, **kwargs)
    except TypeError:  # commits before seed=
        model = cls(*args, dtype=dtype, **kwargs)
    opt = Adam()

    def step():
        opt.update(model.params, model.gradient(x, t))

    def loss():
        return model.loss(x, t, train_flg=True)

    return Step(step, loss, model)


def _reference(net, dtype, x, t):
    try:
        from ._refnets import Adam, make_reference_net
        model = make_reference_net(net, dtype)
    except (ImportError, AttributeError) as exc:  # fastnn.reference lacks a function at this commit
        raise NotImplementedError(f"reference {net}: {exc}") from None
    opt = Adam()

    def step():
        opt.update(model.params, model.gradient(x, t))

    def loss():
        return model.loss(x, t, train_flg=True)

    return Step(step, loss, model)


def _torch(net, dtype, x, t):
    if net == "MultiLayerNetExtend" and len(x) == 1:
        raise NotImplementedError("PyTorch refuses training-mode batch norm of a single value per channel")
    need_torch()
    from ._torchnets import TorchStep

    s = TorchStep(net, x, t, dtype)
    return Step(s.step, s.forward, s.model)


def make_step(impl, net, dtype, batch):
    """Build net ``net`` for ``impl`` in ``dtype`` with a batch of ``batch`` samples."""
    dtype = np.dtype(dtype)
    x, t = batch_data(net, dtype, batch)
    maker = {"fastnn": _fastnn, "reference": _reference, "torch": _torch}[impl]
    return maker(net, dtype, x, t)
