r"""Integer-only inference for Dense and ConvND (Jacob et al. 2018, §2.2-2.4; gemmlowp).

With :math:`r = S(q - Z)` for input, weight and output, a layer :math:`y = W x + b` becomes

.. math:: q_y[o] = Z_y + M_o \Big( \sum_j q_w[o, j]\,(q_x[j] - Z_x) + q_b[o] \Big),
          \qquad M_o = \frac{S_x S_{w,o}}{S_y}, \qquad
          q_b[o] = \mathrm{round}\Big(\frac{b[o]}{S_x S_{w,o}}\Big)            (eq. 7)

with symmetric weights (:math:`Z_w = 0`, one scale per output channel), int8 codes, an int32
accumulator, and the bias quantized to int32 at the accumulator's scale. The real multiplier
:math:`M \in (0, 1)` is applied in integers as :math:`M = M_0 2^{-n}`, :math:`M_0` an int32 in
:math:`[2^{30}, 2^{31})` (a Q31 number in [0.5, 1)): a rounding doubling high multiply by
:math:`M_0` then a rounding right shift by n, written out below exactly as gemmlowp's
``SaturatingRoundingDoublingHighMul`` and ``RoundingDivideByPOT``. Scalar ``_naive`` twins (plain
Python integers, line by line as the C++) sit beside the vectorized versions; tests hold them
equal and check both against exact rational arithmetic. :func:`requantize` runs the same two
roundings as the floor formulas they are, in float64, wherever every step is exact there
(every 8-bit layer's accumulators), and the tests hold it to the twins too.

The layers and :func:`quantize_model` are in :mod:`minidl.compression.int_model`.
"""

import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _round_half_away(v):
    whole = np.trunc(v)
    return whole + np.sign(v) * (np.abs(v - whole) >= 0.5)


def quantize_multiplier(M):
    r"""Real multiplier(s) :math:`M > 0` to ``(M0, shift)``, :math:`M \approx M_0 2^{shift - 31}`.

    ``frexp`` writes :math:`M = f 2^{e}`, :math:`f \in [0.5, 1)`; :math:`M_0 = round(f 2^{31})`
    (half away from zero, TFLite's ``QuantizeMultiplier``) lies in :math:`[2^{30}, 2^{31}]`; the
    end case :math:`2^{31}` becomes :math:`2^{30}` with ``e + 1``. ``shift = e`` (negative: a
    right shift by :math:`n = -e`, the usual case :math:`M < 1`). :math:`M < 2^{-31}` gives
    ``M0 = 0`` (the product rounds to 0 anyway). Returns int64 arrays of ``M``'s shape.
    """
    M = np.asarray(M, dtype=np.float64)
    if not np.all(np.isfinite(M)) or np.any(M <= 0):
        raise ValueError(f"M (real multiplier) must be finite and > 0, got {M}")
    f, e = np.frexp(M)
    m0 = _round_half_away(f * 2.0**31).astype(np.int64)
    carry = m0 == 2**31
    m0, e = np.where(carry, m0 // 2, m0), np.where(carry, e + 1, e).astype(np.int64)
    tiny = e < -31
    return np.where(tiny, 0, m0), np.where(tiny, 0, e)


def saturating_rounding_doubling_high_mul(a, b):
    r"""gemmlowp's ``SaturatingRoundingDoublingHighMul``: :math:`\lfloor ab / 2^{31} + 1/2 \rfloor`.

    The high 32 bits of :math:`2ab`, rounded (ties toward :math:`+\infty`: the nudge is
    :math:`2^{30}` for :math:`ab \ge 0`, :math:`1 - 2^{30}` below, then C's truncating
    division); the one overflow, :math:`a = b = -2^{31}`, saturates to :math:`2^{31} - 1`.
    ``a``, ``b``: int32 values (any integer arrays, computed in int64).
    """
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    s = np.asarray(a * b)  # |ab| <= 2^62: exact in int64 (asarray: 0-d stays an array)
    negative = s < 0
    s += 1 << 30  # the nudge: 2^30 ...
    # ... or 1 - 2^30 when ab < 0. The conditional steps are products with the condition, not
    # ufuncs with where=: NumPy runs a masked ufunc element by element, 40 times slower here
    s -= negative * ((1 << 31) - 1)
    # C's s / 2^31 truncates toward zero: add 2^31 - 1 to a negative s, then shift (floor)
    s += (s < 0) * ((1 << 31) - 1)
    s >>= 31
    if np.any(a == INT32_MIN) and np.any(b == INT32_MIN):  # in-place ops above: check rarely
        s = np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, s)
    return s


