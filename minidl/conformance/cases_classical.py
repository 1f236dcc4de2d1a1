"""Cases of the classical and compression families: ridge, lasso, PCA, quantize, dequantize,
magnitude masks."""

import numpy as np

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
