r"""Quantization: fixed point (articles 003/004), affine and symmetric, per tensor and per channel.

The affine scheme of Jacob et al. (2018), "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference", eq. (1) of the paper, shown in the chapters as
(1.10) in chapter 01 and (2.13) in chapter 02:

.. math:: r = S\,(q - Z), \qquad q = \operatorname{clamp}(\operatorname{round}(r / S) + Z,
          q_{min}, q_{max})                                                        (2.13)

with a real scale :math:`S > 0` and an integer zero point :math:`Z` (the integer that represents
the real 0 exactly, so zero padding and ReLU cost nothing). Symmetric quantization is the case
:math:`Z = 0` (signed) or :math:`Z = 2^{b-1}` (unsigned). Scales and zero points are chosen as
PyTorch's observers choose them (:func:`choose_qparams`); rounding is half to even, as PyTorch's
``std::nearbyint``. Fixed point (articles 003/004) is chapter 04's (4.5)/(4.6), also used by
chapter 05's pipeline. Also here: binary and ternary weights, and SQNR (2.14). Calibration
observers are in :mod:`minidl.compression.observers`, fake quantization (QAT) in
:mod:`minidl.compression.qat`, integer-only inference in :mod:`minidl.compression.int_inference`
(fixed-point arithmetic) and :mod:`minidl.compression.int_model` (layers, ``quantize_model``).
"""

import numbers

import numpy as np

from minidl._validation import check_float_array

