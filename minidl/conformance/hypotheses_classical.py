"""Hypotheses for the classical and compression families: ridge, lasso, PCA, quantize,
dequantize, magnitude masks (protocol in :mod:`minidl.conformance.diagnose`)."""

import numpy as np

from minidl.compression.pruning import mask_from_scores
from minidl.compression.quantization import _round_half_away, qrange, quantize_codes
from minidl.conformance.hypotheses_network import registrar
from minidl.conformance.reference import REFERENCE

HYPOTHESES = {}
hypothesis = registrar(HYPOTHESES)


# ------------------------------------------------------------------ classical estimators
def _estimator(case, family, **override):
    cls = REFERENCE[family][0]
    args = [case.inputs["X"]] + ([case.inputs["y"]] if "y" in case.inputs else [])
    est = cls(**dict(case.kwargs, **override)).fit(*args)
    return {k: np.asarray(getattr(est, k)) for k in ("coef_", "intercept_")}


def _alpha_scalings(case):
    n = case.inputs["X"].shape[0]
    a = case.kwargs["alpha"]
    yield f"alpha scaled by n = {n} (a 1/n-scaled data term)", a * n
    yield f"alpha scaled by 2n = {2 * n} (a 1/(2n)-scaled data term)", a * 2 * n
    yield f"alpha divided by n = {n} (data term not divided by n)", a / n
    yield f"alpha divided by 2n = {2 * n}", a / (2 * n)
    yield "alpha halved", a / 2
    yield "alpha doubled", a * 2


@hypothesis("ridge", "lasso")
def objective_scaling(family, case, run, got):
    objective = {
        "ridge": "||y - Xw||^2 + alpha ||w||^2",
        "lasso": "(1/2n) ||y - Xw||^2 + alpha ||w||_1",
    }[family.name]
    for detail, alpha in _alpha_scalings(case):
        pred = _estimator(case, family.name, alpha=alpha)
        yield f"objective scaled differently: {detail}; the convention is {objective}", pred, got
    fit = case.kwargs.get("fit_intercept", True)
    yield (
        f"fit_intercept={not fit} behaviour (asked {fit})",
        _estimator(case, family.name, fit_intercept=not fit),
        got,
    )


@hypothesis("pca")
def components_as_columns(family, case, run, got):
    c = got.get("components_")
    if c is not None and c.ndim == 2:
        yield (
            "stores components as columns (p, k); the convention is rows (k, p)",
            {"components_": case.outputs["components_"]},
            {"components_": c.T},
        )


# ------------------------------------------------------------------ compression
def _codes(case):
    bits, signed = case.kwargs.get("bits", 8), case.kwargs.get("signed", True)
    qmin, qmax = qrange(bits, signed)
    x, s, z = case.inputs["x"], case.kwargs["scale"], case.kwargs["zero_point"]
    v = x * (1.0 / s)
    return v, z, qmin, qmax


@hypothesis("quantize")
def quantize_conventions(family, case, run, got):
    v, z, lo, hi = _codes(case)
    yield (
        "rounds half away from zero; the convention (PyTorch, minidl) rounds half to even",
        {"q": np.clip(_round_half_away(v) + z, lo, hi)},
        got,
    )
    # x * (1/S) (PyTorch's way) and x / S differ in the last bit, which floor can see
    for ratio in (v, case.inputs["x"] / case.kwargs["scale"]):
        floor = np.clip(np.floor(ratio) + z, lo, hi)
        yield "rounds down (floor) instead of to nearest", {"q": floor}, got
    minus = np.clip(np.rint(v) - z, lo, hi)
    yield "subtracts the zero point instead of adding it", {"q": minus}, got
    x, s = case.inputs["x"], case.kwargs["scale"]
    unclamped = quantize_codes(x, s, z, np.iinfo(np.int64).min, np.iinfo(np.int64).max)
    yield f"does not clamp the codes to [{lo}, {hi}]", {"q": unclamped}, got


@hypothesis("dequantize")
def dequantize_conventions(family, case, run, got):
    q = case.inputs["q"].astype(np.float64)
    s, z = case.kwargs["scale"], case.kwargs["zero_point"]
    yield "ignores the zero point (scale * q)", {"y": s * q}, got
    yield "adds the zero point (scale * (q + zero_point))", {"y": s * (q + z)}, got
    yield "divides by the scale instead of multiplying", {"y": (q - z) / s}, got


@hypothesis("magnitude_mask")
def mask_conventions(family, case, run, got):
    w, s = case.inputs["w"], case.kwargs["sparsity"]
    n = w.size
    yield "ranks by signed value, not magnitude |w|", {"mask": mask_from_scores(w, s)}, got
    yield (
        "removes the largest |w| instead of the smallest",
        {"mask": mask_from_scores(-np.abs(w), s)},
        got,
    )
    for rule, k in (("floor", int(np.floor(s * n))), ("ceil", int(np.ceil(s * n)))):
        if k != round(s * n) and k < n:
            yield (
                f"counts the pruned weights with {rule}(s n) instead of round(s n)",
                {"mask": mask_from_scores(np.abs(w), k / n)},
                got,
            )
