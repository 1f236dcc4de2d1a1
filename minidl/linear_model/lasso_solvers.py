r"""Solvers for the (weighted) lasso / elastic net, written in scikit-learn's 1/n scale.

Numbers (2.k) are the formula numbers of chapter 02
(``chapters/02_complexity_gradient_descent_regularization.ipynb``); the formulas the chapter
does not number are tagged by name, (EN), (gap) and (AS), so they cannot clash with a chapter's.

.. math::
    P(w) = \frac{1}{2n}\|y - Xw\|_2^2 + \sum_j \lambda_j |w_j| + \frac{\beta}{2}\|w\|_2^2  (EN)

with :math:`\lambda_j = \alpha\,\rho\,\omega_j` (article 001's weighted L1
:math:`\lambda\sum_j\omega_j|\theta_j|`, (2.2); :math:`\omega_j = 1` is the plain lasso) and
:math:`\beta = \alpha(1-\rho)`, :math:`\rho` = ``l1_ratio``. With :math:`\beta = 0` (EN) is the
chapter's lasso (2.8).

Coordinate descent (Friedman, Hastie & Tibshirani 2010) minimizes (EN) in one coordinate at a
time, in closed form with the soft threshold (2.9) :math:`S(z, \lambda) = \operatorname{sign}(z)
\max(|z| - \lambda, 0)`:

.. math::
    z_j = \tfrac1n X_j^\top (y - Xw) + \tfrac1n\|X_j\|^2 w_j, \qquad
    w_j \leftarrow \frac{S(z_j, \lambda_j)}{\tfrac1n\|X_j\|^2 + \beta}                     (2.11)

(chapter 02 writes (2.11) for the lasso, :math:`\beta = 0`). ``enet_proximal_gradient`` runs
ISTA/FISTA instead. The soft threshold, the duality gap and the ISTA/FISTA iteration are in
:mod:`minidl.linear_model.proximal`, shared with compressed sensing.

Stopping rule (scikit-learn's): the duality gap :math:`G = P(w) - D(\theta) \ge P(w) - P(w^*)`
(gap) with the dual point :math:`\theta = s\,(y - Xw)`, :math:`s = \min(1, 1/\max_j
|X_j^\top(y - Xw)/n - \beta w_j| / \lambda_j)`, must satisfy
:math:`G \le \text{tol}\cdot\|y\|^2/n` (scikit-learn's ``_cd_fast`` checks
:math:`G_n \le \text{tol}\|y\|^2` on the n-times-larger objective: the same rule). The naive
loop computes the gap only after a sweep whose largest coefficient change is below ``tol`` times
the largest coefficient, as scikit-learn does; on the Gram form the gap costs O(p), so it is
checked after every full sweep.

``lasso_cd_naive`` is (2.11) as a plain loop over coordinates with the residual
:math:`r = y - Xw` updated in place. ``enet_cd_gram`` is the same update on the Gram matrix
(covariance updates: :math:`X_j^\top r = c_j - q_j` with :math:`c = X^\top y/n` and
:math:`q = (X^\top X/n) w` kept current in O(p) per change), plus active-set sweeps: after a
full sweep, only the nonzero coordinates are swept (on their own sub-Gram) until they settle,
then one full sweep checks the rest. Tests hold the two equal to 1e-10.

One shortcut makes the Python loop fast enough (scikit-learn's is compiled): once a full sweep
leaves the set A of nonzero coefficients and their signs s unchanged, the optimality condition
of (EN) restricted to A is linear,

.. math:: (G_{AA} + \beta I)\, w_A = c_A - \lambda_A \circ s                              (AS)

so ``enet_cd_gram`` solves it directly (a |A| x |A| system; also once per active-set phase,
for the sub-problem on A) and keeps the answer only if its
duality gap meets the same tolerance (the gap certifies it: a wrong A or s cannot pass).
Otherwise the sweeps simply continue. Along a warm-started path this usually ends each alpha
after one sweep.
"""

import warnings

import numpy as np

from minidl.exceptions import ConvergenceWarning
from minidl.linear_model.proximal import duality_gap, proximal_gradient


def warn_not_converged(solver, max_iter, gap, tol_abs):
    """The ``ConvergenceWarning`` of every lasso solver: the gap reached and the tolerance."""
    warnings.warn(
        f"{solver} did not converge in max_iter={max_iter} iterations. Duality gap: "
        f"{gap:.6e}, tolerance: {tol_abs:.3e}. Raise max_iter, loosen tol, or check the "
        "scaling of X (the lasso is not scale invariant).",
        ConvergenceWarning,
        stacklevel=4,
    )


