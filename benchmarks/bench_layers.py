"""Every layer's forward and backward: fastnn vs fastnn.reference vs PyTorch.

Shapes are the ones the book's nets feed these layers (per sample), scaled by
the ``batch`` parameter. ``fastnn`` times the public layer class (validation
included: that is what a user pays), ``reference`` the plain-NumPy twin in
``fastnn.reference``, ``torch`` the matching ``torch.nn.functional`` call
(backward through autograd), run by the ``<Layer>Torch`` twins at the end of
this file, each sample in a fresh process that never loads fastnn.

The ``fastnn`` and ``reference`` figures asv records here are an in-process
comparison, the second one: both run in the asv process, where
``fastnn.layers`` is imported and has tuned the host (malloc thresholds,
SciPy's BLAS threads: ``fastnn._runtime``), with two threads pinned in
``setup``. ``python -m benchmarks.tools.layer_peers`` times these same
classes with each implementation in a fresh process of its own, in its own
default configuration (the reference without fastnn's host tuning): the
comparison to quote for "fastnn is at least as fast as its reference twin".
"""
import numpy as np

from ._common import DTYPES, IMPLS, LAYER_BATCHES, TorchTwin, labels, need, need_torch, pin_threads, randn

ACT_FEATURES = 30 * 24 * 24      # SimpleConvNet's conv output, per sample
AFFINE_IN, AFFINE_OUT = 784, 100
CLASSES = 10
BN_FEATURES = 100                # MultiLayerNetExtend's hidden width
BN_CONV_SHAPE = (16, 28, 28)     # DeepConvNet's first conv output
POOL_SHAPE = (30, 24, 24)        # SimpleConvNet's pooling input


class _LayerBench:
    """Base: ``setup`` makes ``self.fwd``/``self.bwd`` closures via ``_<impl>``; times them."""

    param_names = ["impl", "dtype", "batch"]
    params = [IMPLS, DTYPES, LAYER_BATCHES]
    timeout = 120

    def setup(self, impl, dtype, batch, *rest):
        maker = getattr(self, "_" + impl)
        self.fwd, self.bwd = maker(np.dtype(dtype), batch, *rest)
        pin_threads(impl)  # after the imports: fastnn.layers applies fastnn's BLAS policy when imported
        self.fwd()  # compile or load from numba's cache; warm caches
        self.bwd()

    def time_forward(self, *args):
        self.fwd()

    def time_backward(self, *args):
        self.bwd()


def _torch_pair(torch, forward, inputs, dout):
    """Closures for a torch op: ``fwd`` without autograd, ``bwd`` through a retained graph."""
    leaves = [i.detach().requires_grad_(True) if i.is_floating_point() else i for i in inputs]
    out = forward(*leaves)
    if dout is None:
        dout = torch.ones_like(out)

    def fwd():
        with torch.no_grad():
            forward(*inputs)

    def bwd():
        out.backward(dout, retain_graph=True)

    return fwd, bwd


def _tensors(torch, *arrays):
    return [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]


class Activation(_LayerBench):
    """Relu and Sigmoid on (batch, 17280): the conv output of SimpleConvNet."""

    param_names = ["kind", "impl", "dtype", "batch"]
    params = [["relu", "sigmoid"], IMPLS, DTYPES, LAYER_BATCHES]

    def setup(self, kind, impl, dtype, batch):
        self.kind = kind
        super().setup(impl, dtype, batch)

    def _data(self, dtype, batch):
        return randn((batch, ACT_FEATURES), dtype), randn((batch, ACT_FEATURES), dtype, seed=1)

    def _fastnn(self, dtype, batch):
        cls = need("fastnn.layers", {"relu": "Relu", "sigmoid": "Sigmoid"}[self.kind])
        x, dout = self._data(dtype, batch)
        layer = cls()
        layer.forward(x)
        return (lambda: layer.forward(x)), (lambda: layer.backward(dout))

    def _reference(self, dtype, batch):
        fwd, bwd = need("fastnn.reference", f"{self.kind}_forward", f"{self.kind}_backward")
        x, dout = self._data(dtype, batch)
        cache = fwd(x)[1] if self.kind == "relu" else fwd(x)
        return (lambda: fwd(x)), (lambda: bwd(dout, cache))

    def _torch(self, dtype, batch):
        torch = need_torch()
        x, dout = _tensors(torch, *self._data(dtype, batch))
        return _torch_pair(torch, getattr(torch, self.kind), [x], dout)