#: PyTorch's minimal scale (``torch.finfo(torch.float32).eps``): a constant-zero tensor gets this
#: scale instead of dividing by zero.
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def check_bits(bits, name="bits"):
    """Return ``bits`` as int if it is an integer in [1, 32]; else raise naming ``name``."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral):
        raise TypeError(f"{name} must be an integer in [1, 32], got {bits!r}")
    if not 1 <= bits <= 32:
        raise ValueError(f"{name} must be an integer in [1, 32], got {bits}")
    return int(bits)


def qrange(bits=8, signed=True, narrow_range=False):
    r"""The integer range :math:`[q_{min}, q_{max}]` of a ``bits``-bit code.

    Signed: :math:`[-2^{b-1}, 2^{b-1} - 1]`; unsigned: :math:`[0, 2^b - 1]`. ``narrow_range``
    drops the lowest code (int8 becomes [-127, 127], TensorFlow's convention for weights, so a
    symmetric range is exactly :math:`\pm 127 S`).
    """
    bits = check_bits(bits)
    qmin, qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    if narrow_range:
        if qmax - qmin < 2:
            raise ValueError(f"narrow_range needs bits >= 2, got bits={bits}")
        qmin += 1
    return qmin, qmax


def integer_dtype(bits=8, signed=True):
    """The smallest NumPy integer dtype that holds a ``bits``-bit code (int8 ... uint32)."""
    bits = check_bits(bits)
    width = 8 if bits <= 8 else 16 if bits <= 16 else 32
    return np.dtype(f"{'int' if signed else 'uint'}{width}")


def _round_half_away(v):
    """Round half away from zero (四舍五入): 2.5 -> 3, -2.5 -> -3; exact, no ``floor(v + 0.5)``."""
    whole = np.trunc(v)
    return whole + np.sign(v) * (np.abs(v - whole) >= 0.5)


def quantize_fixed_point(w, p, bits=None, rounding="half_away"):
    r"""Fixed point with ``p`` fractional bits (articles 003/004): :math:`round(w 2^p) / 2^p`.

    Chapter 04's (4.6) (the code :math:`round(w 2^p)` is (4.5)): the error is at most
    :math:`2^{-p-1}`, and a ``bits``-bit word saturates at :math:`[-2^{bits-1}, 2^{bits-1} - 1]`.

    The grid step is :math:`2^{-p}`. Article 004's text says ``round`` is 四舍五入 (round half
    away from zero, the default here); ``rounding='half_even'`` rounds as ``np.round`` does.
    ``bits`` (optional) is the whole word length: the integer :math:`round(w 2^p)` is saturated
    to :math:`[-2^{bits-1}, 2^{bits-1} - 1]`, without which no finite number of bits is implied
    (the articles call ``p`` "the number of bits", but it only sets the step). Returns floats of
    ``w``'s dtype on the grid. See :func:`quantize_fixed_point_literal` for the article's code.
    """
    w = check_float_array(w, "w", finite=True)
    if isinstance(p, bool) or not isinstance(p, numbers.Integral):
        raise TypeError(f"p (fractional bits) must be an integer, got {p!r}")
    if rounding not in ("half_away", "half_even"):
        raise ValueError(f"rounding must be 'half_away' or 'half_even', got {rounding!r}")
    step_inv = w.dtype.type(2.0**p)  # a power of two: w * 2^p is exact
    v = w * step_inv
    q = _round_half_away(v) if rounding == "half_away" else np.rint(v)
    if bits is not None:
        qmin, qmax = qrange(bits, signed=True)
        q = np.clip(q, qmin, qmax)
    return (q / step_inv).astype(w.dtype)


def quantize_fixed_point_literal(x, bits):
    """Article 004's code, verbatim: ``np.round(x * (1 << bits))`` (chapter 04's (4.5), undivided).

    What is wrong with it, beside the corrected :func:`quantize_fixed_point`: (1) it never
    divides by :math:`2^{bits}`, so the "quantized weights" it writes back into the model are
    :math:`2^{bits}` (256 for ``bits=8``) times too large, and every layer's output is scaled with
    them; (2) ``np.round`` rounds half to even (2.5 -> 2), while the text says 四舍五入
    (2.5 -> 3); (3) nothing bounds the integers, so ``bits`` is the number of fractional bits,
    not the code width. ``1 << bits`` also needs an integer ``bits >= 0``.
    """
    return np.round(x * (1 << bits))


def _as_float32(value, name):
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf), got {value!r}")
    return arr.astype(np.float32)


def choose_qparams(
    x_min, x_max, bits=8, symmetric=False, signed=True, narrow_range=False, eps=FLOAT32_EPS
):
    r"""Scale and zero point from an observed range, as PyTorch's ``MinMaxObserver`` computes them.

    The range is first extended to contain 0 (so the real 0 is exactly representable):
    :math:`m = \min(x_{min}, 0)`, :math:`M = \max(x_{max}, 0)`. Then, in float32,

    - affine: :math:`S = \max\big((M - m) / (q_{max} - q_{min}), \epsilon\big)`,
      :math:`Z = \operatorname{clamp}(q_{min} - \operatorname{round}(m / S), q_{min}, q_{max})`;
    - symmetric: :math:`S = \max\big(\max(-m, M) / ((q_{max} - q_{min}) / 2), \epsilon\big)`,
      :math:`Z = 0` (signed) or :math:`2^{b-1}` (unsigned, PyTorch's 128 for quint8).

    :math:`\epsilon` = float32 eps (PyTorch's default) keeps a constant-zero tensor from dividing
    by zero. Note the symmetric denominator is 127.5 for int8, PyTorch's choice;
    ``narrow_range=True`` gives 127 (TensorFlow's). ``x_min``/``x_max`` may be arrays (per
    channel): the result then has their shape. Returns ``(scale, zero_point)`` as float32 and
    int64 (numpy scalars for scalar input).
    """
    qmin, qmax = qrange(bits, signed, narrow_range)
    lo, hi = _as_float32(x_min, "x_min"), _as_float32(x_max, "x_max")
    if lo.shape != hi.shape:
        raise ValueError(f"x_min and x_max must have the same shape, got {lo.shape} and {hi.shape}")
    if np.any(lo > hi):
        raise ValueError(f"x_min must be <= x_max, got x_min={x_min!r}, x_max={x_max!r}")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    f32 = np.float32
    m, M = np.minimum(lo, f32(0)), np.maximum(hi, f32(0))
    if symmetric:
        scale = np.maximum(-m, M) / f32((qmax - qmin) / 2)
        scale = np.maximum(scale, f32(eps))
        zp = np.full(lo.shape, 0 if signed else 2 ** (check_bits(bits) - 1), dtype=np.int64)
    else:
        scale = np.maximum((M - m) / f32(qmax - qmin), f32(eps))
        zp = qmin - np.rint(m / scale).astype(np.int64)
        zp = np.clip(zp, qmin, qmax)
    if lo.ndim == 0:
        return f32(scale), np.int64(zp)
    return scale.astype(f32), zp.astype(np.int64)


def _check_qparams(x_shape, scale, zero_point, axis, qmin, qmax):
    """Validate scale/zero point/axis; return them shaped to broadcast against ``x``."""
    scale = np.asarray(scale, dtype=np.float64)
    zp = np.asarray(zero_point)
    if zp.dtype == bool or not np.issubdtype(zp.dtype, np.integer):
        raise TypeError(f"zero_point must be an integer or integer array, got {zero_point!r}")
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ValueError(f"scale must be finite and > 0, got {scale}")
    if np.any(zp < qmin) or np.any(zp > qmax):
        raise ValueError(f"zero_point must lie in [qmin, qmax] = [{qmin}, {qmax}], got {zp}")
    zp = zp.astype(np.int64)
    ndim = len(x_shape)
    if axis is None:
        if scale.ndim != 0 or zp.ndim != 0:
            raise ValueError(
                f"per-tensor quantization (axis=None) needs a scalar scale and zero_point, got "
                f"shapes {scale.shape} and {zp.shape}; pass axis= for per-channel"
            )
        return scale, zp
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -ndim <= axis < ndim:
        raise ValueError(
            f"axis must be an integer in [{-ndim}, {ndim}) for a {ndim}-D x, got {axis!r}"
        )
    axis = int(axis) % ndim
    channels = x_shape[axis]
    if scale.shape != (channels,) or zp.shape != (channels,):
        raise ValueError(
            f"per-channel quantization along axis={axis} needs scale and zero_point of shape "
            f"({channels},), got {scale.shape} and {zp.shape}"
        )
    shape = [1] * ndim
    shape[axis] = channels
    return scale.reshape(shape), zp.reshape(shape)


def _inverse_scale(x, scale, zero_point, axis, qmin, qmax):
    """``(1 / S, Z)`` checked (:func:`_check_qparams`) and shaped to broadcast on ``x``, the
    reciprocal rounded to ``x``'s precision (PyTorch's kernels multiply by it); Z int64."""
    scale, zp = _check_qparams(x.shape, scale, zero_point, axis, qmin, qmax)
    return x.dtype.type(1) / scale.astype(x.dtype), zp


def _refuse_nan(scaled):
    """Raise if ``x / S`` holds a NaN: only a NaN in x makes one (S is finite and > 0), and
    the minimum carries it (one reduction, no mask array)."""
    if np.isnan(np.min(scaled, initial=0)):
        raise ValueError("x contains NaN; quantization needs finite or infinite values, not NaN")


def quantize_codes(x, scale, zero_point, qmin, qmax, axis=None, zero_point_before_rounding=False):
    r"""Unclamped integer codes :math:`round(x / S) + Z` (float64 array) and the clamp bounds.

    ``x / S`` is computed as ``x * (1 / S)`` in ``x``'s precision, the reciprocal rounded to that
    precision, exactly as PyTorch's kernels compute it (so results agree bit for bit). With
    ``zero_point_before_rounding`` the code is :math:`round(x / S + Z)` with the addition in
    ``x``'s precision, as ``torch.quantize_per_tensor`` (fbgemm) does; the two differ only on
    exact ties with an odd ``Z`` (round half to even) or for ``|Z|`` beyond float precision.
    Shared by :func:`quantize` and :func:`minidl.compression.qat.fake_quantize`, whose
    straight-through mask needs the code before clamping.
    """
    x = check_float_array(x, "x")
    inv, zp = _inverse_scale(x, scale, zero_point, axis, qmin, qmax)
    with np.errstate(over="ignore"):  # |x / S| beyond float range is inf, then clamped: intended
        v = x * inv
    _refuse_nan(v)
    if zero_point_before_rounding:
        return np.rint(v + zp.astype(x.dtype)).astype(np.float64)
    return np.rint(v).astype(np.float64) + zp


# quantize and fake_quantize compute the codes in x's own precision wherever it holds every
# code exactly (codes_exact_in), BLOCK_VALUES values at a time: the product, the rounding, the
# zero point, the clamp and the cast then run on a block in cache instead of making fresh float64
# arrays of the whole tensor (4M float32 values per tensor: 25 ms -> 2.5; Intel Xeon, one
# thread, December 2026). Per channel, the scale broadcasts on the whole tensor: one block.
BLOCK_VALUES = 2**17


def codes_exact_in(dtype, qmin, qmax):
    """Whether float ``dtype`` holds every integer a code computation meets exactly: the codes
    of [qmin, qmax] and the zero point, all at most ``qmax - qmin`` from 0 (float32 up to 2^24:
    codes of 24 bits and fewer; float64 every code of 32 bits). Beyond the range, a rounded
    code only moves further beyond, so it still clamps to the same end."""
    return qmax - qmin <= 2 ** (np.finfo(dtype).nmant + 1)


def code_blocks(x, scale, zero_point, qmin, qmax, axis=None, zero_point_before_rounding=False):
    r"""The unclamped codes of :func:`quantize_codes`, :math:`round(x / S) + Z`, in ``x``'s
    dtype (where :func:`codes_exact_in` holds) and in blocks: yields ``(block, codes)``, the
    block's slice of ``x`` flattened (None: all of ``x``, in its shape) and its codes in a buffer
    the next block reuses. ``x``, ``scale`` and ``zero_point`` are checked as there, NaN
    included; the same values, as the float64 codes are integers this dtype holds, or beyond
    the range on the same side."""
    x = check_float_array(x, "x")
    inv, zp = _inverse_scale(x, scale, zero_point, axis, qmin, qmax)
    zero = zp.astype(x.dtype)
    if axis is None and x.size > BLOCK_VALUES:
        flat, buffer = x.reshape(-1), np.empty(BLOCK_VALUES, dtype=x.dtype)
        blocks = [slice(a, a + BLOCK_VALUES) for a in range(0, x.size, BLOCK_VALUES)]
        parts = ((block, flat[block], buffer[: flat[block].size]) for block in blocks)
    else:
        parts = [(None, x, np.empty(x.shape, dtype=x.dtype))]
    for block, part, codes in parts:
        with np.errstate(over="ignore"):  # |x / S| beyond float range is inf, then clamped
            np.multiply(part, inv, out=codes)
        _refuse_nan(codes)
        if zero_point_before_rounding:
            codes += zero
            np.rint(codes, out=codes)
        else:
            np.rint(codes, out=codes)
            codes += zero
        yield block, codes


def block_of(a, block):
    """``a``'s part for a ``block`` of :func:`code_blocks`: that slice of ``a`` flattened, or
    all of ``a`` (None)."""
    return a if block is None else a.reshape(-1)[block]


def quantize(
    x,
    scale,
    zero_point,
    bits=8,
    signed=True,
    narrow_range=False,
    axis=None,
    zero_point_before_rounding=False,
):
    r"""Affine quantization :math:`q = \mathrm{clamp}(\mathrm{round}(x/S) + Z, q_{min}, q_{max})`.

    (2.13) in chapter 02, (1.10) in chapter 01.

    Per tensor (``axis=None``: scalar ``scale``/``zero_point``) or per channel (``axis=k``:
    arrays of length ``x.shape[k]``). Rounding is half to even (PyTorch's). Returns the codes in
    the smallest integer dtype for ``bits`` (:func:`integer_dtype`: int8 for the default).
    """
    qmin, qmax = qrange(bits, signed, narrow_range)
    dtype = integer_dtype(bits, signed)
    x = check_float_array(x, "x")
    if not codes_exact_in(x.dtype, qmin, qmax):  # 25 bits and more from float32
        q = quantize_codes(x, scale, zero_point, qmin, qmax, axis, zero_point_before_rounding)
        return np.clip(q, qmin, qmax).astype(dtype)
    out = None
    for block, codes in code_blocks(x, scale, zero_point, qmin, qmax, axis,
                                    zero_point_before_rounding):  # fmt: skip
        out = np.empty(x.shape, dtype=dtype) if out is None else out
        np.clip(codes, qmin, qmax, out=codes)
        np.copyto(block_of(out, block), codes, casting="unsafe")
    return out


def dequantize(q, scale, zero_point, axis=None, dtype=np.float32):
    r""":math:`r = S\,(q - Z)` ((2.13), (1.10)) as ``float(q - Z) * float(S)`` in ``dtype``.

    ``q`` is an integer array (from :func:`quantize`); per channel along ``axis`` as there.
    float32 arithmetic reproduces ``torch.Tensor.dequantize`` bit for bit.
    """
    q = np.asarray(q)
    if not np.issubdtype(q.dtype, np.integer):
        raise TypeError(f"q must be an integer array (codes from quantize), got dtype {q.dtype}")
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    big = np.iinfo(np.int64)
    scale, zp = _check_qparams(q.shape, scale, zero_point, axis, big.min, big.max)
    codes = np.iinfo(q.dtype)
    lo, hi = min(codes.min, int(zp.min(initial=0))), max(codes.max, int(zp.max(initial=0)))
    if not codes_exact_in(dt, lo, hi):  # q - Z might round in dt: exactly, in int64
        return (q.astype(np.int64) - zp).astype(dt) * scale.astype(dt)
    # q, Z and q - Z are integers dt holds exactly (int8 or int16 codes into float32): the same
    # values in place, without int64 arrays four or eight times the codes' size
    r = q.astype(dt)
    r -= zp.astype(dt)
    r *= scale.astype(dt)
    return r


def sqnr_db(x, x_hat):
    r"""Signal-to-quantization-noise ratio, :math:`10 \log_{10}(\sum x^2 / \sum (x - \hat x)^2)` dB.

    (2.14) in chapter 02.

    For a uniform signal filling a b-bit quantizer's range it is :math:`\approx 6.02\,b` dB
    (each bit halves the step, quartering the noise power: :math:`10 \log_{10} 4 = 6.02`).
    Returns ``inf`` when ``x_hat == x``.
    """
    x = check_float_array(x, "x", finite=True).astype(np.float64)
    x_hat = check_float_array(x_hat, "x_hat", finite=True).astype(np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"x_hat must have x's shape {x.shape}, got {x_hat.shape}")
    signal, noise = np.sum(x * x), np.sum((x - x_hat) ** 2)
    if signal == 0:
        raise ValueError("x is all zeros: its SQNR is undefined (zero signal power)")
    if noise == 0:
        return np.inf
    return float(10 * np.log10(signal / noise))


def _reduce_axes(w, axis, name):
    """Axes to average over: all (per tensor) or all but ``axis`` (one scale per channel)."""
    if axis is None:
        return None
    if (
        isinstance(axis, bool)
        or not isinstance(axis, numbers.Integral)
        or not -w.ndim <= axis < w.ndim
    ):
        raise ValueError(
            f"axis must be None or an integer in [{-w.ndim}, {w.ndim}) for {name}, got {axis!r}"
        )
    return tuple(a for a in range(w.ndim) if a != int(axis) % w.ndim)


def binarize_weights(w, axis=None):
    r"""Binary weights :math:`\hat w = \alpha \mathrm{sign}(w)`, :math:`\alpha = \mathrm{mean}|w|`.

    BinaryConnect (Courbariaux et al. 2015) keeps :math:`\operatorname{sign}(w)` (+1 for
    :math:`w \ge 0`); XNOR-Net (Rastegari et al. 2016, eq. 2) adds the scale
    :math:`\alpha^* = \|w\|_1 / n`, which minimizes :math:`\|w - \alpha B\|^2` for
    :math:`B = \operatorname{sign}(w)`. ``axis=0`` gives one :math:`\alpha` per output channel
    (XNOR-Net's per-filter scale). Returns ``(w_hat, alpha)``; alpha keeps the reduced axes.
    """
    w = check_float_array(w, "w", finite=True)
    axes = _reduce_axes(w, axis, "w")
    alpha = np.mean(np.abs(w), axis=axes, keepdims=axes is not None)
    return np.where(w >= 0, alpha, -alpha).astype(w.dtype), alpha


def ternarize_weights(w, axis=None, delta_factor=0.7):
    r"""Ternary weight networks (Li & Liu 2016): :math:`\hat w \in \{-\alpha, 0, +\alpha\}`.

    .. math:: \Delta = 0.7\, \operatorname{mean}|w|, \qquad
              \alpha = \operatorname{mean}_{|w_i| > \Delta} |w_i|, \qquad
              \hat w_i = \alpha \operatorname{sign}(w_i)\, [\,|w_i| > \Delta\,]

    :math:`\Delta` is the paper's approximation of the error-minimizing threshold (eq. 10;
    about :math:`0.6\sigma` for Gaussian weights), :math:`\alpha` the exact minimizer given the
    threshold (eq. 9). ``axis`` as in :func:`binarize_weights`. An all-zero ``w`` gives
    :math:`\alpha = 0` (no division by zero). Returns ``(w_hat, alpha, delta)``.
    """
    w = check_float_array(w, "w", finite=True)
    if not (np.isfinite(delta_factor) and delta_factor >= 0):
        raise ValueError(f"delta_factor must be a finite number >= 0, got {delta_factor!r}")
    axes = _reduce_axes(w, axis, "w")
    keep = axes is not None
    a = np.abs(w)
    delta = w.dtype.type(delta_factor) * np.mean(a, axis=axes, keepdims=keep)
    mask = a > delta
    count = np.sum(mask, axis=axes, keepdims=keep)
    total = np.sum(np.where(mask, a, 0), axis=axes, keepdims=keep)
    alpha = np.divide(total, count, out=np.zeros_like(total), where=count > 0).astype(w.dtype)
    w_hat = np.where(mask, np.sign(w) * alpha, 0).astype(w.dtype)
    return w_hat, alpha, delta
