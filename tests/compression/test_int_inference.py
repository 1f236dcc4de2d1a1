"""Fixed-point requantization arithmetic (gemmlowp / TFLite), checked against exact rationals.

The references below use Python's ``fractions.Fraction``: exact, and independent of the
shift-and-mask tricks being tested.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from requantize_twins import requantize_twins

from minidl.compression import int_inference
from minidl.compression.int_inference import (
    INT32_MAX,
    INT32_MIN,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    requantize,
    rounding_divide_by_pot,
    rounding_divide_by_pot_naive,
    saturating_rounding_doubling_high_mul,
    saturating_rounding_doubling_high_mul_naive,
)

EDGES = [INT32_MIN, INT32_MIN + 1, -(2**30), -3, -1, 0, 1, 2, 3, 2**30, INT32_MAX - 1, INT32_MAX]


def _int32s(rng, n):
    return np.concatenate([EDGES, rng.integers(INT32_MIN, INT32_MAX, size=n, endpoint=True)])


def test_quantize_multiplier_hand_values():
    m0, shift = quantize_multiplier([0.5, 0.3, 1.0, 1 - 2.0**-40, 1e-12])
    # 0.3 = 0.6 * 2^-1, round(0.6 * 2^31) = round(1288490188.8) = 1288490189
    np.testing.assert_array_equal(m0, [2**30, 1288490189, 2**30, 2**30, 0])
    np.testing.assert_array_equal(shift, [0, -1, 1, 1, 0])  # 1 - 2^-40 carries to 2^30 * 2^-29


def test_quantize_multiplier_range_and_precision(rng):
    M = np.exp(rng.uniform(np.log(1e-6), np.log(50), size=500))
    m0, shift = quantize_multiplier(M)
    assert np.all((m0 >= 2**30) & (m0 < 2**31))
    approx = np.array(
        [Fraction(int(a)) * Fraction(2) ** int(s - 31) for a, s in zip(m0, shift, strict=True)]
    )
    err = np.array(
        [abs(a - Fraction(float(m))) / Fraction(float(m)) for a, m in zip(approx, M, strict=True)]
    )
    assert float(err.max()) <= 2.0**-31  # half a unit in the 31st bit, relative to M >= 2^30


def test_quantize_multiplier_bad_inputs():
    for bad in (0.0, -0.5, np.nan, np.inf):
        with pytest.raises(ValueError, match="M"):
            quantize_multiplier(bad)


def test_srdhm_hand_values():
    f = saturating_rounding_doubling_high_mul
    assert f(2**30, 1) == 1  # 0.5 rounds up
    assert f(-(2**30), 1) == 0  # -0.5 rounds up too (toward +inf)
    assert f(-(2**30) - 1, 1) == -1
    assert f(INT32_MIN, INT32_MIN) == INT32_MAX  # the one overflow saturates
    assert f(INT32_MAX, INT32_MAX) == INT32_MAX - 1  # (2^31 - 1)^2 / 2^31 = 2^31 - 2 + 2^-31


def test_srdhm_matches_exact_rounding_and_naive_twin(rng):
    a, b = _int32s(rng, 2000), _int32s(rng, 2000)[::-1]
    fast = saturating_rounding_doubling_high_mul(a, b)
    for x, y, got in zip(a.tolist(), b.tolist(), fast.tolist(), strict=True):
        exact = math.floor(Fraction(x * y, 2**31) + Fraction(1, 2))
        expected = INT32_MAX if x == y == INT32_MIN else exact
        assert got == expected == saturating_rounding_doubling_high_mul_naive(x, y), (x, y)


def _round_half_away(fr):
    return int(math.copysign(math.floor(abs(fr) + Fraction(1, 2)), fr))


def test_rounding_divide_by_pot_hand_values():
    got = rounding_divide_by_pot(np.array([5, -5, 6, -6, 7, -7, -6]), np.array([1] * 6 + [2]))
    np.testing.assert_array_equal(got, [3, -3, 3, -3, 4, -4, -2])  # halves away from zero


def test_rounding_divide_by_pot_matches_exact_rounding_and_naive_twin(rng):
    x = _int32s(rng, 1500)
    e = rng.integers(0, 32, size=x.size)
    fast = rounding_divide_by_pot(x, e)
    for xi, ei, got in zip(x.tolist(), e.tolist(), fast.tolist(), strict=True):
        expected = _round_half_away(Fraction(xi, 2**ei))
        assert got == expected == rounding_divide_by_pot_naive(xi, ei), (xi, ei)
    with pytest.raises(ValueError, match="exponent"):
        rounding_divide_by_pot(5, -1)


def test_multiply_by_quantized_multiplier_error_bound(rng):
    """x M through M0 2^(shift - 31) rounds twice: the high multiply rounds x M 2^n to an
    integer (error <= 1/2), the shift by n rounds again (<= 1/2), so |result - x M| <=
    1/2 + 2^-(n+1) + |x| M 2^-31 (the last term from M0's own rounding). For n = 1 (M = 0.31)
    that double rounding makes about a quarter of the results differ from round(x M) by one,
    as in TFLite; never by more than one."""
    x = rng.integers(-(2**24), 2**24, size=3000)
    for M in (0.0007, 0.31, 0.999, 1.7, 3.25):
        m0, shift = quantize_multiplier(M)
        n = max(-int(shift), 0)
        got = multiply_by_quantized_multiplier(x, m0, shift)
        for xi, gi in zip(x.tolist(), got.tolist(), strict=True):
            exact = Fraction(xi) * Fraction(M)
            bound = Fraction(1, 2) + Fraction(1, 2 ** (n + 1)) + abs(exact) / 2**31
            assert abs(gi - exact) <= bound, (M, xi)
            assert abs(gi - _round_half_away(exact)) <= 1


@pytest.mark.parametrize("full_axis", [False, True])
def test_requantize_in_blocks_is_the_naive_twins_value_by_value(rng, monkeypatch, full_axis):
    """requantize works on blocks of rows: with blocks of two rows here, each value must still
    be clamp(Z + x M) as the scalar twins compute it, the multipliers broadcast per channel
    (axis 1) or given per value (their first axis then cut with the rows)."""
    monkeypatch.setattr(int_inference, "BLOCK_VALUES", 2 * 3 * 5 * 4)
    acc = rng.integers(-(2**22), 2**22, size=(7, 3, 5, 4))
    m0, shift = quantize_multiplier(rng.uniform(1e-4, 2.5, size=3))  # M >= 1: a left shift
    m0, shift = m0.reshape(1, -1, 1, 1), shift.reshape(1, -1, 1, 1)
    if full_axis:
        m0, shift = np.broadcast_to(m0, acc.shape), np.broadcast_to(shift, acc.shape)
    got = requantize(acc, m0, shift, 5, -128, 127)
    assert got.shape == acc.shape
    for idx in np.ndindex(*acc.shape):
        one = (0, idx[1], 0, 0) if not full_axis else idx
        m, e = int(m0[one]), int(shift[one])
        x = min(max(int(acc[idx]) << max(e, 0), INT32_MIN), INT32_MAX)
        scaled = rounding_divide_by_pot_naive(saturating_rounding_doubling_high_mul_naive(x, m),
                                              max(-e, 0))  # fmt: skip
        assert got[idx] == min(max(5 + scaled, -128), 127), idx


def test_requantize_in_float64_is_the_naive_twins_on_ties(rng, monkeypatch):
    """The float64 path (gemmlowp's roundings as floor formulas) against the scalar twins, on
    every kind of tie, each channel given the same accumulators: M0 = 2^30 halves acc exactly
    (odd acc: a tie of the high multiply) before shifts of 0 to 3 and 7 (u a half-multiple of
    2^n: a tie of the divide, both signs); shifts of 22, 23 and 31 (|w| <= 1/4 from 23 on); the
    largest |acc| any M0 keeps on the path; random multipliers below 1. In blocks of two rows;
    counted: every block took the float path."""
    calls = []
    float_path = int_inference._requantize_float
    monkeypatch.setattr(int_inference, "_requantize_float",
                        lambda *a: calls.append(1) or float_path(*a))  # fmt: skip
    shifts = np.array([0, -1, -2, -3, -7, -22, -23, -31])
    m0 = np.array([2**30] * 5 + list(quantize_multiplier(rng.uniform(1e-4, 1, size=3))[0]))
    limit = (2**52 - 1) // (2**31 - 1)  # |acc| below which any M0 < 2^31 keeps the path
    ties_of_7 = 2 * (np.arange(-20, 21) * 128 + 64)  # u = 128 k + 64 after halving
    values = np.concatenate([np.arange(-40, 41), ties_of_7, [limit, -limit, 2**21, -(2**21)],
                             rng.integers(-limit, limit, size=39)])  # fmt: skip
    acc = np.repeat(values.reshape(-1, 1, 15), 8, axis=1)  # (11 rows, 8 channels, 15)
    monkeypatch.setattr(int_inference, "BLOCK_VALUES", 2 * acc[0].size)
    m0s = np.broadcast_to(m0[None, :, None], acc.shape)
    shifts_b = np.broadcast_to(shifts[None, :, None], acc.shape)
    got = requantize(acc, m0s[:1], shifts_b[:1], -3, -(2**20), 2**20)
    np.testing.assert_array_equal(got, requantize_twins(acc, m0s, shifts_b, -3, -(2**20), 2**20))
    assert len(calls) == 6  # 11 rows in blocks of 2


def test_requantize_takes_the_int64_steps_outside_the_float_bound(monkeypatch):
    """Accumulators the float path cannot hold exactly take the int64 steps, one condition at
    a time (|acc| M0 from 2^52; acc past int32, which gemmlowp clamps first; a left shift; a
    negative M0), and still equal the scalar twins; a control just inside the bound takes the
    float path. The codes come out in the dtype asked for."""
    calls = []
    float_path = int_inference._requantize_float
    monkeypatch.setattr(int_inference, "_requantize_float",
                        lambda *a: calls.append(1) or float_path(*a))  # fmt: skip
    big = 2**52 // (2**31 - 1) + 1  # with M0 = 2^31 - 1 the product passes 2^52
    cases = [  # (acc, m0, shift, takes the float path)
        ([1, big - 1], 2**31 - 1, -2, True),
        ([1, big], 2**31 - 1, -2, False),
        ([5, -big], 2**31 - 1, -2, False),
        ([7, 2**33], 2**30, 0, False),
        ([3, -1], 2**30, 1, False),
        ([9, 4], -(2**30), -1, False),
    ]
    for acc, m0, shift, on_float in cases:
        calls.clear()
        acc, m0, shift = np.array([acc]), np.array([[m0]]), np.array([[shift]])
        want = requantize_twins(acc, np.broadcast_to(m0, acc.shape),
                                 np.broadcast_to(shift, acc.shape), 1, -(2**31), 2**31)  # fmt: skip
        np.testing.assert_array_equal(requantize(acc, m0, shift, 1, -(2**31), 2**31), want)
        assert bool(calls) == on_float, (acc, m0, shift)
    acc, m0, shift = np.array([[3, -1]]), np.array([[2**30]]), np.array([[-1]])
    small = requantize(acc, m0, shift, 2, -128, 127, dtype=np.int8)
    assert small.dtype == np.int8
    np.testing.assert_array_equal(small, requantize(acc, m0, shift, 2, -128, 127))
