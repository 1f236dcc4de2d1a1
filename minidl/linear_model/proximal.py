r"""The l1 machinery the lasso (:mod:`minidl.linear_model.lasso_solvers`) and compressed
sensing (:mod:`minidl.linear_model.compressed_sensing`) share: the soft threshold, the duality
gap, ISTA and FISTA.

Both minimize a smooth :math:`f` plus a weighted l1 norm,

.. math:: P(w) = f(w) + \sum_j \lambda_j |w_j|, \qquad
          f(w) = \tfrac{1}{2n}\|y - Xw\|^2 + \tfrac{\beta}{2}\|w\|^2

(the elastic net (EN) and lasso (2.8) of chapter 02, in scikit-learn's 1/n scale; compressed
sensing's (5.7) is the same with :math:`n = 1` and :math:`\beta = 0`). The proximal map of the
l1 part is the soft threshold (2.9) = (5.8); the duality gap (gap) certifies how far
:math:`P(w)` is above the optimum; ISTA/FISTA (5.9) take a gradient step on :math:`f` and then
the soft threshold.
"""

import numpy as np


def soft_threshold(z, lam):
    r""":math:`S(z, \lambda) = \operatorname{sign}(z)\max(|z| - \lambda, 0)`, elementwise: the
    proximal map of :math:`\lambda\|\cdot\|_1` ((2.9) in chapter 02, (5.8) in chapter 05)."""
    return np.sign(z) * np.maximum(np.abs(z) - lam, 0.0)


def duality_gap(r_sq, w, xtr, lam, beta):
    r"""Duality gap (gap) from :math:`\|r\|^2`, :math:`w` and :math:`X^\top r`, :math:`r = y - Xw`.

    The gap of scikit-learn's ``_cd_fast``, written as a sum of terms that are each >= 0, so
    rounding cannot make the certificate negative. With :math:`a = X^\top r - \beta w` and the
    dual scaling :math:`s = \min(1, 1/\max_j |a_j|/\lambda_j)`, substituting :math:`y = r + Xw`
    into :math:`P(w) - D(s r)` gives

    .. math::
        G = \tfrac12(1 - s)^2\left(\|r\|^2 + \beta\|w\|^2\right)
            + \sum_j |w_j|\,\bigl(\lambda_j - s\,\mathrm{sign}(w_j)\,a_j\bigr)

    where every bracket is >= 0 because :math:`s|a_j| \le \lambda_j` (each is clipped at 0,
    which only removes a rounding error). Subtracting :math:`D` from :math:`P`, as written, loses
    the sign at the optimum: both are ~ ||y||^2 and their difference is ~1e-16 of that (it came
    out -1.6e-15 under OpenBLAS's SkylakeX kernels). For a pure ridge penalty (Dünner et al.
    2016, formulation B) the same substitution gives :math:`\|a\|^2/(2\beta)`, a bound since
    :math:`P` is then :math:`\beta`-strongly convex. ``G`` is homogeneous: pass
    :math:`\|r\|^2/n`, :math:`X^\top r/n`, :math:`\lambda` and :math:`\beta` of the 1/n-scaled
    objective and it is that objective's gap.

    With no penalty at all (:math:`\lambda = 0`, :math:`\beta = 0`: least squares) these three
    numbers certify nothing: the exact suboptimality is :math:`\tfrac12 g^\top G^+ g`
    (:math:`g` the gradient, :math:`G = X^\top X/n`), which is large where :math:`\|g\|` is tiny
    if X is ill-conditioned. That case raises ``ValueError``; the lasso solves it directly
    (:func:`least_squares_with_gap`).
    """
    a = xtr - beta * w if beta > 0 else xtr
    if np.any(lam > 0):
        dual_norm = float(np.max(np.abs(a) / lam))
        s = 1.0 if dual_norm <= 1.0 else 1.0 / dual_norm
        w_sq = float(w @ w) if beta > 0 else 0.0
        residual_part = 0.5 * (1.0 - s) ** 2 * (max(r_sq, 0.0) + beta * w_sq)
        return residual_part + float(np.abs(w) @ np.maximum(lam - s * np.sign(w) * a, 0.0))
    if beta > 0:
        return float(a @ a) / (2.0 * beta)
    raise ValueError(
        "duality_gap: with no penalty (lam = 0 and beta = 0) the problem is least squares, "
        "which has no dual certificate from ||r||^2, w and X^T r; solve it directly "
        "(minidl.linear_model.proximal.least_squares_with_gap)"
    )


def least_squares_with_gap(X, y):
    r"""The penalty-free case of (EN), :math:`\min_w \tfrac{1}{2n}\|y - Xw\|^2`, solved
    directly: ``(w, gap)`` with ``w`` NumPy's minimum-norm ``lstsq`` (an SVD: full accuracy
    where the normal equations square the condition number) and ``gap`` the exact
    suboptimality :math:`P(w) - P^* = \tfrac{1}{2n}\|X\delta\|^2 = \tfrac12 g^\top G^+ g`,
    :math:`\delta` the least-squares fit of the residual :math:`r = y - Xw` (:math:`X\delta`
    is :math:`r`'s projection onto the columns of X, zero exactly at the optimum).
    """
    n = X.shape[0]
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    delta = np.linalg.lstsq(X, y - X @ w, rcond=None)[0]
    projected = X @ delta
    return w, float(projected @ projected) / (2.0 * n)


def proximal_gradient(gradient, lipschitz, lam, w, max_iter, gap, tol_abs, fista, check_every=1):
    r"""ISTA / FISTA (Beck & Teboulle 2009) for :math:`f(w) + \sum_j \lambda_j |w_j|`, step
    :math:`1/L`:

    .. math::
        w_{k+1} = S\!\left(z_k - \tfrac1L \nabla f(z_k),\ \lambda / L\right)      \qquad (5.5)

    with ``gradient(z)`` :math:`= \nabla f(z)` and ``lipschitz`` :math:`= L`, its Lipschitz
    constant. ISTA: :math:`z_k = w_k`. FISTA: :math:`t_{k+1} = (1 + \sqrt{1 + 4t_k^2})/2`,
    :math:`z_{k+1} = w_{k+1} + \frac{t_k - 1}{t_{k+1}}(w_{k+1} - w_k)`.

    Stops when ``gap(w) <= tol_abs`` (a number, or a function of ``w`` giving it), checked at
    the start, every ``check_every`` iterations and at the last. Returns ``(w, gap, n_iter,
    converged)``; the caller warns.
    """
    tolerance = tol_abs if callable(tol_abs) else (lambda _: tol_abs)
    g = gap(w)
    if g <= tolerance(w):
        return w, g, 0, True
    z, t = w.copy(), 1.0
    for n_iter in range(1, max_iter + 1):
        w_new = soft_threshold(z - gradient(z) / lipschitz, lam / lipschitz)
        if fista:
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            z = w_new + ((t - 1.0) / t_new) * (w_new - w)
            t = t_new
        else:
            z = w_new
        w = w_new
        if n_iter % check_every == 0 or n_iter == max_iter:
            g = gap(w)
            if g <= tolerance(w):
                return w, g, n_iter, True
    return w, g, max_iter, False
