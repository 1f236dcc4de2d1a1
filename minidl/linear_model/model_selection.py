r"""Choosing the penalty (article 001's Q&A: "cross-validation or AIC/BIC").

Numbers (2.15) and (2.16) are chapter 02's
(``chapters/02_complexity_gradient_descent_regularization.ipynb``).

* ``KFold`` / ``cross_val_score``: scikit-learn's K-fold splitter (same folds for
  ``shuffle=False``) and the per-fold score of a freshly built estimator.
* ``RidgeCV`` / ``LassoCV``: pick alpha with the smallest mean held-out error (2.15). ``LassoCV``
  follows scikit-learn's: one alpha grid from the full data, a warm-started lasso path on each
  training fold (centred on that fold), mean squared error on the held-out fold, then a refit
  at the best alpha on all the data.
* ``information_criterion`` / ``LassoIC``: AIC and BIC along the lasso path, as scikit-learn's
  ``LassoLarsIC`` (version 1.1 on) defines them:

  .. math::
      \mathrm{AIC} = n\log(2\pi\hat\sigma^2) + \frac{\mathrm{RSS}}{\hat\sigma^2} + 2\,\mathrm{df},
      \qquad
      \mathrm{BIC} = n\log(2\pi\hat\sigma^2) + \frac{\mathrm{RSS}}{\hat\sigma^2}
                     + \log(n)\,\mathrm{df}                                               (2.16)

  with df = the number of nonzero coefficients (|w_j| > float64 eps), an unbiased estimate of
  the lasso's degrees of freedom (Zou, Hastie & Tibshirani 2007, "On the degrees of freedom of
  the lasso"), and the noise variance from the least-squares fit on the (centred) data,
  :math:`\hat\sigma^2 = \mathrm{RSS}_{\mathrm{OLS}} / (n - p - \text{fit\_intercept})`, unless
  ``noise_variance`` is given (needed when n <= p + fit_intercept).
"""

import numpy as np

from minidl._rng import get_rng
from minidl._validation import check_positive_int
from minidl.linear_model.base import as_float64, center, check_X_y, mean_squared_error, r2_score
from minidl.linear_model.lasso import Lasso
from minidl.linear_model.linear import Ridge
from minidl.linear_model.regularization_path import alpha_grid, lasso_path

SCORINGS = ("r2", "neg_mse")