class Affine(_LayerBench):
    """Affine 784 -> 100 on (batch, 784): forward x @ W + b; backward dx, dW, db."""

    def _data(self, dtype, batch):
        x = randn((batch, AFFINE_IN), dtype)
        W = randn((AFFINE_IN, AFFINE_OUT), dtype, seed=2, scale=0.01)
        b = np.zeros(AFFINE_OUT, dtype)
        dout = randn((batch, AFFINE_OUT), dtype, seed=3)
        return x, W, b, dout

    def _fastnn(self, dtype, batch):
        cls = need("fastnn.layers", "Affine")
        x, W, b, dout = self._data(dtype, batch)
        layer = cls(W, b)
        layer.forward(x)
        return (lambda: layer.forward(x)), (lambda: layer.backward(dout))

    def _reference(self, dtype, batch):
        fwd, bwd = need("fastnn.reference", "affine_forward", "affine_backward")
        x, W, b, dout = self._data(dtype, batch)
        return (lambda: fwd(x, W, b)), (lambda: bwd(x, W, dout))

    def _torch(self, dtype, batch):
        torch = need_torch()
        x, W, b, dout = _tensors(torch, *self._data(dtype, batch))
        Wt = W.t().contiguous()
        return _torch_pair(torch, torch.nn.functional.linear, [x, Wt, b], dout)


class SoftmaxWithLoss(_LayerBench):
    """Softmax + cross-entropy on (batch, 10) logits and integer labels."""

    def _data(self, dtype, batch):
        return randn((batch, CLASSES), dtype), labels(batch, CLASSES)

    def _fastnn(self, dtype, batch):
        cls = need("fastnn.layers", "SoftmaxWithLoss")
        x, t = self._data(dtype, batch)
        layer = cls()
        layer.forward(x, t)
        return (lambda: layer.forward(x, t)), (lambda: layer.backward())

    def _reference(self, dtype, batch):
        fwd, bwd = need("fastnn.reference", "softmax_loss_forward", "softmax_loss_backward")
        x, t = self._data(dtype, batch)
        cache = fwd(x, t)
        y = cache[1] if isinstance(cache, tuple) else cache
        return (lambda: fwd(x, t)), (lambda: bwd(y, t))

    def _torch(self, dtype, batch):
        torch = need_torch()
        x, t = _tensors(torch, *self._data(dtype, batch))
        return _torch_pair(torch, torch.nn.functional.cross_entropy, [x, t], None)


class BatchNorm(_LayerBench):
    """BatchNormalization in training mode: per activation on (batch, 100), per channel on (batch, 16, 28, 28)."""

    param_names = ["layout", "impl", "dtype", "batch"]
    params = [["2d", "4d_channel"], IMPLS, DTYPES, LAYER_BATCHES]

    def setup(self, layout, impl, dtype, batch):
        self.layout = layout
        super().setup(impl, dtype, batch)

    def _data(self, dtype, batch):
        shape = (batch, BN_FEATURES) if self.layout == "2d" else (batch,) + BN_CONV_SHAPE
        c = shape[1]
        x = randn(shape, dtype)
        dout = randn(shape, dtype, seed=1)
        gamma, beta = np.ones(c, dtype), np.zeros(c, dtype)
        return x, dout, gamma, beta

    def _fastnn(self, dtype, batch):
        cls = need("fastnn.layers", "BatchNormalization")
        x, dout, gamma, beta = self._data(dtype, batch)
        layer = cls(gamma, beta)
        layer.forward(x, train_flg=True)
        return (lambda: layer.forward(x, train_flg=True)), (lambda: layer.backward(dout))

    def _reference(self, dtype, batch):
        prefix = "batchnorm_" if self.layout == "2d" else "batchnorm_channel_"
        fwd, bwd = need("fastnn.reference", prefix + "forward_train", prefix + "backward_train")
        x, dout, gamma, beta = self._data(dtype, batch)
        rm, rv = np.zeros_like(gamma), np.ones_like(gamma)
        _, xhat, inv_std, _, _ = fwd(x, gamma, beta, 1e-6, 0.9, rm, rv)
        return (lambda: fwd(x, gamma, beta, 1e-6, 0.9, rm, rv)), (lambda: bwd(dout, xhat, gamma, inv_std))

    def _torch(self, dtype, batch):
        if self.layout == "2d" and batch == 1:
            raise NotImplementedError("PyTorch refuses training-mode batch norm of a single value per channel")
        torch = need_torch()
        x, dout, gamma, beta = _tensors(torch, *self._data(dtype, batch))
        rm, rv = torch.zeros_like(gamma), torch.ones_like(gamma)

        def bn(x, gamma, beta):
            return torch.nn.functional.batch_norm(x, rm, rv, gamma, beta, training=True,
                                                  momentum=0.1, eps=1e-6)

        return _torch_pair(torch, bn, [x, gamma, beta], dout)


