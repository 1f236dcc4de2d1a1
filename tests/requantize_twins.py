"""gemmlowp's requantization value by value in Python integers: the reference the vectorized
``requantize`` paths and the integer layers' calls are held to."""

import numpy as np

from minidl.compression.int_inference import (
    INT32_MAX,
    INT32_MIN,
    rounding_divide_by_pot_naive,
    saturating_rounding_doubling_high_mul_naive,
)


def requantize_twins(acc, m0, shift, zero_point, qmin, qmax):
    """clamp(Z + x M) of every value of ``acc`` through the scalar twins; ``m0`` and ``shift``
    broadcast to ``acc``'s shape."""
    m0, shift = np.broadcast_to(m0, acc.shape), np.broadcast_to(shift, acc.shape)
    out = np.empty(acc.shape, dtype=np.int64)
    for idx in np.ndindex(*acc.shape):
        m, e = int(m0[idx]), int(shift[idx])
        x = min(max(int(acc[idx]) << max(e, 0), INT32_MIN), INT32_MAX)
        scaled = rounding_divide_by_pot_naive(saturating_rounding_doubling_high_mul_naive(x, m),
                                              max(-e, 0))  # fmt: skip
        out[idx] = min(max(zero_point + scaled, qmin), qmax)
    return out