def rounding_divide_by_pot(x, exponent):
    r"""gemmlowp's ``RoundingDivideByPOT``: :math:`x / 2^{e}` rounded half away from zero.

    ``mask = 2^e - 1``, ``remainder = x & mask``, ``threshold = (mask >> 1) + [x < 0]``; the
    result is ``(x >> e) + [remainder > threshold]`` (arithmetic shift = floor division).
    """
    x, e = np.asarray(x, dtype=np.int64), np.asarray(exponent, dtype=np.int64)
    if np.any(e < 0) or np.any(e > 62):
        raise ValueError(f"exponent must lie in [0, 62], got {exponent}")
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    out = x >> e
    out += remainder > threshold
    return out


def multiply_by_quantized_multiplier(x, m0, shift):
    r""":math:`x \cdot M` for :math:`M = M_0 2^{shift - 31}` in integers (TFLite's
    ``MultiplyByQuantizedMultiplier``): left shift for ``shift > 0`` (saturated to int32),
    :func:`saturating_rounding_doubling_high_mul` by ``M0``, then
    :func:`rounding_divide_by_pot` by ``-shift`` for ``shift < 0``. Rounding twice, the result
    is within :math:`1/2 + 2^{-(n+1)}` of :math:`xM` (plus M0's relative :math:`2^{-31}`), so
    up to one code from :math:`round(xM)`, as TFLite's reference kernels."""
    shift = np.asarray(shift, dtype=np.int64)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    x = np.clip(np.asarray(x, dtype=np.int64) << left, INT32_MIN, INT32_MAX)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, m0), right)


def saturating_rounding_doubling_high_mul_naive(a, b):
    """One pair of Python ints, line by line as gemmlowp's C++ (fixedpoint.h)."""
    a, b = int(a), int(b)
    overflow = a == b == INT32_MIN
    ab_64 = a * b
    nudge = (1 << 30) if ab_64 >= 0 else (1 - (1 << 30))
    num = ab_64 + nudge
    ab_x2_high32 = abs(num) // (1 << 31) * (1 if num >= 0 else -1)  # C truncating division
    return INT32_MAX if overflow else ab_x2_high32


def rounding_divide_by_pot_naive(x, exponent):
    """One Python int, line by line as gemmlowp's C++ (Python's & and >> are two's complement)."""
    x, exponent = int(x), int(exponent)
    mask = (1 << exponent) - 1
    zero, one = 0, 1
    remainder = x & mask
    threshold = (mask >> 1) + (one if x < zero else zero)
    return (x >> exponent) + (one if remainder > threshold else zero)


# requantize works on blocks of at most this many values (whole rows of acc's first axis): its
# steps then read and write arrays that stay in cache, not fresh ones in memory (64 x 32 x 26 x
# 26 accumulators, int8 out, gemmlowp's int64 steps: 27 ms whole, 14 in blocks of one image;
# Intel Xeon, one thread, December 2026)
BLOCK_VALUES = 2**15
# A block whose products |acc| M0 stay below this runs gemmlowp's two roundings in float64
# (_requantize_float), where every step is then exact: the same integers in a dozen passes
# over the block instead of twenty-odd (64 x 32 x 26 x 26: 16 -> 5.5 ms; Intel Xeon, one
# thread, December 2026).
FLOAT_EXACT_PRODUCT = 2**52