def lasso_cd_naive(X, y, lam, beta=0.0, w=None, max_iter=1000, tol=1e-4):
    """Readable twin: (2.11) coordinate by coordinate, residual updated in place.

    ``lam`` is the per-feature penalty vector (length p). Returns ``(w, gap, n_iter)``.
    """
    n, p = X.shape
    w = np.zeros(p) if w is None else np.array(w, dtype=np.float64)
    col_sq = np.einsum("ij,ij->j", X, X) / n  # (1/n)||X_j||^2, precomputed once
    r = y - X @ w  # residual, kept equal to y - Xw after every change
    tol_abs = tol * float(y @ y) / n
    gap = duality_gap(r @ r / n, w, X.T @ r / n, lam, beta)
    if gap <= tol_abs:
        return w, gap, 0
    for n_iter in range(1, max_iter + 1):
        w_max = d_w_max = 0.0
        for j in range(p):
            if col_sq[j] == 0.0:  # constant (or all-zero) column: coefficient stays 0
                continue
            w_old = w[j]
            z = X[:, j] @ r / n + col_sq[j] * w_old  # z_j of (2.11)
            w[j] = np.sign(z) * max(abs(z) - lam[j], 0.0) / (col_sq[j] + beta)  # S(z, lam)/...
            if w[j] != w_old:
                r -= X[:, j] * (w[j] - w_old)
            d_w_max = max(d_w_max, abs(w[j] - w_old))
            w_max = max(w_max, abs(w[j]))
        if w_max == 0.0 or d_w_max <= tol * w_max or n_iter == max_iter:
            gap = duality_gap(r @ r / n, w, X.T @ r / n, lam, beta)
            if gap <= tol_abs:
                return w, gap, n_iter
    warn_not_converged("lasso_cd_naive", max_iter, gap, tol_abs)
    return w, gap, max_iter


def _sweep(G, c, lam, denom, w, q, idx):
    """One pass of (2.11) over the coordinates ``idx`` on the Gram form; updates w, q in place.

    z_j = c_j - q_j + G_jj w_j, since X_j^T r / n = c_j - (Gw)_j. Returns (max |dw|, max |w|).
    """
    d_w_max = w_max = 0.0
    for j in idx:
        w_old = w[j]
        z = c[j] - q[j] + G[j, j] * w_old
        a = abs(z) - lam[j]
        w_new = (a if z > 0 else -a) / denom[j] if a > 0 else 0.0
        if w_new != w_old:
            q += (w_new - w_old) * G[j]  # keep q = G w current: O(p)
            w[j] = w_new
            d = abs(w_new - w_old)
            if d > d_w_max:
                d_w_max = d
        if abs(w_new) > w_max:
            w_max = abs(w_new)
    return d_w_max, w_max


def _gram_gap(G, c, yy, w, q, lam, beta):
    """Duality gap (gap) without the residual: ||r||^2/n = yy + w.q - 2 c.w, X^T r/n = c - q."""
    return duality_gap(yy + float(w @ q) - 2.0 * float(c @ w), w, c - q, lam, beta)


def _active_set_solve(G, c, lam, beta, w):
    """Solve (AS) on the support of ``w`` with its signs; None if the signs do not hold."""
    active = np.flatnonzero(w)
    if active.size == 0:
        return None
    signs = np.sign(w[active])
    M = G[np.ix_(active, active)]
    M.flat[:: active.size + 1] += beta
    try:
        w_active = np.linalg.solve(M, c[active] - lam[active] * signs)
    except np.linalg.LinAlgError:  # collinear active columns without an L2 term
        return None
    if not np.array_equal(np.sign(w_active), signs):
        return None
    w_new = np.zeros_like(w)
    w_new[active] = w_active
    return w_new


