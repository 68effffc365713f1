"""Inference of the book's conv nets: fastnn's ``predict`` vs onnxruntime running the ``fastnn.onnx`` export.

float32, the book's default SimpleConvNet and DeepConvNet (seed 0), MNIST-shaped
inputs. The onnxruntime rows are skipped (n/a) where onnx or onnxruntime is not
installed in the benchmark environment. ``python -m benchmarks.tools.inference``
times the same pair (and PyTorch) with each implementation in a process of its own.
"""
from ._common import need, pin_threads


class Predict:
    """Time of one ``predict`` (inference forward) at batch 1, 32 and 100."""

    param_names = ["net", "impl", "batch"]
    params = [["SimpleConvNet", "DeepConvNet"], ["fastnn", "onnxruntime"], [1, 32, 100]]
    timeout = 120

    def setup(self, net, impl, batch):
        import numpy as np

        model = need("fastnn.nets", net)(dtype=np.float32, seed=0)
        self.x = np.random.default_rng(1).random((batch, *model.input_dim), dtype=np.float32)
        if impl == "fastnn":
            pin_threads("fastnn")
            self.run = model.predict
        else:
            build_model = need("fastnn.onnx", "build_model")
            session_class, options_class = need("onnxruntime", "InferenceSession", "SessionOptions")
            options = options_class()
            options.intra_op_num_threads = pin_threads(impl)
            options.inter_op_num_threads = 1
            session = session_class(build_model(model).SerializeToString(), options,
                             providers=["CPUExecutionProvider"])
            self.run = lambda x: session.run(None, {"x": x})
        self.run(self.x)   # compile or load kernels, let onnxruntime plan its memory

    def time_predict(self, net, impl, batch):
        self.run(self.x)


class HalfPrecision:
    """``predict`` (batch 100) and ``accuracy`` (1,000 images) of a net stored in float16/bfloat16 vs float32.

    ``net.half(dtype)`` keeps the parameters in half precision and widens each
    layer's to float32 while it runs; the target is at most 1.2x the float32
    net's time. bfloat16 rows are n/a without ml_dtypes.
    """

    param_names = ["net", "dtype", "what"]
    params = [["SimpleConvNet", "DeepConvNet"], ["float32", "float16", "bfloat16"], ["predict", "accuracy"]]
    timeout = 180

    def setup(self, net, dtype, what):
        import numpy as np

        pin_threads("fastnn")
        model = need("fastnn.nets", net)(dtype=np.float32, seed=0)
        if dtype == "bfloat16":
            need("ml_dtypes", "bfloat16")
        if dtype != "float32":
            model = model.half(dtype)
        rng = np.random.default_rng(1)
        n = 100 if what == "predict" else 1000
        self.x = rng.random((n, *model.input_dim), dtype=np.float32)
        self.t = rng.integers(0, 10, n)
        self.run = (lambda: model.predict(self.x)) if what == "predict" else (lambda: model.accuracy(self.x, self.t))
        self.run()

    def time_half(self, net, dtype, what):
        self.run()
