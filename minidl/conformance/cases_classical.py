"""Cases of the classical and compression families: ridge, lasso, PCA, quantize (per tensor and
per channel), dequantize, choose_qparams, magnitude masks (per tensor and global)."""

import numpy as np

from minidl.compression.quantization import choose_qparams
from minidl.conformance.family import Case
from minidl.conformance.family import case_rng as _rng


# ------------------------------------------------------------------------------ classical
def _regression_data(family, name, n, p):
    r = _rng(family, name)
    X = r.normal(size=(n, p)) + r.normal(size=p)  # nonzero column means: the intercept matters
    w = r.normal(size=p) * (r.uniform(size=p) < 0.6)
    return {"X": X, "y": X @ w + 0.7 + 0.3 * r.normal(size=n)}


def ridge_cases():
    return [
        Case("alpha1", _regression_data("ridge", "alpha1", 20, 5), {"alpha": 1.0}),
        Case(
            "no_intercept",
            _regression_data("ridge", "no_intercept", 15, 4),
            {"alpha": 0.3, "fit_intercept": False},
        ),
        Case("wide", _regression_data("ridge", "wide", 8, 12), {"alpha": 0.5}),
    ]


def lasso_cases():
    # tol and max_iter tight, so the golden coefficients are the exact minimizer to ~1e-12
    tight = {"tol": 1e-12, "max_iter": 100000}
    return [
        Case("alpha0.1", _regression_data("lasso", "alpha0.1", 30, 6), {"alpha": 0.1, **tight}),
        Case("sparse", _regression_data("lasso", "sparse", 25, 8), {"alpha": 0.3, **tight}),
        Case(
            "no_intercept",
            _regression_data("lasso", "no_intercept", 20, 5),
            {"alpha": 0.05, "fit_intercept": False, **tight},
        ),
    ]


def pca_cases():
    cases = []
    for name, (n, p), k in [("k2", (30, 5), 2), ("all", (10, 4), None), ("wide", (6, 8), 3)]:
        r = _rng("pca", name)
        # distinct column scales: well-separated eigenvalues, components defined up to sign only
        X = r.normal(size=(n, p)) * np.linspace(3.0, 0.5, p) + r.normal(size=p)
        cases.append(Case(name, {"X": X}, {"n_components": k}))
    return cases


# ------------------------------------------------------------------------------ compression
def quantize_cases():
    cases = []
    r = _rng("quantize", "int8")
    cases.append(Case("int8", {"x": r.normal(size=(4, 6))}, {"scale": 0.02, "zero_point": 3}))
    r = _rng("quantize", "uint8")
    x = r.uniform(-1.0, 3.0, size=(3, 5))
    cases.append(
        Case("uint8", {"x": x}, {"scale": 4.0 / 255, "zero_point": 64, "bits": 8, "signed": False})
    )
    # exact ties: scale a power of two, x = (k + 1/2) scale, so rounding half to even shows
    k = np.arange(-6, 6, dtype=np.float64)
    cases.append(Case("ties", {"x": (k + 0.5) * 0.25}, {"scale": 0.25, "zero_point": -2}))
    # saturation: values far outside the representable range are clamped
    x = np.array([-100.0, -3.0, -1.0, 0.0, 0.4, 2.9, 50.0])
    cases.append(Case("saturate", {"x": x}, {"scale": 0.05, "zero_point": 0}))
    return cases


def dequantize_cases():
    cases = []
    for name, (lo, hi), scale, zp in [
        ("int8", (-128, 128), 0.02, 3),
        ("zp_neg", (-20, 20), 0.5, -7),
    ]:
        q = _rng("dequantize", name).integers(lo, hi, size=(3, 5)).astype(np.int8)
        cases.append(Case(name, {"q": q}, {"scale": scale, "zero_point": zp}))
    return cases


def mask_cases():
    cases = []
    for name, shape, s in [
        ("matrix_half", (6, 5), 0.5),
        ("conv_weight", (4, 2, 3, 3), 0.3),
        ("none", (3, 4), 0.0),
        ("most", (5, 7), 0.9),
    ]:
        w = _rng("magnitude_mask", name).normal(size=shape)
        cases.append(Case(name, {"w": w}, {"sparsity": s}))
    return cases