def enet_cd_gram(G, c, yy, lam, beta=0.0, w=None, max_iter=1000, tol=1e-4, warn=True):
    """Fast coordinate descent (2.11) on ``G = X^T X / n``, ``c = X^T y / n``, ``yy = y.y / n``.

    Same updates, same stopping rule as ``lasso_cd_naive``; Gram computed once by the caller
    (a path reuses it for every alpha). Returns ``(w, gap, n_iter)``.
    """
    p = c.size
    w = np.zeros(p) if w is None else np.array(w, dtype=np.float64)
    diag = np.diag(G)
    denom = diag + beta
    live = np.flatnonzero(diag > 0)  # zero columns never move
    w[diag == 0] = 0.0
    q = G @ w
    tol_abs = tol * yy
    gap = _gram_gap(G, c, yy, w, q, lam, beta)
    if gap <= tol_abs:
        return w, gap, 0
    full = True
    signs = np.sign(w)
    for n_iter in range(1, max_iter + 1):
        if full:
            d_w_max, w_max = _sweep(G, c, lam, denom, w, q, live)
            new_signs = np.sign(w)
            if np.array_equal(new_signs, signs):  # support and signs settled: try (AS)
                w_try = _active_set_solve(G, c, lam, beta, w)
                if w_try is not None:
                    gap_try = _gram_gap(G, c, yy, w_try, G @ w_try, lam, beta)
                    if gap_try <= tol_abs:
                        return w_try, gap_try, n_iter
            signs = new_signs
            # The gap costs O(p) on the Gram form, so it is checked after every full sweep
            # (the naive loop checks it only after a sweep with small changes, as sklearn).
            gap = _gram_gap(G, c, yy, w, q, lam, beta)
            if gap <= tol_abs:
                return w, gap, n_iter
            active = np.flatnonzero(w)
            full = active.size == 0 or active.size == live.size
            if not full:  # the sub-problem on the active set: its own small Gram
                GA, qA, wA = G[np.ix_(active, active)], q[active], w[active]
                cA, lamA, denA, idxA = c[active], lam[active], denom[active], range(active.size)
                signs_A, tried = np.sign(wA), False
        else:
            d_w_max, w_max = _sweep(GA, cA, lamA, denA, wA, qA, idxA)
            new_signs_A = np.sign(wA)
            solved = False
            if not tried and np.array_equal(new_signs_A, signs_A):
                # signs settled on A: jump to the sub-problem's exact solution (AS), once
                tried = True
                w_try = _active_set_solve(GA, cA, lamA, beta, wA)
                if w_try is not None:
                    wA[:], solved = w_try, True
            elif not np.array_equal(new_signs_A, signs_A):
                tried = False
            signs_A = new_signs_A
            if solved or w_max == 0.0 or d_w_max <= tol * w_max or n_iter == max_iter:
                w[active] = wA
                q = G[:, active] @ wA  # w is zero off the active set
                full = True
    if not full:
        w[active] = wA
        q = G[:, active] @ wA
    gap = _gram_gap(G, c, yy, w, q, lam, beta)
    if gap <= tol_abs or not warn:
        return w, gap, max_iter
    warn_not_converged("coordinate descent", max_iter, gap, tol_abs)
    return w, gap, max_iter


def enet_proximal_gradient(G, c, yy, lam, beta=0.0, w=None, max_iter=1000, tol=1e-4, fista=True):
    r"""ISTA / FISTA (:func:`~minidl.linear_model.proximal.proximal_gradient`) on (EN), Gram form:

    .. math:: \nabla f(z) = \tfrac1n X^\top(Xz - y) + \beta z = G z - c + \beta z, \qquad
              L = \lambda_{\max}(X^\top X/n) + \beta,

    stopping on the gap rule (gap) of coordinate descent made relative to the objective:
    :math:`G \le \text{tol}\cdot\min(\|y\|^2/n,\ 2P(w))`. scikit-learn's
    :math:`\text{tol}\,\|y\|^2/n` alone is :math:`\text{tol}\cdot 2P(0)`: where the optimum is
    far below :math:`P(0)` (no intercept and a mean of 1e8: :math:`\|y\|^2/n \approx 10^{16}`
    against :math:`P^* \approx 0.5`) it let FISTA stop after one step, 24-90% above the optimum.
    Coordinate descent keeps scikit-learn's rule (its sweeps stop only once the coefficients
    settle, and it agrees with scikit-learn there); the proximal steps, whose change can be tiny
    far from the optimum, need the relative one. Where the problem is too ill-conditioned for
    ``max_iter`` steps, a ``ConvergenceWarning`` says so. Returns ``(w, gap, n_iter)``.
    """
    w = np.zeros(c.size) if w is None else np.array(w, dtype=np.float64)
    L = float(np.linalg.eigvalsh(G)[-1]) + beta
    if L == 0.0:  # X is all zeros: w = 0 is optimal
        return np.zeros(c.size), 0.0, 0

    def tolerance(v):  # tol * min(||y||^2/n, 2 P(v)), P in the Gram form, never below 0
        q = G @ v
        r_sq = max(yy + float(v @ q) - 2.0 * float(c @ v), 0.0)
        objective = r_sq + 2.0 * float(lam @ np.abs(v)) + beta * float(v @ v)
        return tol * min(yy, objective)

    w, gap, n_iter, converged = proximal_gradient(
        lambda z: G @ z - c + beta * z, L, lam, w, max_iter,
        lambda v: _gram_gap(G, c, yy, v, G @ v, lam, beta), tolerance, fista,
    )  # fmt: skip
    if not converged:
        warn_not_converged("FISTA" if fista else "ISTA", max_iter, gap, tolerance(w))
    return w, gap, n_iter