class KFold:
    """K consecutive folds (first n % k folds one sample larger), optionally shuffled by ``rng``.

    ``split(X)`` yields ``(train_index, test_index)``; with ``shuffle=False`` the folds equal
    scikit-learn's ``KFold(n_splits)``.
    """

    def __init__(self, n_splits=5, shuffle=False, rng=None):
        self.n_splits = check_positive_int(n_splits, "n_splits", minimum=2)
        self.shuffle = bool(shuffle)
        self.rng = rng

    def get_n_splits(self):
        return self.n_splits

    def split(self, X, y=None):
        n = len(X)
        if n < self.n_splits:
            raise ValueError(f"n_splits={self.n_splits} is more than the {n} samples in X")
        order = get_rng(self.rng).permutation(n) if self.shuffle else np.arange(n)
        sizes = np.full(self.n_splits, n // self.n_splits)
        sizes[: n % self.n_splits] += 1
        start = 0
        for size in sizes:
            test = order[start : start + size]
            train = np.concatenate([order[:start], order[start + size :]])
            yield train, test
            start += size


def _as_cv(cv):
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        return KFold(int(cv))
    if hasattr(cv, "split") and not isinstance(cv, str):
        return cv
    raise TypeError(f"cv must be an int or an object with split(X), got {type(cv).__name__}")


def clone(estimator):
    """A new, unfitted estimator with the same constructor arguments."""
    return type(estimator)(**estimator.get_params())


def _score(y_true, y_pred, scoring):
    if scoring == "r2":
        return r2_score(y_true, y_pred)
    return -mean_squared_error(y_true, y_pred)


def cross_val_score(estimator, X, y, cv=5, scoring="r2"):
    """Score of ``clone(estimator)`` fitted on each training fold, on its held-out fold.

    ``scoring``: 'r2' (coefficient of determination) or 'neg_mse' (minus the mean squared
    error, so that larger is better for both). Returns an array of ``n_splits`` scores.
    """
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
    X, y = check_X_y(X, y, multi_output=True)
    scores = []
    for train, test in _as_cv(cv).split(X):
        model = clone(estimator).fit(X[train], y[train])
        scores.append(_score(y[test], model.predict(X[test]), scoring))
    return np.array(scores)


class RidgeCV(Ridge):
    """Ridge with alpha chosen from ``alphas`` by K-fold CV (best mean score; (2.15) for neg_mse).

    Attributes: ``alpha_``, ``cv_scores_`` (n_alphas, n_splits), then the refit ``coef_``.
    """

    def __init__(self, alphas=(0.1, 1.0, 10.0), fit_intercept=True, cv=5, scoring="neg_mse"):
        super().__init__(alpha=1.0, fit_intercept=fit_intercept)
        self.alphas = alphas
        self.cv = cv
        self.scoring = scoring

    def fit(self, X, y):
        alphas = as_float64(self.alphas, "alphas", 1)
        if alphas.size == 0 or np.any(alphas < 0):
            raise ValueError(f"alphas must be a non-empty list of numbers >= 0, got {alphas}")
        self.cv_scores_ = np.array(
            [
                cross_val_score(Ridge(a, self.fit_intercept), X, y, self.cv, self.scoring)
                for a in alphas
            ]
        )
        self.alpha_ = float(alphas[np.argmax(self.cv_scores_.mean(axis=1))])
        self.alpha = self.alpha_
        try:
            return super().fit(X, y)
        finally:
            self.alpha = 1.0  # get_params() stays the constructor's


class LassoCV(Lasso):
    """Lasso with alpha minimizing the K-fold CV error (2.15) along the path, as sklearn's LassoCV.

    Attributes: ``alphas_`` (decreasing), ``mse_path_`` (n_alphas, n_splits), ``alpha_``, then
    the refit ``coef_``, ``intercept_``.
    """

    def __init__(self, alphas=None, n_alphas=100, eps=1e-3, fit_intercept=True, cv=5,
                 max_iter=1000, tol=1e-4):  # fmt: skip
        super().__init__(1.0, fit_intercept, max_iter, tol)
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv

    def fit(self, X, y):
        X, y = check_X_y(X, y)
        if self.alphas is None:
            Xc, yc, _, _ = center(X, y, self.fit_intercept)
            n_alphas = check_positive_int(self.n_alphas, "n_alphas")
            alphas = alpha_grid(Xc, yc, 1.0, n_alphas, self.eps)
        else:
            alphas = np.sort(as_float64(self.alphas, "alphas", 1))[::-1]
        mse = []
        for train, test in _as_cv(self.cv).split(X):
            Xt, yt = X[train], y[train]
            _, coefs, _ = lasso_path(Xt, yt, alphas, fit_intercept=self.fit_intercept,
                                     max_iter=self.max_iter, tol=self.tol)  # fmt: skip
            intercepts = (yt.mean() - Xt.mean(0) @ coefs) if self.fit_intercept else 0.0
            resid = X[test] @ coefs + intercepts - y[test][:, None]
            mse.append(np.mean(resid**2, axis=0))
        self.alphas_ = alphas
        self.mse_path_ = np.array(mse).T
        self.alpha_ = float(alphas[np.argmin(self.mse_path_.mean(axis=1))])
        self.alpha = self.alpha_
        try:
            return super().fit(X, y)
        finally:
            self.alpha = 1.0


def information_criterion(X, y, coefs, criterion="aic", noise_variance=None, fit_intercept=True):
    """AIC or BIC (2.16) of each column of ``coefs`` (p, n_models); returns (criteria, sigma^2)."""
    if criterion not in ("aic", "bic"):
        raise ValueError(f"criterion must be 'aic' or 'bic', got {criterion!r}")
    X, y = check_X_y(X, y)
    coefs = as_float64(coefs, "coefs", (1, 2)).reshape(X.shape[1], -1)
    Xc, yc, _, _ = center(X, y, fit_intercept)
    n, p = Xc.shape
    rss = np.sum((yc[:, None] - Xc @ coefs) ** 2, axis=0)
    df = np.sum(np.abs(coefs) > np.finfo(np.float64).eps, axis=0)
    if noise_variance is None:
        if n <= p + fit_intercept:
            raise ValueError(
                f"noise_variance is needed when n_samples ({n}) <= n_features ({p}) + "
                f"fit_intercept: the least-squares residual leaves no degrees of freedom"
            )
        w_ols = np.linalg.lstsq(Xc, yc, rcond=None)[0]
        noise_variance = float(np.sum((yc - Xc @ w_ols) ** 2)) / (n - p - fit_intercept)
    elif not np.isfinite(noise_variance) or noise_variance <= 0:
        raise ValueError(f"noise_variance must be a positive number, got {noise_variance}")
    factor = 2.0 if criterion == "aic" else np.log(n)
    crit = n * np.log(2 * np.pi * noise_variance) + rss / noise_variance + factor * df
    return crit, noise_variance


class LassoIC(Lasso):
    """Lasso with alpha chosen by AIC or BIC (2.16) along the coordinate-descent path.

    Attributes: ``alphas_``, ``criterion_``, ``alpha_``, ``noise_variance_``, and ``coef_``,
    ``intercept_`` taken from the path at the best alpha (as ``LassoLarsIC``).
    """

    def __init__(self, criterion="aic", alphas=None, n_alphas=100, eps=1e-3, fit_intercept=True,
                 noise_variance=None, max_iter=1000, tol=1e-4):  # fmt: skip
        super().__init__(1.0, fit_intercept, max_iter, tol)
        self.criterion = criterion
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.eps = eps
        self.noise_variance = noise_variance

    def fit(self, X, y):
        X, y = check_X_y(X, y)
        alphas, coefs, _ = lasso_path(X, y, self.alphas, self.n_alphas, self.eps,
                                      self.fit_intercept, self.max_iter, self.tol)  # fmt: skip
        self.criterion_, self.noise_variance_ = information_criterion(
            X, y, coefs, self.criterion, self.noise_variance, self.fit_intercept
        )
        best = int(np.argmin(self.criterion_))
        self.alphas_, self.alpha_ = alphas, float(alphas[best])
        self.coef_ = coefs[:, best].copy()
        self.n_features_in_ = X.shape[1]
        _, _, x_mean, y_mean = center(X, y, self.fit_intercept)
        self._set_intercept(x_mean, y_mean)
        return self
