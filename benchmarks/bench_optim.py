"""One optimizer update over SimpleConvNet's parameters (433,000 values in 6 arrays).

``fastnn``: ``fastnn.optimizer.<name>().update(params, grads)`` (one fused
in-place kernel pass per parameter); ``reference``: ``fastnn.reference``'s
update rules written back in place, as the book's optimizers do; ``torch``:
the matching ``torch.optim`` optimizer's ``step()``, timed by
``OptimizerUpdateTorch``, each sample in a fresh process that never loads
fastnn.
"""
import numpy as np

from ._common import DTYPES, IMPLS, TorchTwin, need, need_torch, pin_threads, randn

OPTIMIZERS = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
SHAPES = {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,), "W3": (100, 10), "b3": (10,)}


def _params(dtype):
    params = {k: randn(s, dtype, seed=i, scale=0.1) for i, (k, s) in enumerate(SHAPES.items())}
    grads = {k: randn(s, dtype, seed=100 + i, scale=0.01) for i, (k, s) in enumerate(SHAPES.items())}
    return params, grads


class OptimizerUpdate:
    param_names = ["optimizer", "impl", "dtype"]
    params = [OPTIMIZERS, IMPLS, DTYPES]

    def setup(self, optimizer, impl, dtype):
        dtype = np.dtype(dtype)
        self.params_, self.grads = _params(dtype)
        if impl == "fastnn":
            opt = need("fastnn.optimizer", optimizer)()
            self.update = lambda: opt.update(self.params_, self.grads)
        elif impl == "reference":
            try:
                from ._refnets import Optimizer
                opt = Optimizer(optimizer)
                opt.update(self.params_, self.grads)
            except (ImportError, AttributeError) as exc:
                raise NotImplementedError(f"reference {optimizer}: {exc}") from None
            self.update = lambda: opt.update(self.params_, self.grads)
        else:
            self.update = self._torch(optimizer)
        pin_threads(impl)
        self.update()

    def _torch(self, optimizer):
        torch = need_torch()
        tensors = [torch.from_numpy(p).requires_grad_(True) for p in self.params_.values()]
        for p, g in zip(tensors, self.grads.values()):
            p.grad = torch.from_numpy(g)
        optim = torch.optim
        opt = {
            "SGD": lambda: optim.SGD(tensors, lr=0.01),
            "Momentum": lambda: optim.SGD(tensors, lr=0.01, momentum=0.9),
            "Nesterov": lambda: optim.SGD(tensors, lr=0.01, momentum=0.9, nesterov=True),
            "AdaGrad": lambda: optim.Adagrad(tensors, lr=0.01, eps=1e-7),
            "RMSprop": lambda: optim.RMSprop(tensors, lr=0.01, alpha=0.99, eps=1e-7),
            "Adam": lambda: optim.Adam(tensors, lr=0.001, eps=1e-7),
        }[optimizer]()

        def update():
            with torch.no_grad():
                opt.step()

        return update

    def time_update(self, optimizer, impl, dtype):
        self.update()


class OptimizerUpdateTorch(TorchTwin):
    """``OptimizerUpdate``'s PyTorch column, in processes of its own."""

    suite = "bench_optim.OptimizerUpdate"
    impl_index = 1
    param_names = ["optimizer", "dtype"]
    params = [OPTIMIZERS, DTYPES]
    number = 50

    def timeraw_update(self, optimizer, dtype):
        return self.subject_code("update", optimizer, dtype)
