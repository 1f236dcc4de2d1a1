"""Fixed point (articles 003/004), affine/symmetric quantization, SQNR, binary/ternary weights.

Expected values are worked out by hand in the comments; PyTorch agreement is in
tests/crosscheck/test_quantization_torch.py.
"""

import numpy as np
import pytest

from minidl.compression import quantization
from minidl.compression.qat import fake_quantize
from minidl.compression.quantization import (
    FLOAT32_EPS,
    binarize_weights,
    choose_qparams,
    dequantize,
    integer_dtype,
    qrange,
    quantize,
    quantize_codes,
    quantize_fixed_point,
    quantize_fixed_point_literal,
    sqnr_db,
    ternarize_weights,
)

# ---------------------------------------------------------------- fixed point (articles 003/004)


def test_fixed_point_hand_values():
    # p = 2: step 1/4. 0.3*4 = 1.2 -> 1 -> 0.25; (1/3)*4 = 1.33 -> 1; 0.9*4 = 3.6 -> 4 -> 1.0
    w = np.array([0.3, -0.3, 1 / 3, 0.9], dtype=np.float64)
    np.testing.assert_array_equal(quantize_fixed_point(w, 2), [0.25, -0.25, 0.25, 1.0])


def test_fixed_point_ties_text_vs_code_rounding():
    # 0.625 * 4 = 2.5 exactly: 四舍五入 (the text) gives 3, np.round (the code) gives 2.
    w = np.array([0.625, -0.625, 0.375], dtype=np.float32)
    np.testing.assert_array_equal(quantize_fixed_point(w, 2), [0.75, -0.75, 0.5])
    np.testing.assert_array_equal(
        quantize_fixed_point(w, 2, rounding="half_even"), [0.5, -0.5, 0.5]
    )
    np.testing.assert_array_equal(quantize_fixed_point_literal(w, 2), [2.0, -2.0, 2.0])


def test_fixed_point_grid_and_error_bound(rng):
    w = rng.normal(size=1000).astype(np.float32)
    for p in (0, 3, 8):
        wq = quantize_fixed_point(w, p)
        assert wq.dtype == np.float32
        codes = wq.astype(np.float64) * 2.0**p
        np.testing.assert_array_equal(codes, np.round(codes))  # on the 2^-p grid
        assert np.max(np.abs(wq - w)) <= 2.0 ** -(p + 1) * (1 + 1e-6)


def test_fixed_point_word_length_saturates():
    # p = 4, bits = 4: codes in [-8, 7], values in [-0.5, 0.4375]
    w = np.array([1.0, -1.0, 0.1], dtype=np.float64)
    np.testing.assert_array_equal(quantize_fixed_point(w, 4, bits=4), [7 / 16, -0.5, 2 / 16])


def test_fixed_point_is_symmetric_quantization_with_scale_two_to_minus_p(rng):
    w = rng.normal(size=(5, 7))
    direct = quantize_fixed_point(w, 5, bits=8, rounding="half_even")
    via_affine = dequantize(quantize(w, 2.0**-5, 0, bits=8), 2.0**-5, 0, dtype=np.float64)
    np.testing.assert_array_equal(direct, via_affine)


def test_fixed_point_literal_is_two_to_the_p_times_too_large(rng):
    # The article's code never divides by 2^p: its "weights" are 256x the quantized weights.
    w = rng.normal(size=200)
    lit = quantize_fixed_point_literal(w, 8)
    np.testing.assert_array_equal(lit, 256 * quantize_fixed_point(w, 8, rounding="half_even"))
    x = rng.normal(size=(3, 200))
    y_true, y_lit = x @ w, x @ lit
    np.testing.assert_allclose(y_lit / y_true, 256, rtol=0.05)  # every output scaled by ~256


def test_fixed_point_bad_inputs():
    w = np.ones(3)
    with pytest.raises(TypeError, match="p"):
        quantize_fixed_point(w, 2.5)
    with pytest.raises(ValueError, match="rounding"):
        quantize_fixed_point(w, 2, rounding="up")
    with pytest.raises(ValueError, match="w"):
        quantize_fixed_point(np.array([np.nan]), 2)
    with pytest.raises(ValueError, match="bits"):
        quantize_fixed_point(w, 2, bits=0)


# ---------------------------------------------------------------- ranges and qparams