def _f32(a):
    """float64 values that float32 holds exactly: PyTorch's quantization kernels and observers
    work in float32, so the golden inputs lose nothing when a candidate casts them."""
    return np.asarray(a, dtype=np.float64).astype(np.float32).astype(np.float64)


def _per_channel(x, axis, shrink=1.0, **kw):
    """Scale and zero point per channel from each channel's range (times ``shrink``: a value
    < 1 makes the extremes saturate), as minidl's observers choose them, the scale float32."""
    rows = np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)
    s, z = choose_qparams(shrink * rows.min(axis=1), shrink * rows.max(axis=1), **kw)
    return _f32(s), z.astype(np.int64)


def quantize_per_channel_cases():
    """Per-channel codes: one scale and zero point per slice along ``axis`` (weights along 0,
    activations along 1), signed and unsigned, symmetric and affine, saturation, constant
    channels, exact ties with odd zero points, narrow range and 4 bits."""

    def case(name, x, axis, s, z, **kw):
        kw = {"bits": 8, "signed": True, "narrow_range": False, **kw}
        inputs = {"x": _f32(x), "scale": s, "zero_point": z}
        return Case(name, inputs, {"axis": axis, **kw})

    cases = []
    r = _rng("quantize_per_channel", "weight_axis0")
    w = _f32(r.normal(size=(4, 2, 3, 3)) * np.array([0.05, 1.0, 3.0, 0.2])[:, None, None, None])
    # range widened by 5%: max|w| / S = 127.5 exactly would be a tie that float32 decides
    s, z = _per_channel(w, 0, shrink=1.05, symmetric=True)
    cases.append(case("weight_axis0", w, 0, s, z))
    # (N, C, L) with L == C: a candidate that lets NumPy broadcast (C,) against the last axis
    # still runs, and the diagnosis can name the axis it used
    r = _rng("quantize_per_channel", "activation_axis1")
    x = _f32(r.normal(size=(2, 3, 3)) * [[0.5], [2.0], [1.0]] + [[0.3], [-1.0], [2.0]])
    s, z = _per_channel(x, 1, shrink=0.8, signed=False)
    cases.append(case("activation_axis1_uint8", x, 1, s, z, signed=False))
    r = _rng("quantize_per_channel", "last_axis")
    x = _f32(r.normal(size=(5, 3)) * [0.1, 1.0, 4.0] + [0.0, 1.5, -2.0])
    s, z = _per_channel(x, 1, signed=False)
    cases.append(case("last_axis_uint8", x, 1, s, z, signed=False))
    # all-zero channel (scale = eps, no division by zero) and constant channels of either sign
    x = np.array([[0.0] * 4, [0.7] * 4, [-0.7] * 4, [0.0, 0.0, 0.6, -0.3]])
    s, z = _per_channel(_f32(x), 0)
    cases.append(case("constant_channels", x, 0, s, z))
    # exact ties x = (k + 1/2) S with power-of-two scales: round half to even shows, and with
    # odd zero points round(x/S) + Z differs from round(x/S + Z)
    s = np.array([0.25, 0.5, 0.125])
    x = (np.arange(-6, 6) + 0.5)[None, :] * s[:, None]
    cases.append(case("ties_odd_zero_points", x, 0, s, np.array([-3, 5, 0])))
    r = _rng("quantize_per_channel", "narrow_range")
    x = _f32(r.normal(size=(2, 6)) * [[0.3], [2.0]])
    s, z = _per_channel(x, 0, shrink=0.7, symmetric=True, narrow_range=True)
    cases.append(case("narrow_range", x, 0, s, z, narrow_range=True))
    r = _rng("quantize_per_channel", "int4")
    x = _f32(r.normal(size=(3, 5)) * [[1.0], [0.2], [3.0]] + [[0.5], [0.0], [-1.0]])
    s, z = _per_channel(x, 0, shrink=0.8, bits=4)
    cases.append(case("int4", x, 0, s, z, bits=4))
    return cases


