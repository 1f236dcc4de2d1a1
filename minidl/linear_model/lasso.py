r"""Lasso, ElasticNet, AdaptiveLasso (source article 001), scaled as scikit-learn.

Numbers (2.k) are the formula numbers of chapter 02
(``chapters/02_complexity_gradient_descent_regularization.ipynb``): the lasso below is its
(2.8), the article's weighted L1 objective (2.2) with the squared loss and the plain lasso (2.4)
with :math:`\lambda = n\alpha`, :math:`\omega_j = 1`; the elastic net, which the chapter does
not number, is tagged (EN) as in :mod:`minidl.linear_model.lasso_solvers`.

.. math::
    \text{Lasso:}\quad \min_w \frac{1}{2n}\|y - Xw\|_2^2 + \alpha\sum_j \omega_j|w_j|
    \qquad (2.8)

.. math::
    \text{ElasticNet:}\quad \min_w \frac{1}{2n}\|y - Xw\|_2^2
        + \alpha\rho\sum_j\omega_j|w_j| + \frac{\alpha(1-\rho)}{2}\|w\|_2^2            (EN)

:math:`\rho` = ``l1_ratio``, :math:`\omega_j` = ``penalty_weights`` (article 001's weighted L1,
default all 1 = scikit-learn's objective). The intercept is unpenalized (centring). Solvers and the
stopping rule are in :mod:`minidl.linear_model.lasso_solvers` and
:mod:`minidl.linear_model.lasso_working_set`, the set-up of one problem for them in
:mod:`minidl.linear_model.lasso_problem`, the path in
:mod:`minidl.linear_model.regularization_path`.
"""

import numpy as np

from minidl._validation import check_fraction, check_nonnegative, check_positive_int
from minidl.linear_model.base import LinearModel, center, check_X_y
from minidl.linear_model.lasso_problem import LASSO_SOLVERS, check_penalty_weights, prepare_problem


