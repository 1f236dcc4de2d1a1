"""Hypotheses for the classical estimator families: ridge, lasso, PCA (protocol in
:mod:`minidl.conformance.diagnose`; the compression families are in
:mod:`minidl.conformance.hypotheses_compression`)."""

import numpy as np

from minidl.conformance.hypothesis import registrar
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