class Dropout(_LayerBench):
    """Dropout(0.5) in training mode on (batch, 17280); the mask is drawn every forward, from the
    book's stream (NumPy's global generator, ``np.random.rand``) in both implementations."""

    def _data(self, dtype, batch):
        return randn((batch, ACT_FEATURES), dtype), randn((batch, ACT_FEATURES), dtype, seed=1)

    def _fastnn(self, dtype, batch):
        cls = need("fastnn.layers", "Dropout")
        x, dout = self._data(dtype, batch)
        layer = cls(0.5)
        layer.forward(x, train_flg=True)
        return (lambda: layer.forward(x, train_flg=True)), (lambda: layer.backward(dout))

    def _reference(self, dtype, batch):
        fwd, bwd = need("fastnn.reference", "dropout_forward_train", "dropout_backward")
        x, dout = self._data(dtype, batch)
        mask = fwd(x, np.random.rand(*x.shape), 0.5)[1]
        # The book draws np.random.rand(*x.shape) every forward: the draw is part of the cost, and the
        # same draw on both sides (fastnn's Dropout with the default seed=None draws that very stream).
        return (lambda: fwd(x, np.random.rand(*x.shape), 0.5)), (lambda: bwd(dout, mask))

    def _torch(self, dtype, batch):
        torch = need_torch()
        x, dout = _tensors(torch, *self._data(dtype, batch))
        return _torch_pair(torch, lambda x: torch.nn.functional.dropout(x, 0.5, training=True), [x], dout)


CONV_SHAPES = {
    # name: (C, H, W, FN, FH, FW, stride, pad)
    "simple_1x28x28_30f5": (1, 28, 28, 30, 5, 5, 1, 0),
    "deep_16x28x28_16f3p1": (16, 28, 28, 16, 3, 3, 1, 1),
}


def _conv_data(shape, dtype, batch):
    C, H, W, FN, FH, FW, stride, pad = CONV_SHAPES[shape]
    x = randn((batch, C, H, W), dtype)
    Wt = randn((FN, C, FH, FW), dtype, seed=2, scale=0.1)
    b = randn((FN,), dtype, seed=3, scale=0.1)
    oh = (H + 2 * pad - FH) // stride + 1
    ow = (W + 2 * pad - FW) // stride + 1
    dout = randn((batch, FN, oh, ow), dtype, seed=4)
    return x, Wt, b, dout, stride, pad


class Convolution(_LayerBench):
    """Convolution forward (im2col + GEMM + bias) and backward (dx, dW, db), SimpleConvNet's and DeepConvNet's shapes."""

    param_names = ["shape", "impl", "dtype", "batch"]
    params = [list(CONV_SHAPES), IMPLS, DTYPES, LAYER_BATCHES]

    def setup(self, shape, impl, dtype, batch):
        self.shape = shape
        super().setup(impl, dtype, batch)

    def _fastnn(self, dtype, batch):
        cls = need("fastnn.layers", "Convolution")
        x, W, b, dout, stride, pad = _conv_data(self.shape, dtype, batch)
        layer = cls(W, b, stride=stride, pad=pad)
        layer.forward(x)
        return (lambda: layer.forward(x)), (lambda: layer.backward(dout))

    def _reference(self, dtype, batch):
        fwd, bwd = need("fastnn.reference", "conv_forward", "conv_backward")
        x, W, b, dout, stride, pad = _conv_data(self.shape, dtype, batch)
        return (lambda: fwd(x, W, b, stride, pad)), (lambda: bwd(dout, x, W, stride, pad))

    def _torch(self, dtype, batch):
        torch = need_torch()
        x, W, b, dout, stride, pad = _conv_data(self.shape, dtype, batch)
        x, W, b, dout = _tensors(torch, x, W, b, dout)

        def conv(x, W, b):
            return torch.nn.functional.conv2d(x, W, b, stride=stride, padding=pad)

        return _torch_pair(torch, conv, [x, W, b], dout)