class ElasticNet(LinearModel):
    r"""Elastic net (EN) by coordinate descent (or ISTA/FISTA); ``l1_ratio=1`` is the lasso.

    Parameters
    ----------
    alpha : float >= 0;  l1_ratio : float in [0, 1]
    fit_intercept : bool
    max_iter : int;  tol : float
        Stop when the duality gap <= tol * ||y - ybar||^2 / n (scikit-learn's rule; 'ista' and
        'fista' also require gap <= 2 tol P(w), relative to the objective reached, see
        ``enet_proximal_gradient``); otherwise a ``ConvergenceWarning`` reports the gap
        reached. ``alpha = 0`` (least squares, which no duality gap certifies) is solved
        directly by ``lstsq``: ``n_iter_`` 0, ``dual_gap_`` the exact suboptimality.
    warm_start : bool
        Start from the previous ``coef_`` (a path of alphas converges in a few sweeps).
    solver : {'cd', 'cd_naive', 'ista', 'fista'}
        'cd': Gram-matrix coordinate descent with active sets (``enet_cd_gram``), on a growing
        working set of features when p > 64 (``enet_cd_working_set``); 'cd_naive': the plain
        loop; 'ista'/'fista': proximal gradient. All stop on the same duality-gap rule.
    penalty_weights : None or array (p,) of positive numbers
        :math:`\omega_j` of the weighted L1 penalty.

    Attributes: ``coef_`` (p,), ``intercept_``, ``n_iter_``, ``dual_gap_`` (1/n scale, as
    scikit-learn): a certificate :math:`\ge P(w) - P(w^*) \ge 0`, computed as a sum of non-negative
    terms (``minidl.linear_model.proximal.duality_gap``), never as P - D, whose rounding can make it
    negative. ``y`` must be 1-D. Constant columns get coefficient 0; ``y`` all zero (or constant)
    gives all-zero coefficients (the gap is 0 at w = 0).
    """

    def __init__(
        self,
        alpha=1.0,
        l1_ratio=0.5,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-4,
        warm_start=False,
        solver="cd",
        penalty_weights=None,
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.solver = solver
        self.penalty_weights = penalty_weights

    def fit(self, X, y):
        alpha = check_nonnegative(self.alpha, "alpha")
        l1_ratio = check_fraction(self.l1_ratio, "l1_ratio")
        max_iter = check_positive_int(self.max_iter, "max_iter")
        tol = check_nonnegative(self.tol, "tol")
        if self.solver not in LASSO_SOLVERS:
            raise ValueError(f"solver must be one of {LASSO_SOLVERS}, got {self.solver!r}")
        X, y = check_X_y(X, y)
        weights = check_penalty_weights(self.penalty_weights, X.shape[1])
        problem = prepare_problem(X, y, self.fit_intercept, self.solver)
        w0 = None
        if self.warm_start and getattr(self, "coef_", None) is not None:
            if self.coef_.shape == (X.shape[1],):
                w0 = self.coef_
        self.coef_, self.dual_gap_, self.n_iter_ = problem.solve(
            alpha, l1_ratio, weights, w0, max_iter, tol
        )
        self.n_features_in_ = X.shape[1]
        self._set_intercept(problem.x_mean, problem.y_mean)
        return self


class Lasso(ElasticNet):
    r"""Lasso (2.8) of chapter 02: ElasticNet with ``l1_ratio=1``.

    .. math:: \min_w \frac{1}{2n}\|y - Xw\|^2 + \alpha\sum_j\omega_j|w_j|           (2.8)

    the weighted L1 objective (2.2) with the squared loss; with all :math:`\omega_j = 1` the
    lasso (2.4) with :math:`\lambda = n\alpha`.
    """

    def __init__(
        self,
        alpha=1.0,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-4,
        warm_start=False,
        solver="cd",
        penalty_weights=None,
    ):
        super().__init__(
            alpha, 1.0, fit_intercept, max_iter, tol, warm_start, solver, penalty_weights
        )


class AdaptiveLasso(Lasso):
    r"""Adaptive lasso (Zou 2006): lasso (2.8) with :math:`\omega_j = 1/|\hat\beta_j^{ols}|^\gamma`.

    :math:`\hat\beta^{ols}` is the least-squares fit on the centred data (minimum-norm lstsq when
    p >= n). A coefficient that OLS puts at (numerically) zero gets a huge but finite weight
    (its |beta| is floored at 1e-12 times the largest), so it stays out of the model.
    ``weights_`` holds the weights used.
    """

    def __init__(
        self, alpha=1.0, gamma=1.0, fit_intercept=True, max_iter=1000, tol=1e-4, solver="cd"
    ):
        super().__init__(alpha, fit_intercept, max_iter, tol, False, solver, None)
        self.gamma = gamma

    def fit(self, X, y):
        gamma = check_nonnegative(self.gamma, "gamma")
        X, y = check_X_y(X, y)
        Xc, yc, _, _ = center(X, y, self.fit_intercept)
        beta = np.abs(np.linalg.lstsq(Xc, yc, rcond=None)[0])
        floor = max(1e-12 * beta.max(initial=0.0), np.finfo(np.float64).tiny)
        self.weights_ = 1.0 / np.maximum(beta, floor) ** gamma
        self.penalty_weights = self.weights_
        try:
            return super().fit(X, y)
        finally:
            self.penalty_weights = None  # keep get_params() equal to the constructor's


def lasso_literal(X, y, alpha, iterations):
    r"""Article 001's ``lasso_regression``, line for line (kept to show what is wrong with it).

    .. code-block:: python

        gradient = (1 / m) * X.T.dot(X.dot(theta) - y) + (alpha / m) * np.sign(theta)
        theta -= alpha * gradient

    What is wrong:

    1. **The alpha mix-up.** ``alpha`` is the step size *and* the penalty, and the penalty is
       divided by m: the function it descends is
       :math:`\frac{1}{2m}\|y - X\theta\|^2 + \frac{\alpha}{m}\|\theta\|_1`, i.e. scikit-learn's
       ``Lasso(alpha=alpha/m)``, not ``Lasso(alpha)`` (nor the article's own formula
       :math:`\frac12\|y-X\theta\|^2 + \lambda\|\theta\|_1` with the step chosen freely). With
       m = 100, alpha = 0.1 is a penalty of 0.001: almost least squares.
    2. **Subgradient steps never give zeros.** ``np.sign`` of a coordinate that should be 0
       flips it back and forth around 0 with amplitude ~ alpha^2/m; nothing is ever pruned. The
       soft threshold (2.9) sets it exactly to 0.
    3. No intercept; ``y_pred`` unused.

    ``Lasso`` (coordinate descent, or ``solver='ista'``: the proximal version of this same
    gradient step) is the corrected version.
    """
    m, n = X.shape
    theta = np.zeros(n)
    for _ in range(iterations):
        y_pred = X.dot(theta)  # noqa: F841  (unused in the article too)
        gradient = (1 / m) * X.T.dot(X.dot(theta) - y) + (alpha / m) * np.sign(theta)
        theta -= alpha * gradient
    return theta
