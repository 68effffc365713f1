"""The ONNX versions an export targets: plain constants, importable without NumPy or onnx (``fastnn --help``)."""

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "IR_VERSION", "INPUT_NAME"]

DEFAULT_OPSET = 17
#: The lowest opset whose operators have the semantics used here (Softmax over one axis, Flatten, Gemm).
MIN_OPSET = 13
#: IR version 8 is what opsets 17-18 need; newer opsets get the lowest IR version onnx says they need.
IR_VERSION = 8
#: The name of the graph's one input.
INPUT_NAME = "x"
