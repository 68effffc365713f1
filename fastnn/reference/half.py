"""Reference half-precision widening (NumPy only), the twin of ``fastnn.kernels.half``.

Bits in, bits out, as the kernels take them: uint16 patterns of float16 or
bfloat16 values, uint32 patterns of the equal float32 values.
"""
import numpy as np

__all__ = ["half_to_float32", "bfloat16_to_float32"]


def half_to_float32(bits):
    """The float32 bits of the float16 values with bits ``bits`` (uint16 -> uint32), by NumPy's own cast."""
    return np.asarray(bits, dtype=np.uint16).view(np.float16).astype(np.float32).view(np.uint32)


def bfloat16_to_float32(bits):
    """A bfloat16 is the upper half of a float32: the bits shifted up by 16."""
    return np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16
