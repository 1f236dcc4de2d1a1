r"""Least squares and ridge regression, formula by formula (source articles 001 and 002).

Numbers (2.k) are chapter 02's formula numbers
(``chapters/02_complexity_gradient_descent_regularization.ipynb``), (3.k) chapter 03's
(``chapters/03_linear_analysis_and_convolution.ipynb``).

Objectives, scaled as scikit-learn scales them (DESIGN), intercept unpenalized (centring):

.. math::
    \text{LinearRegression:}\quad \min_w \|y - Xw\|_2^2 \qquad
    \text{Ridge:}\quad \min_w \|y - Xw\|_2^2 + \alpha \|w\|_2^2            (2.7)

Ridge's minimizer solves the normal equations :math:`(X^\top X + \alpha I) w = X^\top y`
(chapter 03's (3.2), written there for :math:`\tfrac12\|y - Xw\|^2 + \lambda\|w\|^2`, so
:math:`\alpha = 2\lambda`); with the thin SVD :math:`X = U \operatorname{diag}(d) V^\top` it is
:math:`w = V \operatorname{diag}(d_j / (d_j^2 + \alpha)) U^\top y`, and the fitted values
:math:`\hat y = U \operatorname{diag}(d_j^2/(d_j^2+\alpha)) U^\top y` give the effective degrees
of freedom :math:`\operatorname{df}(\alpha) = \sum_j d_j^2/(d_j^2+\alpha)`: both are (2.10).

Lasso, ElasticNet and AdaptiveLasso live in :mod:`minidl.linear_model.lasso`, lasso_path and
enet_path in :mod:`minidl.linear_model.regularization_path`; :mod:`minidl.linear_model` exports
them all.
"""

import warnings

import numpy as np

from minidl._validation import check_nonnegative, check_positive_int
from minidl.exceptions import ConvergenceWarning
from minidl.linear_model.base import (
    LinearModel,
    as_float64,
    center,
    centered_gram,
    check_products_finite,
    check_X_y,
)

RIDGE_SOLVERS = ("cholesky", "svd", "gd")


class LinearRegression(LinearModel):
    r"""Ordinary least squares :math:`\min_w \|y - Xw\|^2`, by ``numpy.linalg.lstsq``.

    lstsq (an SVD) returns the minimum-norm solution, so a constant column (zero after
    centring) or an exact collinearity gives a finite answer: the constant column's coefficient
    is 0. ``y`` may be (n,) or (n, k); ``coef_`` is then (p,) or (k, p).
    """

    def __init__(self, fit_intercept=True):
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        X, y = check_X_y(X, y, multi_output=True)
        Xc, yc, x_mean, y_mean = center(X, y, self.fit_intercept)
        coef, _, self.rank_, _ = np.linalg.lstsq(Xc, yc, rcond=None)
        self.coef_ = coef.T
        self.n_features_in_ = X.shape[1]
        self._set_intercept(x_mean, y_mean)
        return self


def _ridge_normal_equations(X, y, alpha, fit_intercept):
    """(3.2) by one solve with (X~^T X~ + alpha I), X~^T X~ from ``centered_gram`` (n >= p)."""
    A, Xty, _, x_mean, y_mean = centered_gram(X, y, fit_intercept)
    A.flat[:: X.shape[1] + 1] += alpha
    return np.linalg.solve(A, Xty), x_mean, y_mean


