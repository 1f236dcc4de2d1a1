r"""Regularization paths: the lasso / elastic net along a decreasing grid of alphas.

scikit-learn's grid: :math:`\alpha_{\max} = \max_j |X_j^\top y| / (n\rho\omega_j)`, the smallest
alpha whose solution is w = 0 (chapter 02's (2.11) for :math:`\rho = \omega_j = 1`), then
``n_alphas`` values log-spaced down to ``eps * alpha_max``. Each fit starts from the previous
one's coefficients (warm start), and the Gram matrix (or the working-set setup) is prepared
once for the whole path.
"""

import numpy as np

from minidl._validation import check_fraction, check_nonnegative, check_positive_int
from minidl.linear_model.base import as_float64, check_X_y
from minidl.linear_model.lasso_problem import LASSO_SOLVERS, check_penalty_weights, prepare_problem


def alpha_grid(Xc, yc, l1_ratio=1.0, n_alphas=100, eps=1e-3, weights=None):
    r"""scikit-learn's grid: ``n_alphas`` values log-spaced from alpha_max down to eps * alpha_max.

    :math:`\alpha_{\max} = \max_j |X_j^\top y| / (n\,\rho\,\omega_j)` is the smallest alpha
    whose solution is w = 0 (the zero vector satisfies the optimality condition: the soft
    threshold (2.9) of chapter 02 maps every :math:`z_j` to 0). For :math:`\rho = \omega_j = 1` it
    is the chapter's :math:`\alpha_{\max}` of (2.11).
    """
    return _grid(Xc.T @ yc / Xc.shape[0], l1_ratio, n_alphas, eps, weights)


def _grid(c, l1_ratio, n_alphas, eps, weights):
    """The grid from c = X^T y / n: alpha_max = max_j |c_j| / (rho w_j)."""
    weights = np.ones(c.size) if weights is None else weights
    alpha_max = float(np.max(np.abs(c) / weights)) / l1_ratio
    if alpha_max <= np.finfo(np.float64).resolution:  # y orthogonal to X (e.g. y = 0)
        return np.full(n_alphas, np.finfo(np.float64).resolution)
    return np.geomspace(alpha_max, alpha_max * eps, num=n_alphas)


def enet_path(
    X,
    y,
    l1_ratio=0.5,
    alphas=None,
    n_alphas=100,
    eps=1e-3,
    fit_intercept=False,
    max_iter=1000,
    tol=1e-4,
    penalty_weights=None,
    coef_init=None,
    solver="cd",
):
    """Elastic-net coefficients along a decreasing alpha grid, each fit warm-started from the last.

    As scikit-learn's ``enet_path``, X and y are used as given (``fit_intercept=False``:
    centre them first, or pass ``fit_intercept=True``). The Gram matrix is computed once.
    Returns ``(alphas, coefs, dual_gaps)`` with ``coefs`` of shape (p, n_alphas).
    """
    l1_ratio = check_fraction(l1_ratio, "l1_ratio")
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_nonnegative(tol, "tol")
    if solver not in LASSO_SOLVERS:
        raise ValueError(f"solver must be one of {LASSO_SOLVERS}, got {solver!r}")
    X, y = check_X_y(X, y)
    p = X.shape[1]
    weights = check_penalty_weights(penalty_weights, p)
    problem = prepare_problem(X, y, fit_intercept, solver)
    if alphas is None:
        if l1_ratio == 0:
            raise ValueError("l1_ratio=0 has no alpha_max: pass alphas explicitly")
        alphas = _grid(problem.c, l1_ratio, check_positive_int(n_alphas, "n_alphas"), eps, weights)
    else:
        alphas = np.sort(as_float64(alphas, "alphas", 1))[::-1]
        if np.any(alphas < 0):
            raise ValueError(f"alphas must all be >= 0, got min {alphas.min()}")
    coefs = np.empty((p, alphas.size))
    gaps = np.empty(alphas.size)
    w = None if coef_init is None else as_float64(coef_init, "coef_init", 1)
    for k, alpha in enumerate(alphas):
        w, gaps[k], _ = problem.solve(alpha, l1_ratio, weights, w, max_iter, tol)
        coefs[:, k] = w
    return alphas, coefs, gaps


def lasso_path(
    X,
    y,
    alphas=None,
    n_alphas=100,
    eps=1e-3,
    fit_intercept=False,
    max_iter=1000,
    tol=1e-4,
    penalty_weights=None,
    coef_init=None,
    solver="cd",
):
    """Chapter 02's lasso path (2.11): ``enet_path`` with ``l1_ratio=1``, from max|X^T y|/n down."""
    return enet_path(
        X,
        y,
        1.0,
        alphas,
        n_alphas,
        eps,
        fit_intercept,
        max_iter,
        tol,
        penalty_weights,
        coef_init,
        solver,
    )
