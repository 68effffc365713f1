"""State kept between forward and backward (cached input, Relu.mask, Pooling.argmax, BatchNorm's xhat):
fastnn's own copy or view, or checked when backward runs. Each case runs in its own process: before,
several of these were SIGSEGV/SIGABRT in a kernel without bounds checks."""
import textwrap

import pytest
from isolated import run_isolated

PRELUDE = """
import numpy as np
from fastnn.layers import Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid
rng = np.random.default_rng(0)
def report(f):
    try:
        f()
    except Exception as e:
        print(type(e).__name__ + ": " + str(e))
    else:
        print("no error")
"""


def _run(body):
    out = run_isolated(PRELUDE + textwrap.dedent(body))
    assert out.returncode == 0, f"crashed ({out.returncode}): {out.stderr[-2000:]}"
    return out.stdout


def test_reshaping_the_callers_input_in_place_does_not_reach_convolution_backward():
    stdout = _run("""
        conv = Convolution(rng.standard_normal((4, 3, 3, 3)), np.zeros(4))
        x = rng.standard_normal((2, 3, 8, 8))
        dout = rng.standard_normal(conv.forward(x).shape)
        dx = conv.backward(dout).copy()
        conv.forward(x)
        x.shape = (3, 2, 8, 8)                         # same size, another layout
        np.testing.assert_array_equal(conv.backward(dout), dx)
        print("same gradient")
    """)
    assert "same gradient" in stdout


@pytest.mark.parametrize("body, message", [
    ("""
        conv = Convolution(rng.standard_normal((4, 3, 3, 3)), np.zeros(4))
        out = conv.forward(rng.standard_normal((2, 3, 8, 8)))
        conv.x = np.zeros((64, 3, 80, 80))
        report(lambda: conv.backward(np.ones(out.shape)))
     """, "ValueError: Convolution.x must be the forward input, an array of shape (2, 3, 8, 8)"),
    ("""
        relu = Relu()
        out = relu.forward(rng.standard_normal(2 ** 20))
        relu.mask = np.zeros(10, dtype=bool)
        report(lambda: relu.backward(np.ones(out.shape)))
     """, "ValueError: Relu.mask must have the forward input's shape (1048576,), got (10,)"),
    ("""
        relu = Relu()
        relu.forward(rng.standard_normal(6))
        relu.mask = np.full(6, 7)
        report(lambda: relu.backward(np.ones(6)))
     """, "ValueError: Relu.mask must be bool (or hold only 0 and 1)"),
    ("""
        pool = Pooling(2, 2)
        out = pool.forward(rng.standard_normal((2, 3, 8, 8)))
        a = pool.argmax
        report(lambda: setattr(a.flags, "writeable", True))
     """, "ValueError: cannot set WRITEABLE flag to True of this array"),
    ("""
        pool = Pooling(2, 2)
        out = pool.forward(rng.standard_normal((2, 3, 8, 8)))
        pool.argmax = np.full(out.shape, 10 ** 6)
        report(lambda: pool.backward(np.ones(out.shape)))
     """, "ValueError: Pooling.argmax must hold flat indices in [-1, 64) (H*W of the input), got values from "
          "1000000 to 1000000"),
    ("""
        pool = Pooling(2, 2)
        out = pool.forward(rng.standard_normal((2, 3, 8, 8)))
        pool.argmax = np.zeros(3, dtype=np.int32)
        report(lambda: pool.backward(np.ones(out.shape)))
     """, "ValueError: Pooling.argmax must have the forward output's shape (2, 3, 4, 4), got (3,)"),
    ("""
        affine = Affine(rng.standard_normal((5, 3)), np.zeros(3))
        affine.forward(rng.standard_normal((4, 5)))
        affine.x = np.zeros((4, 50))
        report(lambda: affine.backward(np.ones((4, 3))))
     """, "ValueError: Affine.x must be the forward input as (N, 5) of dtype float64"),
    ("""
        bn = BatchNormalization(np.ones(6), np.zeros(6))
        bn.forward(rng.standard_normal((4, 6)))
        bn.xhat = np.zeros((2, 6))
        report(lambda: bn.backward(np.ones((4, 6))))
     """, "ValueError: BatchNormalization.xhat must be the forward's C-contiguous (4, 6) array"),
    ("""
        sig = Sigmoid()
        sig.forward(rng.standard_normal(5))
        sig.out = np.arange(5)
        report(lambda: sig.backward(np.ones(5)))
     """, "TypeError: Sigmoid.out must be the forward output, a float32 or float64 array"),
    ("""
        drop = Dropout(0.5, seed=0)
        drop.forward(rng.standard_normal((4, 6)))
        drop.mask = np.ones(3, dtype=bool)
        report(lambda: drop.backward(np.ones((4, 6))))
     """, "ValueError: mask must have the shape of the forward output (4, 6), got (3,)"),
], ids=["conv-x-bigger", "relu-mask-shorter", "relu-mask-values", "pool-argmax-writeable",
        "pool-argmax-range", "pool-argmax-shape", "affine-x", "batchnorm-xhat", "sigmoid-out", "dropout-mask"])
def test_state_assigned_between_forward_and_backward_is_checked(body, message):
    assert message in _run(body)


def test_a_fused_nets_pooling_argmax_cannot_be_made_writeable():
    stdout = _run("""
        from fastnn.nets import SimpleConvNet
        net = SimpleConvNet(seed=0)
        net.loss(rng.standard_normal((2, 1, 28, 28)), np.array([1, 2]), train_flg=True)
        a = net.layers["Pool1"].argmax
        report(lambda: setattr(a.flags, "writeable", True))
        net.layers["Pool1"].argmax = np.full(a.shape, -5)
        report(lambda: net.layers["Pool1"].backward(np.ones(a.shape)))
    """)
    assert "ValueError: cannot set WRITEABLE flag to True of this array" in stdout
    assert "ValueError: Pooling.argmax must hold flat indices in [-1, 576)" in stdout
