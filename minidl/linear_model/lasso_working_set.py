r"""Coordinate descent on a growing working set: the Gram matrix only where it is needed.

For a sparse answer most of the p x p Gram matrix of ``enet_cd_gram`` is never used: only the
columns of features that enter the model are. ``enet_cd_working_set`` therefore

1. computes the correlations of all features with the residual :math:`r = \tilde y - \tilde X w`,
   :math:`X^\top r / n` (one pass over X; with centred r, :math:`\tilde X^\top r = X^\top r`),
   and with them the duality gap (gap) of :mod:`minidl.linear_model.lasso_solvers` for the
   *full* problem, the stopping rule;
2. adds to the working set W the features that violate the optimality condition for
   :math:`w_j = 0`, :math:`|X_j^\top r/n| \le \lambda_j` (the worst ones first, at most doubling
   W each round);
3. solves the problem restricted to W with ``enet_cd_gram`` on the small Gram
   :math:`\tilde X_W^\top \tilde X_W / n`, warm-started, and goes back to 1.

When no feature outside W violates its condition, the full gap equals the gap of the
sub-problem, so the loop stops with exactly the certificate of the plain algorithm (same
``tol``): the answer is the same lasso solution, found without the n p^2 product. This is the
"KKT check" of glmnet's strong rules (Tibshirani et al. 2012) without the rule itself.
"""

import numpy as np

from minidl.linear_model.lasso_solvers import enet_cd_gram, warn_not_converged
from minidl.linear_model.proximal import duality_gap


def enet_cd_working_set(X, x_mean, yc, lam, beta=0.0, w=None, max_iter=1000, tol=1e-4, first=64):
    """Solve (EN) of :mod:`~minidl.linear_model.lasso_solvers` for centred ``X - x_mean``, ``yc``.

    ``X`` is the raw design (never copied whole); ``first`` is the initial working-set size.
    Returns ``(w, gap, n_iter)`` with ``n_iter`` the number of sweeps of the inner solver.
    """
    n, p = X.shape
    w = np.zeros(p) if w is None else np.array(w, dtype=np.float64)
    yy = float(yc @ yc) / n
    tol_abs = tol * yy
    work = np.flatnonzero(w)
    Xw = X[:, work] - x_mean[work]
    n_iter, gap = 0, np.inf
    while True:
        r = yc - Xw @ w[work]
        xtr = (X.T @ r - x_mean * r.sum()) / n  # = (X - x_mean)^T r / n, without the copy
        gap = duality_gap(float(r @ r) / n, w, xtr, lam, beta)
        if gap <= tol_abs:
            return w, gap, n_iter
        score = np.abs(xtr) / lam
        score[work] = 0.0
        violators = np.flatnonzero(score > 1.0)
        if n_iter >= max_iter:
            break
        if violators.size:
            k = max(first, work.size)
            new = violators[np.argsort(score[violators])[::-1][:k]]
            work = np.sort(np.concatenate([work, new]))
            Xw = X[:, work] - x_mean[work]
        G, c = Xw.T @ Xw / n, Xw.T @ yc / n
        # Inner tolerance: tight enough that, once W holds the support, its gap meets tol.
        w_work, _, it = enet_cd_gram(G, c, yy, lam[work], beta, w[work], max_iter - n_iter,
                                     tol if violators.size else tol * 1e-2, warn=False)  # fmt: skip
        n_iter += max(it, 1)
        w[:] = 0.0
        w[work] = w_work
    warn_not_converged("coordinate descent", max_iter, gap, tol_abs)
    return w, gap, max_iter