def _ridge_dual(Xc, yc, alpha):
    """(3.2) in dual form for n < p: w = X^T (X X^T + alpha I)^{-1} y (an n x n system).

    Same w, since (X^T X + alpha I) X^T = X^T (X X^T + alpha I).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
        K = np.dot(Xc, Xc.T)
    check_products_finite(Xc, yc, K)
    K.flat[:: Xc.shape[0] + 1] += alpha
    return Xc.T @ np.linalg.solve(K, yc)


# Singular values at or below this count as zero in every SVD formula here (the design's rank).
SINGULAR_VALUE_CUTOFF = 1e-15


def _svd_shrinkage(d, alphas):
    """:math:`d_j / (d_j^2 + \alpha)` for each singular value (rows) and alpha (columns), 0 where
    :math:`d_j` counts as zero: the filter factors of (2.10) applied to :math:`U^\top y`."""
    keep = d > SINGULAR_VALUE_CUTOFF
    shrink = np.zeros((d.size, alphas.size))
    # d / (d^2 + alpha) written as 1 / (d + alpha / d): d^2 overflows for d > 1e154 (X scaled
    # by 1e160), the quotient does not, so the SVD solver stays exact where X^T X cannot
    shrink[keep] = 1.0 / (d[keep, None] + alphas[None, :] / d[keep, None])
    return shrink


def _ridge_svd(Xc, yc, alpha):
    """(2.10): w = V diag(d / (d^2 + alpha)) U^T y."""
    U, d, Vt = np.linalg.svd(Xc, full_matrices=False)
    shrink = _svd_shrinkage(d, np.array([alpha]))[:, 0]
    Uty = U.T @ yc
    return Vt.T @ (shrink[:, None] * Uty if Uty.ndim == 2 else shrink * Uty)


def ridge_gradient(X, y, w, alpha):
    r"""Gradient of the ridge objective (2.7): :math:`\nabla J(w) = 2X^\top(Xw - y) + 2\alpha w`."""
    return 2.0 * X.T @ (X @ w - y) + 2.0 * alpha * w


def _ridge_gd(Xc, yc, alpha, max_iter, tol, w0=None):
    r"""Gradient descent (2.1) on (2.7) with the gradient written out:

    .. math:: \nabla J(w) = 2 X^\top (X w - y) + 2 \alpha w, \qquad
              w_{t+1} = w_t - \eta \nabla J(w_t), \quad \eta = 1/L                      (2.1)

    :math:`L = 2(d_{\max}^2 + \alpha)` is the gradient's Lipschitz constant (the Hessian's largest
    eigenvalue), so :math:`\eta = 1/L` is inside the step limit (2.6) and never diverges (the
    article ties its step to the penalty instead: ``ridge_gd_literal``). Stops
    when :math:`\|\nabla J(w)\| \le \text{tol}\cdot\|\nabla J(0)\| = \text{tol}\cdot\|2X^\top y\|`.
    """
    n, p = Xc.shape
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
        gram = np.dot(Xc.T, Xc) if n >= p else np.dot(Xc, Xc.T)
    check_products_finite(Xc, yc, gram)
    L = 2.0 * (np.linalg.eigvalsh(gram)[-1] + alpha)
    w = np.zeros((p,) + yc.shape[1:]) if w0 is None else w0.copy()
    grad0 = np.linalg.norm(2.0 * Xc.T @ yc)
    grad_norm = 0.0
    for it in range(1, max_iter + 1):
        grad = ridge_gradient(Xc, yc, w, alpha)
        grad_norm = np.linalg.norm(grad)
        if grad_norm <= tol * grad0:
            return w, it - 1
        w = w - grad / L
    warnings.warn(
        f"Ridge(solver='gd') did not converge in max_iter={max_iter} iterations: gradient norm "
        f"{grad_norm:.3e}, tolerance {tol * grad0:.3e}. Raise max_iter or use 'cholesky'.",
        ConvergenceWarning,
        stacklevel=3,
    )
    return w, max_iter


class Ridge(LinearModel):
    r"""Ridge :math:`\min_w \|y - Xw\|_2^2 + \alpha\|w\|_2^2` (2.7), intercept unpenalized.

    Parameters
    ----------
    alpha : float >= 0
        Penalty strength, scaled as scikit-learn's ``Ridge`` (no 1/n).
    fit_intercept : bool
        Centre X and y, then :math:`b = \bar y - \bar x^\top w`.
    solver : {'cholesky', 'svd', 'gd'}
        'cholesky': normal equations (3.2) by ``numpy.linalg.solve``, the Gram matrix of the
        centred data formed without a centred copy of X (``centered_gram``); the dual n x n
        system when n < p; alpha = 0 falls back to lstsq. 'svd': formula (2.10). 'gd':
        gradient descent (2.1) with ``max_iter`` and ``tol``.
    max_iter, tol : used by 'gd' only.

    ``y`` may be (n,) or (n, k) (k targets share alpha); ``coef_`` is (p,) or (k, p).
    Constant columns get coefficient 0 (they are zero after centring); ``y`` all zero gives
    all-zero coefficients and intercept.
    """

    def __init__(self, alpha=1.0, fit_intercept=True, solver="cholesky", max_iter=10000, tol=1e-10):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        alpha = check_nonnegative(self.alpha, "alpha")
        if self.solver not in RIDGE_SOLVERS:
            raise ValueError(f"solver must be one of {RIDGE_SOLVERS}, got {self.solver!r}")
        X, y = check_X_y(X, y, multi_output=True)
        self.n_iter_ = None
        n, p = X.shape
        if self.solver == "cholesky" and n >= p and alpha > 0:
            coef, x_mean, y_mean = _ridge_normal_equations(X, y, alpha, self.fit_intercept)
        else:
            Xc, yc, x_mean, y_mean = center(X, y, self.fit_intercept)
            if self.solver == "cholesky" and alpha == 0:
                # X^T X may be singular without the penalty: the minimum-norm lstsq answer.
                coef = np.linalg.lstsq(Xc, yc, rcond=None)[0]
            elif self.solver == "cholesky":
                coef = _ridge_dual(Xc, yc, alpha)
            elif self.solver == "svd":
                coef = _ridge_svd(Xc, yc, alpha)
            else:
                max_iter = check_positive_int(self.max_iter, "max_iter")
                tol = check_nonnegative(self.tol, "tol")
                coef, self.n_iter_ = _ridge_gd(Xc, yc, alpha, max_iter, tol)
        self.coef_ = coef.T
        self.n_features_in_ = X.shape[1]
        self._set_intercept(x_mean, y_mean)
        return self


def _check_alphas(alphas):
    alphas = as_float64(alphas, "alphas", (0, 1))
    if np.any(alphas < 0):
        raise ValueError(f"alphas must all be >= 0, got min {alphas.min()}")
    return alphas


def ridge_path(X, y, alphas, fit_intercept=False):
    """Ridge coefficients for every alpha from one SVD (2.10): (p, n_alphas), or (k, p, n_alphas).

    Like the lasso path, the data are used as given (``fit_intercept=False``); with
    ``fit_intercept=True`` they are centred first (the intercepts are then
    ``y.mean() - X.mean(0) @ coef``).
    """
    X, y = check_X_y(X, y, multi_output=True)
    alphas = np.atleast_1d(_check_alphas(alphas))
    Xc, yc, _, _ = center(X, y, fit_intercept)
    U, d, Vt = np.linalg.svd(Xc, full_matrices=False)
    Uty = U.T @ yc  # (r,) or (r, k)
    shrink = _svd_shrinkage(d, alphas)
    if Uty.ndim == 1:
        return Vt.T @ (shrink * Uty[:, None])  # (p, n_alphas)
    return np.einsum("rp,ra,rk->kpa", Vt, shrink, Uty)


def effective_df(X, alpha, fit_intercept=True):
    r"""Effective degrees of freedom of ridge (2.10): :math:`\sum_j d_j^2 / (d_j^2 + \alpha)`.

    :math:`d_j` are the singular values of the (centred, if ``fit_intercept``) design; this is
    :math:`\operatorname{tr} X (X^\top X + \alpha I)^{-1} X^\top`, the trace of the hat matrix.
    ``alpha`` may be a number or a 1-D array (then an array comes back). df(0) = rank(X).
    """
    X = as_float64(X, "X", 2)
    scalar = np.ndim(alpha) == 0
    if scalar:
        check_nonnegative(alpha, "alpha")
    alphas = np.atleast_1d(_check_alphas(alpha))
    Xc = X - X.mean(axis=0) if fit_intercept else X
    d2 = np.linalg.svd(Xc, compute_uv=False) ** 2
    d2 = d2[d2 > SINGULAR_VALUE_CUTOFF**2]  # numerically zero directions add 0, even at alpha 0
    df = np.sum(d2[:, None] / (d2[:, None] + alphas[None, :]), axis=0)
    return float(df[0]) if scalar else df


def ridge_gd_literal(X, y, alpha, iterations):
    r"""Article 001's ``ridge_regression``, line for line (kept to show what is wrong with it).

    .. code-block:: python

        gradient = (1 / m) * X.T.dot(X.dot(theta) - y) + (alpha / m) * np.eye(n).dot(theta)
        theta -= alpha * gradient

    What is wrong:

    1. **The learning rate is the penalty.** The same ``alpha`` scales the penalty term and the
       step. Its fixed point :math:`(X^\top X + \alpha I)^{-1} X^\top y` is ridge with penalty
       ``alpha`` (scikit-learn's scale, no intercept), but the step ``alpha`` is only stable when
       :math:`\alpha(\lambda_{\max}(X^\top X) + \alpha)/m < 2`: a penalty of a few units makes the
       iteration blow up (inf/NaN), and a small penalty makes it crawl.
    2. **No intercept**: the article's data have ``+ 0.5`` in y, which the fit cannot represent.
    3. ``y_pred`` is computed and never used; ``np.eye(n).dot(theta)`` is ``theta`` at O(n^2).

    ``Ridge(solver='gd')`` is the corrected version (step 1/L, penalty separate, intercept).
    """
    m, n = X.shape
    theta = np.zeros(n)
    for _ in range(iterations):
        y_pred = X.dot(theta)  # noqa: F841  (unused in the article too)
        gradient = (1 / m) * X.T.dot(X.dot(theta) - y) + (alpha / m) * np.eye(n).dot(theta)
        theta -= alpha * gradient
    return theta
