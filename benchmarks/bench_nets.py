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
