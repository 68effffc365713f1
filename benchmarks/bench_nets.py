"""Training step of the book's nets: fastnn vs fastnn.reference (the book's NumPy code) vs PyTorch.

``TrainStep`` times fastnn and the reference in the asv process;
``TrainStepTorch`` times PyTorch, each sample in a fresh process of its own
(``timeraw_``; see ``_common.torch_timeraw``).

One step = forward, loss, backward and an Adam update on a fixed batch of
MNIST-shaped inputs: TwoLayerNet(784, 50, 10), MultiLayerNetExtend(784,
[100]*5, 10, use_batchnorm=True), SimpleConvNet() and DeepConvNet() with the
book's defaults. ``peakmem_step`` is the peak resident memory of the
benchmark's process (asv's definition): the interpreter and the libraries the
``impl`` touches (PyTorch's are large) count too, so read it as a comparison
between ``impl``s and over commits, not as the step's own working set.
"""
from ._common import BATCHES, DTYPES, IMPLS, TorchTwin, pin_threads
from ._nets import NETS, make_step


class _Step:
    param_names = ["net", "impl", "dtype", "batch"]
    params = [NETS, IMPLS, DTYPES, BATCHES]
    timeout = 300

    def setup(self, net, impl, dtype, batch):
        self.subject = make_step(impl, net, dtype, batch)
        pin_threads(impl)  # after the imports: fastnn.layers applies fastnn's BLAS policy when imported
        self.subject.step()  # compile or load kernels, allocate optimizer state and work buffers


class TrainStep(_Step):
    """Time of one training step, batch 1 to 256."""

    def time_step(self, net, impl, dtype, batch):
        self.subject.step()


class TrainStepTorch(TorchTwin):
    """``TrainStep``'s PyTorch column, each sample in a fresh process that never loads fastnn."""

    suite = "bench_nets.TrainStep"
    impl_index = 1
    param_names = ["net", "dtype", "batch"]
    params = [NETS, DTYPES, BATCHES]
    number = 10

    def timeraw_step(self, net, dtype, batch):
        return self.subject_code("subject.step", net, dtype, batch)


class TrainStepMemory(_Step):
    """Peak memory of a training step at the book's batch of 100."""

    params = [NETS, IMPLS, DTYPES, [100]]

    def peakmem_step(self, net, impl, dtype, batch):
        self.subject.step()


class WideProducts:
    """The MLP steps at batch 100 with the mid-sized Affine products on one BLAS thread per
    numba thread (``wide_products=True``, fastnn's default) and on one BLAS thread (False).

    fastnn only: the ratio of the two rows is what the switch buys on this machine.
    """

    param_names = ["net", "dtype", "wide_products"]
    params = [["TwoLayerNet", "MultiLayerNetExtend"], DTYPES, [True, False]]
    timeout = 120

    def setup(self, net, dtype, wide_products):
        self.subject = make_step("fastnn", net, dtype, 100)
        n = pin_threads("fastnn")
        from fastnn import set_num_threads

        try:
            set_num_threads(n, wide_products=wide_products)
        except TypeError:  # commits before the switch
            raise NotImplementedError("fastnn.set_num_threads has no wide_products") from None
        self.subject.step()

    def teardown(self, net, dtype, wide_products):
        pin_threads("fastnn")  # back to the default for the benchmarks that follow in this process

    def time_step(self, net, dtype, wide_products):
        self.subject.step()


class LongTraining:
    """A training step after ``steps`` steps of Adam: float32 must stay no slower than float64, late as early.

    ``data="digits"``: TwoLayerNet(64, 50, 10) and MultiLayerNetExtend(64,
    [100]*5, 10, use_batchnorm=True) on scikit-learn's 8×8 digits, shuffled
    batches of 100 (real training: some units die, their gradients become 0
    and the optimizer state decays). ``data="one_batch"``: the same nets on
    one fixed batch of 100 MNIST-shaped random inputs, trained towards zero
    loss (gradients shrink to ~1e-7 and below). Decaying state reaches the
    subnormal range of float32 after some hundred steps; x86 arithmetic on
    subnormals is many times slower, which ``fastnn.kernels.optim`` avoids by
    flushing such values to 0. ``setup`` trains ``steps`` steps (up to a few
    seconds quiet for 5000 steps), then ``time_step`` times further steps.
    fastnn only.
    """

    param_names = ["net", "data", "dtype", "steps"]
    params = [["TwoLayerNet", "MultiLayerNetExtend"], ["digits", "one_batch"], DTYPES, [50, 5000]]
    timeout = 600
    number = 20

    def setup(self, net, data, dtype, steps):
        import numpy as np

        from ._common import labels, need, uniform

        cls = need("fastnn.nets", net)
        Adam = need("fastnn.optimizer", "Adam")
        if data == "digits":
            load_digits = need("fastnn.datasets", "load_digits")
            try:
                (x, t), _ = load_digits(dtype=dtype)
            except ImportError as exc:  # scikit-learn not installed
                raise NotImplementedError(str(exc)) from None
            t = t.astype(np.int64)
        else:
            x, t = uniform((100, 784), dtype), labels(100)
        args = ((x.shape[1], 50, 10), {}) if net == "TwoLayerNet" else \
            ((x.shape[1], [100] * 5, 10), {"use_batchnorm": True})
        pin_threads("fastnn")
        self.model = cls(*args[0], dtype=dtype, seed=0, **args[1])
        self.opt = Adam()
        order = np.random.default_rng(0).permutation(len(x))
        self.batches = [(x[order[i:i + 100]], t[order[i:i + 100]]) for i in range(0, len(x) - 99, 100)]
        self.i = 0
        for _ in range(steps):
            self.time_step(net, data, dtype, steps)

    def time_step(self, net, data, dtype, steps):
        x, t = self.batches[self.i % len(self.batches)]
        self.i += 1
        self.opt.update(self.model.params, self.model.gradient(x, t))


class BusyNeighbour:
    """The steps at batch 100 beside a neighbour that keeps every core busy (one spinning process
    per core, started in ``setup`` and stopped in ``teardown``), and without it.

    fastnn only: the ratio of the ``busy`` row to the ``quiet`` row is the slow-down a user sees
    while other programs run (``fastnn._runtime.threads`` falls to one thread under such load).
    """

    param_names = ["net", "dtype", "neighbour"]
    params = [["TwoLayerNet", "MultiLayerNetExtend", "SimpleConvNet"], DTYPES, ["quiet", "busy"]]
    timeout = 300

    def setup(self, net, dtype, neighbour):
        import os
        import subprocess
        import sys
        import time

        self.subject = make_step("fastnn", net, dtype, 100)
        pin_threads("fastnn")
        self.spinners = []
        if neighbour == "busy":
            self.spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                             for _ in range(os.cpu_count() or 1)]
            time.sleep(0.5)   # the neighbour is running, and fastnn has had time to see it
        self.subject.step()

    def teardown(self, net, dtype, neighbour):
        for p in self.spinners:
            p.kill()
            p.wait()

    def time_step(self, net, dtype, neighbour):
        self.subject.step()
