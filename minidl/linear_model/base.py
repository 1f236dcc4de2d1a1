r"""What the classical estimators share: ``Estimator`` (``get_params``, the fitted check, float64
input), and for the linear models centring, ``predict`` and ``score``.

The estimators compute in float64 (DESIGN: float64 for the classical estimators): integer,
bool and float32 input is converted once, at the door, and the conversion is the only copy
``fit`` makes besides the centred design.

The intercept is never penalized. It is removed by centring,

.. math:: \tilde X = X - \mathbf 1 \bar x^\top,\quad \tilde y = y - \bar y, \qquad
          b = \bar y - \bar x^\top w,

so every solver works on :math:`(\tilde X, \tilde y)` without a column of ones, exactly as
scikit-learn's ``_preprocess_data`` does.
"""

import inspect

import numpy as np

from minidl.exceptions import NotFittedError


def as_float64(a, name, ndim):
    """Return ``a`` as a float64 ndarray of rank ``ndim`` (int or tuple), all finite."""
    arr = np.asarray(a)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    accepted = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in accepted:
        want = " or ".join(str(d) for d in accepted)
        raise ValueError(f"{name} must be {want}-dimensional, got shape {arr.shape}")
    # One cheap reduction first: the sum is finite whenever every entry is (bar overflow),
    # so the full elementwise test runs only when something may be wrong.
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum()
    if not np.isfinite(total) and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains NaN or inf ({bad} entries); clean or impute it first")
    return arr


def check_X_y(X, y, multi_output=False):
    """Validate a design ``X`` (n, p) and target ``y`` (n,) or, if allowed, (n, k)."""
    X = as_float64(X, "X", 2)
    y = as_float64(y, "y", (1, 2) if multi_output else 1)
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X and y must have the same number of samples, got X with {X.shape[0]} rows "
            f"and y with {y.shape[0]}"
        )
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have at least one sample and one feature, got {X.shape}")
    return X, y


def center(X, y, fit_intercept):
    """Return ``(X - x_mean, y - y_mean, x_mean, y_mean)``; zero means if no intercept."""
    if fit_intercept:
        x_mean = X.mean(axis=0)
        y_mean = y.mean(axis=0)
        return X - x_mean, y - y_mean, x_mean, y_mean
    x_mean = np.zeros(X.shape[1])
    y_mean = np.zeros(y.shape[1:]) if y.ndim > 1 else 0.0
    return X, y, x_mean, y_mean


class Estimator:
    """Base of the classical estimators, scikit-learn's API: ``get_params``, and the checks of
    the data a fitted estimator is given (fitted first, float64, the number of features)."""

    def get_params(self):
        """Constructor arguments by name (what ``type(est)(**est.get_params())`` rebuilds)."""
        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind != p.VAR_KEYWORD
        ]
        return {name: getattr(self, name) for name in names}

    def _check_fitted(self, method):
        """``NotFittedError`` naming ``method`` unless ``fit`` has run (it sets
        ``n_features_in_``)."""
        if not hasattr(self, "n_features_in_"):
            required = [
                p.name
                for p in inspect.signature(type(self).fit).parameters.values()
                if p.name != "self" and p.default is p.empty
            ]
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit({', '.join(required)}) "
                f"before {method}"
            )

    def _check_X(self, X, method):
        """``X`` for ``method`` of a fitted estimator: float64, 2-D, ``n_features_in_`` columns."""
        self._check_fitted(method)
        X = as_float64(X, "X", 2)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with "
                f"{self.n_features_in_} features"
            )
        return X


class LinearModel(Estimator):
    """Base of the linear models: ``predict`` (``X @ coef_.T + intercept_``), ``score`` (R^2)."""

    def _set_intercept(self, x_mean, y_mean):
        self.intercept_ = y_mean - x_mean @ self.coef_.T if self.fit_intercept else 0.0 * y_mean
        if np.ndim(self.intercept_) == 0:
            self.intercept_ = float(self.intercept_)

    def predict(self, X):
        r""":math:`\hat y = X w + b` (``coef_`` is (p,) or, for k targets, (k, p))."""
        X = self._check_X(X, "predict")
        return X @ self.coef_.T + self.intercept_

    def score(self, X, y):
        """Coefficient of determination R^2 = 1 - SS_res / SS_tot (averaged over targets)."""
        return r2_score(as_float64(y, "y", (1, 2)), self.predict(X))