@pytest.mark.parametrize(
    "bits, signed, narrow, expected",
    [
        (8, True, False, (-128, 127)),
        (8, False, False, (0, 255)),
        (8, True, True, (-127, 127)),
        (8, False, True, (1, 255)),
        (1, True, False, (-1, 0)),
        (1, False, False, (0, 1)),
        (4, True, False, (-8, 7)),
        (32, True, False, (-(2**31), 2**31 - 1)),
        (32, False, False, (0, 2**32 - 1)),
    ],
)
def test_qrange(bits, signed, narrow, expected):
    assert qrange(bits, signed, narrow) == expected


def test_integer_dtype():
    assert integer_dtype(8) == np.int8 and integer_dtype(4, signed=False) == np.uint8
    assert integer_dtype(9) == np.int16 and integer_dtype(32, signed=False) == np.uint32


@pytest.mark.parametrize("bits", [0, 33, -1])
def test_bits_out_of_range(bits):
    with pytest.raises(ValueError, match="bits"):
        qrange(bits)
    with pytest.raises(ValueError, match="bits"):
        choose_qparams(-1.0, 1.0, bits=bits)
    with pytest.raises(ValueError, match="bits"):
        quantize(np.zeros(3, np.float32), 1.0, 0, bits=bits)


def test_bits_type_and_narrow_range_errors():
    with pytest.raises(TypeError, match="bits"):
        qrange(8.0)
    with pytest.raises(ValueError, match="narrow_range"):
        qrange(1, signed=True, narrow_range=True)


def test_choose_qparams_affine_hand_values():
    # [-1, 3], uint8: S = 4/255, Z = 0 - round(-1 / S) = round(63.75) = 64
    s, z = choose_qparams(-1.0, 3.0, signed=False)
    assert s == np.float32(4) / np.float32(255) and z == 64
    s, z = choose_qparams(-1.0, 3.0, signed=True)  # int8: Z = -128 + 64
    assert z == -64
    # [0.5, 2] is widened to [0, 2]: S = 2/255, Z = 0 (0 must be exact)
    s, z = choose_qparams(0.5, 2.0, signed=False)
    assert s == np.float32(2) / np.float32(255) and z == 0
    # [-2, -1] is widened to [-2, 0]: Z = 0 - round(-2 / (2/255)) = 255
    assert choose_qparams(-2.0, -1.0, signed=False)[1] == 255


def test_choose_qparams_symmetric_hand_values():
    s, z = choose_qparams(-1.0, 3.0, symmetric=True)  # max|x| = 3 over 255/2
    assert s == np.float32(3) / np.float32(127.5) and z == 0
    s, z = choose_qparams(-1.0, 3.0, symmetric=True, narrow_range=True)  # 3 over 127
    assert s == np.float32(3) / np.float32(127) and z == 0
    assert choose_qparams(-1.0, 3.0, symmetric=True, signed=False)[1] == 128
    assert choose_qparams(-1.0, 3.0, bits=4, symmetric=True, signed=False)[1] == 8


def test_choose_qparams_constant_tensor_does_not_divide_by_zero():
    s, z = choose_qparams(0.0, 0.0, signed=False)
    assert s == np.float32(FLOAT32_EPS) and z == 0
    s, z = choose_qparams(0.0, 0.0, symmetric=True)
    assert s == np.float32(FLOAT32_EPS) and z == 0
    x = np.zeros(5, np.float32)
    s, z = choose_qparams(x.min(), x.max())
    np.testing.assert_array_equal(dequantize(quantize(x, s, z), s, z), x)
    s, z = choose_qparams(5.0, 5.0, signed=False)  # constant 5: range [0, 5]
    np.testing.assert_allclose(s, 5 / 255, rtol=1e-7)


def test_choose_qparams_per_channel_matches_per_tensor_calls():
    lo, hi = np.array([-1.0, 0.2, -3.0]), np.array([3.0, 0.9, -0.5])
    s, z = choose_qparams(lo, hi)
    assert s.shape == (3,) and s.dtype == np.float32 and z.dtype == np.int64
    for c in range(3):
        sc, zc = choose_qparams(lo[c], hi[c])
        assert s[c] == sc and z[c] == zc