def choose_qparams_cases():
    """Observed ranges -> (scale, zero point): per tensor (0-d) and per channel (1-D), affine
    and symmetric, int8/uint8/int4, narrow range; ranges that do not contain 0, all-zero and
    constant channels; a zero point at an exact tie m/S = -100.5."""

    def case(name, lo, hi, **kw):
        kw = {"bits": 8, "symmetric": False, "signed": True, "narrow_range": False, **kw}
        return Case(name, {"x_min": _f32(lo), "x_max": _f32(hi)}, kw)

    cases = []
    for name, kw in [
        ("affine_int8", {}),
        ("affine_uint8", {"signed": False}),
        ("symmetric_int8", {"symmetric": True}),
        ("symmetric_uint8", {"symmetric": True, "signed": False}),
    ]:
        r = _rng("choose_qparams", name)
        cases.append(case(name, -r.uniform(0.1, 2.0), r.uniform(0.1, 3.0), **kw))
    cases.append(case("all_zero", 0.0, 0.0, signed=False))  # scale eps, not 0
    # per channel: mixed sign, positive only and negative only (widened to contain 0), all
    # zero, constant positive, constant negative
    r = _rng("choose_qparams", "channels")
    lo = np.array([-r.uniform(0.5, 2), r.uniform(0.1, 1), -r.uniform(1, 3), 0.0, 0.7, -0.7])
    hi = np.array([r.uniform(0.1, 2), lo[1] + r.uniform(0.1, 2), lo[2] + 0.6, 0.0, 0.7, -0.7])
    for name, kw in [
        ("channels_affine_int8", {}),
        ("channels_affine_uint8", {"signed": False}),
        ("channels_symmetric_int8", {"symmetric": True}),
        ("channels_narrow_symmetric", {"symmetric": True, "narrow_range": True}),
        ("channels_int4_affine", {"bits": 4}),
        ("channels_int4_symmetric", {"bits": 4, "symmetric": True}),
    ]:
        cases.append(case(name, lo, hi, **kw))
    # uint8 affine with (M - m) = 255/64: S = 1/64 exactly and m/S = -100.5, -102.5: the zero
    # point 0 - round(m/S) is 100 and 102 (half to even), 101 and 103 rounded half away
    cases.append(
        case("zero_point_ties", [-100.5 / 64, -102.5 / 64], [154.5 / 64, 152.5 / 64], signed=False)
    )
    return cases


def global_mask_cases():
    """One magnitude ranking over several tensors. No case has a tie *across* the cut (the
    k-th and (k+1)-th smallest |w| equal): which of those goes is not a convention (PyTorch's
    ``topk`` and minidl's stable sort pick differently), so every tie here is on one side."""

    def case(name, weights, s):
        return Case(name, {f"weights.{i}": w for i, w in enumerate(weights)}, {"sparsity": s})

    def draw(name, *shapes_scales):
        r = _rng("global_magnitude_masks", name)
        return [r.normal(size=shape) * scale for shape, scale in shapes_scales]

    # a small-weight layer next to a large-weight one: global pruning takes most of the first
    cases = [case("two_layers", draw("two_layers", ((6, 5), 0.1), ((4, 2, 3, 3), 1.0)), 0.5)]
    # a bias-sized tensor of tiny weights is pruned entirely
    ws = draw("pruned_entirely", ((5, 4), 1.0), ((8,), 0.01), ((3, 2, 2, 2), 0.5))
    cases.append(case("layer_pruned_entirely", ws, 0.3))
    # |w| on a grid of 0.25: five weights of each magnitude 0.25, 0.5, 0.75 in both tensors and
    # signs; round(0.45 * 22) = 10 removes exactly the |w| <= 0.5, so the threshold 0.5 is tied
    # five ways, and so is the first kept magnitude 0.75
    a = np.array([[0.5, -1.0, 0.25, -0.75], [-0.5, 1.25, 0.75, 0.25], [1.0, -0.25, -1.25, 0.5]])
    b = np.array([[-0.5, 0.75, -1.0, 0.25, 1.25], [0.5, -0.75, 1.0, -0.25, 0.75]])
    cases.append(case("ties_at_threshold", [a, b], 0.45))
    # round(s N) at exact halves: 0.25 * 10 = 2.5 -> 2 (half to even), 0.25 * 14 = 3.5 -> 4
    cases.append(case("count_2.5", draw("count_2.5", ((2, 3), 1.0), ((4,), 1.0)), 0.25))
    cases.append(case("count_3.5", draw("count_3.5", ((2, 5), 1.0), ((4,), 1.0)), 0.25))
    cases.append(case("none", draw("none", ((3, 4), 1.0), ((5,), 1.0)), 0.0))
    cases.append(case("single_tensor", draw("single", ((4, 5), 1.0)), 0.6))
    return cases
