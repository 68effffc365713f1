"""Half precision to float32: the widening conversions of half-precision inference.

``half_to_float32(bits, out_bits)``: ``bits`` is a 1-D uint16 array of IEEE
754 binary16 values (a float16 array viewed as uint16), ``out_bits`` a 1-D
uint32 array of the same size (a float32 array viewed as uint32) that
receives the float32 bit patterns. Every float16 value is exactly a float32
value, so the conversion is exact: sign, exponent re-biased by 127 − 15,
mantissa shifted by 13; subnormals are normalised, infinities and NaNs
(their payloads too) carried over.

``bfloat16_to_float32(bits, out_bits)``: bfloat16 is the upper half of a
float32, so the bits move up by 16.

Both are built serial and parallel (``fastnn.kernels._twins``); each element
is converted alone, so both builds give the same bits.
"""
from numba import prange

from ._twins import serial_and_parallel


def half_to_float32(bits, out_bits):
    """out_bits[i] = the float32 bit pattern of the float16 whose bits are bits[i]. Shapes (n,)."""
    for i in prange(bits.size):
        h = bits[i] & 0xFFFF
        sign = (h & 0x8000) << 16
        exp = (h >> 10) & 0x1F
        mant = h & 0x3FF
        if exp == 0x1F:                      # infinity or NaN
            out = sign | 0x7F800000 | (mant << 13)
        elif exp != 0:                       # normal
            out = sign | ((exp + 112) << 23) | (mant << 13)
        elif mant == 0:                      # signed zero
            out = sign
        else:                                # subnormal: normalise
            e = 113
            while (mant & 0x400) == 0:
                mant <<= 1
                e -= 1
            out = sign | (e << 23) | ((mant & 0x3FF) << 13)
        out_bits[i] = out


def bfloat16_to_float32(bits, out_bits):
    """out_bits[i] = bits[i] << 16: a bfloat16 is the upper 16 bits of a float32. Shapes (n,)."""
    for i in prange(bits.size):
        out_bits[i] = (bits[i] & 0xFFFF) << 16


half_to_float32, half_to_float32_parallel = serial_and_parallel(half_to_float32)
bfloat16_to_float32, bfloat16_to_float32_parallel = serial_and_parallel(bfloat16_to_float32)