def test_choose_qparams_bad_inputs():
    with pytest.raises(ValueError, match="x_min"):
        choose_qparams(2.0, 1.0)
    with pytest.raises(ValueError, match="x_min"):
        choose_qparams(np.nan, 1.0)
    with pytest.raises(ValueError, match="x_max"):
        choose_qparams(0.0, np.inf)
    with pytest.raises(ValueError, match="same shape"):
        choose_qparams(np.zeros(2), np.ones(3))
    with pytest.raises(ValueError, match="eps"):
        choose_qparams(0.0, 1.0, eps=0.0)


# ---------------------------------------------------------------- quantize / dequantize


def test_quantize_hand_values_and_clamp():
    # S = 0.5, Z = 3, uint4 [0, 15]: x/S = [-2, 0, 1, 2, 5.2, 200, -200] -> [1, 3, 4, 5, 8, 15, 0]
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.6, 100.0, -100.0], dtype=np.float32)
    q = quantize(x, 0.5, 3, bits=4, signed=False)
    assert q.dtype == np.uint8
    np.testing.assert_array_equal(q, [1, 3, 4, 5, 8, 15, 0])
    np.testing.assert_array_equal(dequantize(q, 0.5, 3), [-1.0, 0.0, 0.5, 1.0, 2.5, 6.0, -1.5])


def test_quantize_ties_round_half_to_even_and_zero_point_order():
    # x/S = 0.5, 1.5, 2.5 with Z = 3: round(x/S) + Z = [3, 5, 5]; round(x/S + Z) = [4, 4, 6]
    x = np.array([0.25, 0.75, 1.25], dtype=np.float32)
    np.testing.assert_array_equal(quantize(x, 0.5, 3), [3, 5, 5])
    np.testing.assert_array_equal(quantize(x, 0.5, 3, zero_point_before_rounding=True), [4, 4, 6])
    np.testing.assert_array_equal(quantize(x, 0.5, 4), [4, 6, 6])  # even Z: the same either way
    np.testing.assert_array_equal(quantize(x, 0.5, 4, zero_point_before_rounding=True), [4, 6, 6])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_error_at_most_half_a_step(rng, dtype):
    x = rng.uniform(-2, 5, size=(40, 9)).astype(dtype)
    s, z = choose_qparams(x.min(), x.max())
    xr = dequantize(quantize(x, s, z), s, z, dtype=dtype)
    assert xr.dtype == dtype
    assert np.max(np.abs(xr - x)) <= s / 2 * (1 + 1e-5)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_per_channel_equals_per_tensor_on_each_slice(rng, axis):
    x = rng.normal(size=(4, 3, 5, 2)).astype(np.float32)
    ax = axis % x.ndim
    others = tuple(a for a in range(x.ndim) if a != ax)
    s, z = choose_qparams(x.min(axis=others), x.max(axis=others), signed=False)
    q = quantize(x, s, z, signed=False, axis=axis)
    xr = dequantize(q, s, z, axis=axis)
    for c in range(x.shape[ax]):
        xc = np.take(x, c, axis=ax)
        qc = quantize(xc, s[c], z[c], signed=False)
        np.testing.assert_array_equal(np.take(q, c, axis=ax), qc)
        np.testing.assert_array_equal(np.take(xr, c, axis=ax), dequantize(qc, s[c], z[c]))


def test_wide_codes():
    x = np.array([1e9, -1e9, 3e9], dtype=np.float64)
    np.testing.assert_array_equal(quantize(x, 1.0, 0, bits=32), [10**9, -(10**9), 2**31 - 1])
    q = quantize(np.array([4e9]), 1.0, 0, bits=32, signed=False)
    assert q.dtype == np.uint32 and q[0] == 4 * 10**9


def test_huge_values_clamp_without_warning():
    x = np.array([3e38, -3e38, np.inf], dtype=np.float32)
    np.testing.assert_array_equal(quantize(x, 1e-3, 0), [127, -128, 127])


def _awkward_values(rng, dtype, n=201):
    """Values that probe the codes' edges at scale 0.25: ties (x/S = k + 1/2), signed zeros,
    the clamp's ends, values whose code passes float32's exact integers, infinities."""
    special = [0.0, -0.0, 0.125, -0.125, 0.375, -0.375, 31.875, -32.125, 1e7, -1e7, 3e38, -3e38,
               np.inf, -np.inf, 1e-30, -1e-30]  # fmt: skip
    return np.concatenate([special, rng.normal(0, 20, size=n)]).astype(dtype)