def requantize(acc, m0, shift, zero_point, qmin, qmax, dtype=np.int64):
    r""":math:`q_y = \mathrm{clamp}(Z_y + M \cdot acc, q_{min}, q_{max})` with
    :math:`M = M_0 2^{shift - 31}`, rounded as gemmlowp rounds
    (:func:`multiply_by_quantized_multiplier`), block by block of ``acc``'s rows
    (``BLOCK_VALUES``; ``m0`` and ``shift`` broadcast on it); the codes as ``dtype``.

    A block of int32-range integers with ``m0 >= 0``, ``shift <= 0`` and
    :math:`|acc| M_0 <` ``FLOAT_EXACT_PRODUCT`` (every 8-bit layer's) runs
    :func:`_requantize_float`, the others the int64 steps; both give the same integers."""
    acc, m0, shift = np.asarray(acc), np.asarray(m0), np.asarray(shift)
    # the multipliers' part of the float path's condition, once (the blocks check acc)
    largest_m0 = _float_multipliers(m0, shift) if np.issubdtype(acc.dtype, np.integer) else None
    if acc.ndim == 0 or acc.size <= BLOCK_VALUES:
        out = np.empty(np.broadcast_shapes(acc.shape, m0.shape, shift.shape), dtype=dtype)
        _requantize_block(acc, m0, shift, zero_point, qmin, qmax, out, largest_m0)
        return out
    out = np.empty(acc.shape, dtype=dtype)
    step = max(1, BLOCK_VALUES // max(1, acc[0].size))
    for a in range(0, acc.shape[0], step):
        rows = slice(a, a + step)
        _requantize_block(acc[rows], _rows(m0, rows, acc.ndim), _rows(shift, rows, acc.ndim),
                          zero_point, qmin, qmax, out[rows], largest_m0)  # fmt: skip
    return out


def _requantize_block(acc, m0, shift, zero_point, qmin, qmax, out, largest_m0):
    """One block of :func:`requantize` into ``out``: in float64 where that is exact."""
    if largest_m0 is not None and _float_exact(acc, largest_m0):
        _requantize_float(acc, m0, shift, zero_point, qmin, qmax, out)
        return
    q = np.clip(zero_point + multiply_by_quantized_multiplier(acc, m0, shift), qmin, qmax)
    np.copyto(out, q, casting="unsafe")  # in [qmin, qmax]: fits the codes' dtype


def _float_multipliers(m0, shift):
    """The largest ``m0`` if the multipliers allow :func:`_requantize_float` (integers, no left
    shift, ``m0 >= 0``), else None."""
    if m0.size == 0 or shift.size == 0:
        return None
    if not (np.issubdtype(m0.dtype, np.integer) and np.issubdtype(shift.dtype, np.integer)):
        return None
    if m0.min() < 0 or shift.max() > 0:
        return None
    return int(m0.max())


def _float_exact(acc, largest_m0):
    """Whether :func:`_requantize_float` gives gemmlowp's integers for this block of integer
    ``acc`` whose multipliers allow it (:func:`_float_multipliers`): ``acc`` in int32's range
    (gemmlowp's input) and :math:`|acc| M_0` below ``FLOAT_EXACT_PRODUCT``, so the product and
    the nudge are exact."""
    if acc.size == 0:
        return False
    lo, hi = int(acc.min()), int(acc.max())
    if lo < INT32_MIN or hi > INT32_MAX:
        return False
    return max(-lo, hi) * largest_m0 < FLOAT_EXACT_PRODUCT


def _requantize_float(acc, m0, shift, zero_point, qmin, qmax, out):
    r"""gemmlowp's two roundings as formulas, in float64 (exact when :func:`_float_exact`):

    .. math:: u = \lfloor acc\, M_0 2^{-31} + 1/2 \rfloor
              \quad (\text{SaturatingRoundingDoublingHighMul}), \qquad
              v = \operatorname{sign}(w) \lfloor |w| + 1/2 \rfloor,\;
              w = u\, 2^{shift} \quad (\text{RoundingDivideByPOT})

    then :math:`\mathrm{clamp}(Z_y + v, q_{min}, q_{max})`. Exact: :math:`|acc M_0| < 2^{52}` is
    a product without rounding and the powers of two scale exactly; :math:`|t| < 2^{21}`, a
    multiple of :math:`2^{-31}`, takes its 1/2 exactly; :math:`|u| \le 2^{21}`, so for
    :math:`n = -shift \le 22` the sum :math:`w \pm 1/2` is exact, and beyond it
    :math:`|w| \le 1/4`, whose :math:`v = 0` no rounding of that sum can change."""
    t = np.multiply(acc, m0 * 2.0**-31, out=np.empty(out.shape))  # acc M0 / 2^31, unrounded
    t += 0.5
    np.floor(t, out=t)  # u
    t *= np.exp2(shift.astype(np.float64))  # w = u / 2^n
    t += np.copysign(0.5, t)
    np.trunc(t, out=t)  # v: |w| + 1/2 rounded down, the sign put back (half away from zero)
    t += zero_point
    np.clip(t, qmin, qmax, out=t)
    np.copyto(out, t, casting="unsafe")  # integers in [qmin, qmax]


def _rows(a, rows, ndim):
    """``a``'s part for ``rows`` of an ``ndim``-D array it broadcasts on: ``a[rows]`` if ``a``
    has that axis in full, else ``a`` (a size-1 or missing first axis broadcasts as it is)."""
    a = np.asarray(a)
    return a[rows] if a.ndim == ndim and a.shape[0] > 1 else a