def r2_score(y_true, y_pred):
    """R^2 = 1 - sum (y - yhat)^2 / sum (y - ybar)^2, uniform average over targets.

    A constant ``y_true`` has no variance to explain: R^2 is 1.0 for a perfect prediction and
    0.0 otherwise (scikit-learn's convention), never a division by zero.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred shapes differ: {y_true.shape} vs {y_pred.shape}")
    ss_res = np.sum((y_true - y_pred) ** 2, axis=0)
    ss_tot = np.sum((y_true - y_true.mean(axis=0)) ** 2, axis=0)
    safe = np.where(ss_tot > 0, ss_tot, 1.0)
    r2 = np.where(ss_tot > 0, 1.0 - ss_res / safe, np.where(ss_res == 0, 1.0, 0.0))
    return float(np.mean(r2))


def mean_squared_error(y_true, y_pred):
    """MSE = (1/n) sum (y - yhat)^2, averaged over targets."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred shapes differ: {y_true.shape} vs {y_pred.shape}")
    return float(np.mean((y_true - y_pred) ** 2))


def centered_gram(X, y, fit_intercept):
    r"""Gram quantities of the centred data without forming the centred copy of X.

    Returns :math:`\tilde X^\top \tilde X`, :math:`\tilde X^\top \tilde y`,
    :math:`\|\tilde y\|^2` (per target), :math:`\bar x`, :math:`\bar y`, using

    .. math:: \tilde X^\top \tilde X = X^\top X - n\,\bar x \bar x^\top, \qquad
              \tilde X^\top \tilde y = X^\top y - n\,\bar x \bar y^\top, \qquad
              \|\tilde y\|^2 = \|y\|^2 - n \bar y^2

    which saves the n x p centred copy (a third of a Ridge fit on 5000 x 500). The subtraction
    loses about :math:`\log_{10}(1 + \bar x_j^2/s_j^2)` digits, so it is used only when every
    column's (and target's) squared mean is at most 1e4 times its variance (at most ~4 of 16
    digits); otherwise the data are centred explicitly (constant columns always are, so they
    come out exactly zero).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
        G, Xty, yy, x_mean, y_mean = _centered_gram(X, y, fit_intercept)
    check_products_finite(X, y, G, Xty, yy)
    return G, Xty, yy, x_mean, y_mean


def _centered_gram(X, y, fit_intercept):
    n = X.shape[0]
    G = np.dot(X.T, X)  # np.dot(X.T, X) runs BLAS syrk: half the flops of a general product
    Xty = X.T @ y
    yy = np.einsum("i...,i...->...", y, y)
    if not fit_intercept:
        return G, Xty, yy, np.zeros(X.shape[1]), 0.0 * yy
    x_mean, y_mean = X.mean(axis=0), y.mean(axis=0)
    y_var = yy / n - y_mean**2
    if shortcut_is_safe(np.diag(G), x_mean, n) and np.all(y_mean**2 <= MAX_MEAN_TO_VAR * y_var):
        G -= n * np.outer(x_mean, x_mean)
        Xty = Xty - n * np.multiply.outer(x_mean, y_mean)
        return G, Xty, yy - n * y_mean**2, x_mean, y_mean
    Xc, yc = X - x_mean, y - y_mean
    return np.dot(Xc.T, Xc), Xc.T @ yc, np.einsum("i...,i...->...", yc, yc), x_mean, y_mean


def check_products_finite(X, y, *products):
    """A ValueError when sums of products of the data overflowed float64 (X scaled by 1e160:
    every entry of :math:`X^\top X` is inf), as scikit-learn raises, instead of a NaN answer."""
    if all(np.all(np.isfinite(a)) for a in products):
        return
    raise ValueError(
        "X^T X (or X^T y) overflows float64: the largest |X| is "
        f"{np.max(np.abs(X)):.3g} and the largest |y| {np.max(np.abs(y)):.3g}, so sums of "
        f"their products pass {np.finfo(np.float64).max:.3g}; rescale X and y (standardize "
        "the columns, say) and fit again"
    )


# The shortcut X^T X - n mean mean^T loses about log10(1 + mean^2/var) of 16 digits per column:
# taken only while that is at most 4 digits (used by the linear models, the lasso's working set
# and PCA alike).
MAX_MEAN_TO_VAR = 1e4


def shortcut_is_safe(col_sq, x_mean, n):
    """True when every column of X has mean^2 <= MAX_MEAN_TO_VAR * variance, read off the
    columns' sums of squares ``col_sq`` (the diagonal of ``X^T X``) and means (constant columns
    never pass, so they are centred exactly)."""
    x_var = col_sq / n - x_mean**2
    return bool(np.all(x_mean**2 <= MAX_MEAN_TO_VAR * x_var))