CODE_CASES = [  # bits, signed, narrow_range, zero point, zero_point_before_rounding
    (8, True, False, 3, False), (8, True, False, 3, True), (8, False, False, 128, False),
    (4, False, False, 5, True), (8, True, True, 0, False), (16, True, False, -7, False),
    (24, True, False, 100, False), (24, False, False, 2**23 + 1, True),  # float32's last fit
    (25, True, False, 9, False), (32, False, False, 2**31, False),  # float64 codes
]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bits, signed, narrow, zp, zp_first", CODE_CASES)
def test_quantize_in_blocks_equals_the_float64_formula(rng, monkeypatch, dtype, bits, signed,
                                                       narrow, zp, zp_first):  # fmt: skip
    """quantize computes the codes in x's precision, block by block; the formula in float64,
    clamp(round(x / S) + Z) (quantize_codes), must give the same codes, and fake_quantize
    the same x_hat (bit for bit, signed zeros included) and STE mask."""
    monkeypatch.setattr(quantization, "BLOCK_VALUES", 16)  # 14 blocks, the last one short
    x = _awkward_values(rng, dtype).reshape(7, 31)
    qmin, qmax = qrange(bits, signed, narrow)
    codes = quantize_codes(x, 0.25, zp, qmin, qmax, zero_point_before_rounding=zp_first)
    got = quantize(x, 0.25, zp, bits, signed, narrow, zero_point_before_rounding=zp_first)
    assert got.dtype == integer_dtype(bits, signed)
    np.testing.assert_array_equal(got, np.clip(codes, qmin, qmax).astype(got.dtype))
    transposed = quantize(x.T, 0.25, zp, bits, signed, narrow, zero_point_before_rounding=zp_first)
    np.testing.assert_array_equal(transposed, got.T)  # a view in another order: blocks of a copy
    if zp_first:
        return  # fake quantization rounds before adding Z only
    x_hat, mask = fake_quantize(x, 0.25, zp, bits, signed, narrow)
    want = ((np.clip(codes, qmin, qmax) - zp).astype(dtype) * dtype(0.25)).astype(dtype)
    assert x_hat.dtype == dtype
    np.testing.assert_array_equal(x_hat.view(f"u{x.itemsize}"), want.view(f"u{x.itemsize}"))
    np.testing.assert_array_equal(mask, (codes >= qmin) & (codes <= qmax))


@pytest.mark.parametrize("axis", [0, 1])
def test_per_channel_codes_equal_the_float64_formula(rng, axis):
    x = _awkward_values(rng, np.float32, n=236).reshape(6, 7, 6)
    s = np.array([0.25, 0.5, 1e-3, 3.0, 0.1, 7.0, 2.0][: x.shape[axis]], dtype=np.float32)
    z = np.array([0, 3, -5, 127, -128, 1, 2][: x.shape[axis]])
    codes = quantize_codes(x, s, z, -128, 127, axis=axis)
    np.testing.assert_array_equal(quantize(x, s, z, axis=axis),
                                  np.clip(codes, -128, 127).astype(np.int8))  # fmt: skip
    shape = [1, 1, 1]
    shape[axis] = -1
    want = (np.clip(codes, -128, 127) - z.reshape(shape)).astype(np.float32) * s.reshape(shape)
    x_hat, mask = fake_quantize(x, s, z, axis=axis)
    np.testing.assert_array_equal(x_hat.view(np.uint32), want.view(np.uint32))
    np.testing.assert_array_equal(mask, (codes >= -128) & (codes <= 127))


def test_nan_in_a_later_block_is_refused(monkeypatch):
    monkeypatch.setattr(quantization, "BLOCK_VALUES", 4)
    x = np.zeros(10, dtype=np.float32)
    x[9] = np.nan
    for f in (lambda: quantize(x, 0.5, 0), lambda: fake_quantize(x, 0.5, 0)):
        with pytest.raises(ValueError, match="NaN"):
            f()