class Pooling(_LayerBench):
    """Pooling 2x2 stride 2 on (batch, 30, 24, 24): max (the book's) and average."""

    param_names = ["mode", "impl", "dtype", "batch"]
    params = [["max", "avg"], IMPLS, DTYPES, LAYER_BATCHES]

    def setup(self, mode, impl, dtype, batch):
        self.mode = mode
        super().setup(impl, dtype, batch)

    def _data(self, dtype, batch):
        C, H, W = POOL_SHAPE
        return randn((batch, C, H, W), dtype), randn((batch, C, H // 2, W // 2), dtype, seed=1)

    def _fastnn(self, dtype, batch):
        cls = need("fastnn.layers", "Pooling")
        x, dout = self._data(dtype, batch)
        if self.mode == "max":
            layer = cls(2, 2, stride=2)
        else:
            try:
                layer = cls(2, 2, stride=2, mode="avg")
            except TypeError:
                layer = need("fastnn.layers", "AvgPooling")(2, 2, stride=2)
        layer.forward(x)
        return (lambda: layer.forward(x)), (lambda: layer.backward(dout))

    def _reference(self, dtype, batch):
        fwd, bwd = need("fastnn.reference", f"{self.mode}_pool_forward", f"{self.mode}_pool_backward")
        x, dout = self._data(dtype, batch)
        if self.mode == "max":
            arg_max = fwd(x, 2, 2, 2, 0)[1]
            return (lambda: fwd(x, 2, 2, 2, 0)), (lambda: bwd(dout, arg_max, x.shape, 2, 2, 2, 0))
        return (lambda: fwd(x, 2, 2, 2, 0)), (lambda: bwd(dout, x.shape, 2, 2, 2, 0))

    def _torch(self, dtype, batch):
        torch = need_torch()
        x, dout = _tensors(torch, *self._data(dtype, batch))
        F = torch.nn.functional
        pool = (lambda x: F.max_pool2d(x, 2, 2)) if self.mode == "max" else (lambda x: F.avg_pool2d(x, 2, 2))
        return _torch_pair(torch, pool, [x], dout)


class ConvReluPool(_LayerBench):
    """SimpleConvNet's Convolution (30 filters 5x5) → ReLU → 2x2 max pooling, forward and backward (dx, dW, db).

    ``run='fused'``: fastnn's fused stage (``fastnn.layers.fused``), what a
    net runs; ``run='layers'``: the three layers one after the other (every
    implementation). The fused run exists for fastnn only.
    """

    param_names = ["run", "impl", "dtype", "batch"]
    params = [["fused", "layers"], IMPLS, DTYPES, LAYER_BATCHES]
    shape = "simple_1x28x28_30f5"

    def setup(self, run, impl, dtype, batch):
        if run == "fused" and impl != "fastnn":
            raise NotImplementedError("only fastnn fuses")   # asv: skipped
        self.run = run
        super().setup(impl, dtype, batch)

    def _data(self, dtype, batch):
        x, W, b, _, stride, pad = _conv_data(self.shape, dtype, batch)
        oh = x.shape[2] + 2 * pad - W.shape[2] + 1
        return x, W, b, randn((batch, W.shape[0], oh // 2, oh // 2), dtype, seed=5)

    def _fastnn(self, dtype, batch):
        conv_cls, relu_cls, pool_cls = need("fastnn.layers", "Convolution", "Relu", "Pooling")
        x, W, b, dout = self._data(dtype, batch)
        layers = [conv_cls(W, b), relu_cls(), pool_cls(2, 2, stride=2)]
        if self.run == "fused":
            stage = need("fastnn.layers.fused", "ConvReluPool")(*layers)
            return (lambda: stage.forward(x)), (lambda: stage.backward(dout))

        def fwd():
            y = x
            for layer in layers:
                y = layer.forward(y)

        def bwd():
            d = dout
            for layer in reversed(layers):
                d = layer.backward(d)

        fwd()
        return fwd, bwd

    def _reference(self, dtype, batch):
        conv_f, conv_b, relu_f, relu_b, pool_f, pool_b = need(
            "fastnn.reference", "conv_forward", "conv_backward", "relu_forward", "relu_backward",
            "max_pool_forward", "max_pool_backward")
        x, W, b, dout = self._data(dtype, batch)
        a, mask = relu_f(conv_f(x, W, b)[0])
        arg_max = pool_f(a, 2, 2, 2, 0)[1]

        def fwd():
            pool_f(relu_f(conv_f(x, W, b)[0])[0], 2, 2, 2, 0)

        def bwd():
            conv_b(relu_b(pool_b(dout, arg_max, a.shape, 2, 2, 2, 0), mask), x, W)

        return fwd, bwd

    def _torch(self, dtype, batch):
        torch = need_torch()
        F = torch.nn.functional
        x, W, b, dout = _tensors(torch, *self._data(dtype, batch))
        return _torch_pair(torch, lambda x, W, b: F.max_pool2d(F.relu(F.conv2d(x, W, b)), 2, 2), [x, W, b], dout)


class Im2col(_LayerBench):
    """``time_forward`` is im2col, ``time_backward`` col2im (its adjoint), in the book's column layout; torch: unfold/fold.

    DeepConvNet's first 16-channel convolution (3x3, pad 1 on 28x28).
    """

    shape = "deep_16x28x28_16f3p1"

    def _args(self, dtype, batch):
        x, W, _, _, stride, pad = _conv_data(self.shape, dtype, batch)
        return x, W.shape[2], W.shape[3], stride, pad

    def _pair(self, im2col, col2im, dtype, batch):
        x, fh, fw, stride, pad = self._args(dtype, batch)
        col = im2col(x, fh, fw, stride, pad)
        col = np.ascontiguousarray(col)
        return (lambda: im2col(x, fh, fw, stride, pad)), (lambda: col2im(col, x.shape, fh, fw, stride, pad))

    def _fastnn(self, dtype, batch):
        return self._pair(*need("fastnn.util", "im2col", "col2im"), dtype, batch)

    def _reference(self, dtype, batch):
        return self._pair(*need("fastnn.reference", "im2col", "col2im"), dtype, batch)

    def _torch(self, dtype, batch):
        torch = need_torch()
        x, fh, fw, stride, pad = self._args(dtype, batch)
        x = torch.from_numpy(x)
        F = torch.nn.functional
        col = F.unfold(x, (fh, fw), padding=pad, stride=stride)
        size = tuple(x.shape[2:])
        return ((lambda: F.unfold(x, (fh, fw), padding=pad, stride=stride)),
                (lambda: F.fold(col, size, (fh, fw), padding=pad, stride=stride)))


#: DeepConvNet's six convolutions on 28x28 MNIST, name: (C, H, W, FN, pad), all 3x3 at stride 1.
DEEP_CONV_LAYERS = {
    "conv1_1x28x28_16": (1, 28, 28, 16, 1),
    "conv2_16x28x28_16": (16, 28, 28, 16, 1),
    "conv3_16x14x14_32": (16, 14, 14, 32, 1),
    "conv4_32x14x14_32p2": (32, 14, 14, 32, 2),
    "conv5_32x8x8_64": (32, 8, 8, 64, 1),
    "conv6_64x8x8_64": (64, 8, 8, 64, 1),
    "wide_128x16x16_128": (128, 16, 16, 128, 1),
}


class ConvWinograd:
    """fastnn's Convolution on each DeepConvNet layer shape (and one wider layer), the direct kernels against
    Winograd F(2x2, 3x3) and im2col (``Convolution.algorithm``): the measurements behind
    ``_runtime.conv_algorithm`` and ``winograd_pays``."""

    param_names = ["layer", "algorithm", "batch"]
    params = [list(DEEP_CONV_LAYERS), ["direct", "im2col", "winograd"], [32, 100]]
    timeout = 180

    def setup(self, layer, algorithm, batch):
        cls = need("fastnn.layers", "Convolution")
        c, h, w, fn, pad = DEEP_CONV_LAYERS[layer]
        self.x = randn((batch, c, h, w), "float32")
        self.layer = cls(randn((fn, c, 3, 3), "float32", seed=2, scale=0.1),
                         randn((fn,), "float32", seed=3, scale=0.1), stride=1, pad=pad)
        self.layer.algorithm = algorithm
        self.dout = randn((batch, fn, h + 2 * pad - 2, w + 2 * pad - 2), "float32", seed=4)
        pin_threads("fastnn")
        self.layer.forward(self.x)
        self.layer.backward(self.dout)

    def time_forward(self, *args):
        self.layer.forward(self.x)

    def time_backward(self, *args):
        self.layer.backward(self.dout)


class DirectMicrokernel:
    """The direct convolution's kernels alone (serial kernels: one thread), at the tiles ``fastnn._runtime`` chooses, on the conv
    nets' layers (``benchmarks.tools.microkernel`` prints them as fractions of the FMA peak): the measurements
    behind the ``DIRECT_*`` thresholds."""

    param_names = ["layer", "kernel", "dtype"]
    params = [["Deep conv1", "Deep conv2", "Deep conv4", "Deep conv6", "Simple conv1"],
              ["forward", "weights", "inputs"], ["float32", "float64"]]
    timeout = 120

    def setup(self, layer, kernel, dtype):
        microkernel = need("benchmarks.tools.microkernel", "layer_kernels")
        layers = need("benchmarks.tools.microkernel", "LAYERS")
        kernels = microkernel(layers[layer], 8, np.dtype(dtype), ["intrinsic"])
        if kernel not in kernels:
            raise NotImplementedError(f"{layer} has no {kernel} kernel (a one-channel input's dx is never asked for)")
        self.run = kernels[kernel][0]
        self.run()

    def time_kernel(self, *args):
        self.run()


# -- PyTorch's column, in processes of its own -------------------------------------------------

class _LayerTorch(TorchTwin):
    """The forward and backward of a layer suite's ``_torch`` closures, timed in a fresh process."""

    number = 50

    def timeraw_forward(self, *params):
        return self.subject_code("fwd", *params)

    def timeraw_backward(self, *params):
        return self.subject_code("bwd", *params)


def _without_impl(suite):
    i = suite.param_names.index("impl")
    return ([n for n in suite.param_names if n != "impl"],
            [p for j, p in enumerate(suite.params) if j != i], i)


class ActivationTorch(_LayerTorch):
    suite = "bench_layers.Activation"
    param_names, params, impl_index = _without_impl(Activation)


class AffineTorch(_LayerTorch):
    suite = "bench_layers.Affine"
    param_names, params, impl_index = _without_impl(Affine)


class SoftmaxWithLossTorch(_LayerTorch):
    suite = "bench_layers.SoftmaxWithLoss"
    param_names, params, impl_index = _without_impl(SoftmaxWithLoss)


class BatchNormTorch(_LayerTorch):
    suite = "bench_layers.BatchNorm"
    param_names, params, impl_index = _without_impl(BatchNorm)


class DropoutTorch(_LayerTorch):
    suite = "bench_layers.Dropout"
    param_names, params, impl_index = _without_impl(Dropout)


class ConvolutionTorch(_LayerTorch):
    suite = "bench_layers.Convolution"
    param_names, params, impl_index = _without_impl(Convolution)


class PoolingTorch(_LayerTorch):
    suite = "bench_layers.Pooling"
    param_names, params, impl_index = _without_impl(Pooling)


class ConvReluPoolTorch(_LayerTorch):
    suite = "bench_layers.ConvReluPool"
    param_names, params, impl_index = _without_impl(ConvReluPool)


class Im2colTorch(_LayerTorch):
    suite = "bench_layers.Im2col"
    param_names, params, impl_index = _without_impl(Im2col)


class _CheckedPath(np.ndarray):
    """An ndarray subclass: the validation helpers' common-case test (``type(x) is np.ndarray``) fails,
    so the call runs the general, checked path to the same result."""


class Validation:
    """The input checks layers run at every call: ``as_float_array`` and ``as_labels``'s common case
    (the input already right: returned at once) against the same input through the general path.

    What the fast paths of ``fastnn._validate`` save per call; they only ever return early on
    success, so any error comes from the general path (tests/test_validate.py pins that).
    """

    params = ["fast", "general"]
    param_names = ["path"]

    def setup(self, path):
        from fastnn import _validate

        self.validate = _validate
        x = np.ones((100, 784))
        t = np.arange(100, dtype=np.intp) % 10
        self.x = x if path == "fast" else x.view(_CheckedPath)
        self.t = t if path == "fast" else t.astype(np.int32)   # labels of another int dtype: the general path

    def time_as_float_array(self, path):
        self.validate.as_float_array(self.x, "x", dtype=np.dtype(np.float64), min_ndim=2)

    def time_as_labels(self, path):
        self.validate.as_labels(self.t, 100, 10)