@pytest.mark.parametrize("code_dtype, zp, float_dtype", [
    (np.int8, 3, np.float32), (np.uint8, 128, np.float32), (np.int16, -300, np.float32),
    (np.int32, 5, np.float32), (np.uint32, 2**31, np.float64), (np.int64, 2**40, np.float32),
])  # fmt: skip
def test_dequantize_equals_the_int64_formula(rng, code_dtype, zp, float_dtype):
    """dequantize subtracts Z in the float dtype where it holds q - Z exactly (int8/int16 codes
    into float32), else in int64 first; both must be float(q - Z) * float(S) bit for bit."""
    info = np.iinfo(code_dtype)
    q = np.concatenate([[info.min, info.max, 0], rng.integers(info.min, info.max, size=300,
                                                                dtype=code_dtype)])  # fmt: skip
    q = q.astype(code_dtype)
    got = dequantize(q, 0.37, zp, dtype=float_dtype)
    want = (q.astype(np.int64) - zp).astype(float_dtype) * np.asarray(0.37, dtype=float_dtype)
    assert got.dtype == float_dtype
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{got.itemsize}"))


def test_quantize_bad_inputs():
    x = np.zeros((2, 3), np.float32)
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="scale"):
            quantize(x, bad, 0)
        with pytest.raises(ValueError, match="scale"):
            dequantize(np.zeros(3, np.int8), bad, 0)
    with pytest.raises(ValueError, match="zero_point"):
        quantize(x, 1.0, 200)  # int8 range
    with pytest.raises(ValueError, match="zero_point"):
        quantize(x, 1.0, -1, signed=False)
    with pytest.raises(TypeError, match="zero_point"):
        quantize(x, 1.0, 1.5)
    with pytest.raises(ValueError, match="axis"):
        quantize(x, np.ones(3), np.zeros(3, int), axis=2)
    with pytest.raises(ValueError, match="axis"):
        quantize(x, np.ones(3), np.zeros(3, int), axis=0)  # 3 scales, 2 channels on axis 0
    with pytest.raises(ValueError, match="axis"):
        quantize(x, np.ones(3), np.zeros(3, int))  # per-channel scale without axis
    with pytest.raises(ValueError, match="NaN"):
        quantize(np.array([1.0, np.nan]), 1.0, 0)
    with pytest.raises(TypeError, match="x"):
        quantize(np.zeros(3, np.int32), 1.0, 0)
    with pytest.raises(TypeError, match="q"):
        dequantize(np.zeros(3, np.float32), 1.0, 0)
    with pytest.raises(TypeError, match="dtype"):
        dequantize(np.zeros(3, np.int8), 1.0, 0, dtype=np.int32)


# ---------------------------------------------------------------- SQNR


def test_sqnr_hand_values():
    x = np.array([1.0, 1.0])
    assert sqnr_db(x, np.array([1.0, 0.0])) == pytest.approx(10 * np.log10(2), abs=1e-12)
    assert sqnr_db(x, x) == np.inf
    with pytest.raises(ValueError, match="all zeros"):
        sqnr_db(np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="x_hat"):
        sqnr_db(x, np.ones(3))


def test_sqnr_six_db_per_bit_on_uniform_data(rng):
    r"""A b-bit affine quantizer on U(-1, 1): step :math:`\Delta = 2 / (2^b - 1)`, noise
    :math:`\Delta^2/12`, signal 1/3, so SQNR = :math:`20 \log_{10}(2^b - 1)` dB, slope
    :math:`6.02 \cdot 2^b / (2^b - 1)`: least-squares over b = 4..12 that is 6.085 dB/bit,
    0.065 above 6.02 (the -1 in :math:`2^b - 1`). The sampling error of the noise power with
    n = 200000 is ~0.9/sqrt(n) = 0.2 % = 0.009 dB per point, ~0.003 dB/bit on the slope. So:
    each point within 0.05 dB of theory, the slope within 0.01 of the theory's 6.085 and within
    0.1 of 6.02 (= 10 log10 4, the ideal 2^b-level quantizer).
    """
    x = rng.uniform(-1, 1, size=200_000)
    x[:2] = [-1.0, 1.0]  # the calibrated range is exactly [-1, 1]
    bits = np.arange(4, 13)
    measured = []
    for b in bits:
        s, z = choose_qparams(x.min(), x.max(), bits=int(b), signed=False)
        q = quantize(x, s, z, bits=int(b), signed=False)
        measured.append(sqnr_db(x, dequantize(q, s, z, dtype=np.float64)))
    theory = 20 * np.log10(2.0**bits - 1)
    np.testing.assert_allclose(measured, theory, atol=0.05)
    slope = np.polyfit(bits, measured, 1)[0]
    assert slope == pytest.approx(np.polyfit(bits, theory, 1)[0], abs=0.01)
    assert slope == pytest.approx(20 * np.log10(2), abs=0.1)


# ---------------------------------------------------------------- binary / ternary weights


def test_binarize_hand_values():
    w = np.array([0.5, -1.5, 0.0, 2.0])  # mean|w| = 1
    w_hat, alpha = binarize_weights(w)
    np.testing.assert_array_equal(w_hat, [1.0, -1.0, 1.0, 1.0])
    assert alpha == 1.0


def test_binarize_alpha_is_least_squares_optimal(rng):
    w = rng.normal(size=(6, 4, 3, 3))
    w_hat, alpha = binarize_weights(w, axis=0)
    assert alpha.shape == (6, 1, 1, 1)
    for o in range(6):
        b = np.sign(w[o]).ravel()
        best = np.linalg.lstsq(b[:, None], w[o].ravel(), rcond=None)[0][0]
        assert alpha[o, 0, 0, 0] == pytest.approx(best, rel=1e-12)
        np.testing.assert_allclose(w_hat[o], best * np.sign(w[o]), rtol=1e-12)


def test_ternarize_hand_values():
    # mean|w| = 3.35 / 5 = 0.67, delta = 0.469: keeps 1.0 and -2.0, alpha = 1.5
    w = np.array([0.1, -0.2, 1.0, -2.0, 0.05])
    w_hat, alpha, delta = ternarize_weights(w)
    assert delta == pytest.approx(0.469) and alpha == pytest.approx(1.5)
    np.testing.assert_allclose(w_hat, [0, 0, 1.5, -1.5, 0])


def test_ternarize_per_channel_and_alpha_optimal(rng):
    w = rng.normal(size=(5, 8)).astype(np.float32)
    w_hat, alpha, _ = ternarize_weights(w, axis=0)
    assert w_hat.dtype == np.float32 and alpha.shape == (5, 1)
    for o in range(5):
        t = np.sign(w_hat[o]).astype(np.float64)
        assert set(np.unique(t)) <= {-1.0, 0.0, 1.0}
        best = np.linalg.lstsq(t[:, None], w[o].astype(np.float64), rcond=None)[0][0]
        assert alpha[o, 0] == pytest.approx(best, rel=1e-6)


def _best_ternary_threshold(w):
    """Brute force over every |w_i| as threshold: error = sum w^2 - (sum_kept |w|)^2 / kept."""
    a = np.sort(np.abs(w))[::-1]
    kept = np.arange(1, a.size + 1)
    err = np.sum(a**2) - np.cumsum(a) ** 2 / kept
    return a[np.argmin(err)]


def test_ternary_threshold_matches_twn_paper():
    """Li & Liu (2016), §2.2: the optimal threshold is ~0.6 sigma for N(0, sigma^2) (0.612
    exactly) and a/3 for U(-a, a); the 0.7 E|w| rule gives 0.56 sigma and 0.35 a. n = 400000
    puts the brute-force optimum within ~0.01 of its limit."""
    rng = np.random.default_rng(7)
    g = rng.normal(size=400_000)
    assert _best_ternary_threshold(g) == pytest.approx(0.612, abs=0.02)
    assert ternarize_weights(g)[2] == pytest.approx(0.7 * np.sqrt(2 / np.pi), abs=0.005)
    u = rng.uniform(-1, 1, size=400_000)
    assert _best_ternary_threshold(u) == pytest.approx(1 / 3, abs=0.01)
    assert ternarize_weights(u)[2] == pytest.approx(0.35, abs=0.005)


def test_low_bit_edge_and_bad_inputs():
    w_hat, alpha, _ = ternarize_weights(np.zeros(4))
    assert alpha == 0 and np.all(w_hat == 0)
    with pytest.raises(ValueError, match="axis"):
        binarize_weights(np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match="axis"):
        ternarize_weights(np.ones((2, 3)), axis=-3)
    with pytest.raises(ValueError, match="delta_factor"):
        ternarize_weights(np.ones(3), delta_factor=-0.1)
    with pytest.raises(ValueError, match="w"):
        binarize_weights(np.array([np.nan, 1.0]))
