r"""Compressed sensing (压缩感知): recovering a sparse signal from few linear measurements.

Source article 004 uses the name loosely, for model compression in general (quantize, clip,
prune). In the literature (Candès, Romberg & Tao 2006; Donoho 2006) it means something
precise, shown in chapter 05: a signal :math:`x \in \mathbb{R}^n` with at most :math:`k`
nonzeros is measured as

.. math:: y = A x, \qquad A \in \mathbb{R}^{m \times n}, \quad m \ll n               (5.1)

and recovered exactly from the :math:`m` numbers in :math:`y`, although the system is
underdetermined, as soon as :math:`m \gtrsim 2 k \log(n / k)` for a random Gaussian :math:`A`.
Two recovery methods:

- ``omp``: orthogonal matching pursuit, greedy; ``omp_naive`` is its plain twin.
- ``ista``: iterative soft thresholding for the :math:`\ell_1` (basis-pursuit-denoising / lasso)
  problem :math:`\min_x \tfrac12\|y - Ax\|_2^2 + \lambda\|x\|_1` (5.7).

``phase_transition`` measures the success rate over a grid of (m, k), the Donoho–Tanner picture.
"""

import warnings

import numpy as np

from minidl._rng import get_rng
from minidl._validation import check_float_array, check_nonnegative, check_positive_int
from minidl.exceptions import ConvergenceWarning  # one class for every solver (re-exported)
from minidl.linear_model.proximal import duality_gap, proximal_gradient, soft_threshold

__all__ = [
    "ConvergenceWarning",
    "gaussian_measurement_matrix",
    "sparse_signal",
    "omp",
    "omp_naive",
    "soft_threshold",
    "ista",
    "recovery_success",
    "phase_transition",
]


def gaussian_measurement_matrix(m, n, rng=None):
    r"""Random :math:`A \in \mathbb{R}^{m \times n}`, i.i.d. Gaussian entries, unit-norm columns.

    Unit columns make ``omp``'s selection rule :math:`\arg\max_j |a_j^\top r|` pick the atom
    most correlated with the residual (and match scikit-learn's ``orthogonal_mp``, which assumes
    them).
    """
    m = check_positive_int(m, "m")
    n = check_positive_int(n, "n")
    A = get_rng(rng).normal(size=(m, n))
    return A / np.linalg.norm(A, axis=0)


def sparse_signal(n, k, rng=None):
    """A vector of length ``n`` with ``k`` nonzeros at random places, values standard normal."""
    n = check_positive_int(n, "n")
    k = check_positive_int(k, "k", minimum=0)
    if k > n:
        raise ValueError(f"k must be <= n={n} (nonzeros in a length-n signal), got {k}")
    rng = get_rng(rng)
    x = np.zeros(n)
    x[rng.choice(n, size=k, replace=False)] = rng.normal(size=k)
    return x


def _check_problem(A, y):
    A = check_float_array(A, "A", ndim=2, finite=True)
    y = check_float_array(y, "y", ndim=1, finite=True)
    if y.shape[0] != A.shape[0]:
        raise ValueError(
            f"y has length {y.shape[0]} but A has {A.shape[0]} rows (one per measurement)"
        )
    return A, y


def _check_omp_stop(A, n_nonzero, tol):
    m, n = A.shape
    if tol is not None:
        tol = check_nonnegative(tol, "tol")
        return min(m, n), tol
    if n_nonzero is None:
        return max(int(0.1 * n), 1), None  # scikit-learn's default
    n_nonzero = check_positive_int(n_nonzero, "n_nonzero")
    if n_nonzero > min(m, n):
        raise ValueError(
            f"n_nonzero must be <= min(m, n)={min(m, n)}: least squares on more atoms than "
            f"measurements is underdetermined; got {n_nonzero}"
        )
    return n_nonzero, None


def _residual_is_zero(r, y, m):
    """True once ||r|| is at rounding level for an m-row least-squares projection of y."""
    return np.linalg.norm(r) <= 10 * m * np.finfo(r.dtype).eps * np.linalg.norm(y)


def _next_atom(A, r, support, col_norm):
    """Index of the atom most correlated with r, or None (with a warning) if none can help."""
    corr = np.abs(A.T @ r)
    j = int(np.argmax(corr))
    if corr[j] <= 10 * A.shape[0] * np.finfo(r.dtype).eps * np.linalg.norm(r) * col_norm:
        _warn_stopped(
            len(support),
            "the residual is orthogonal to every atom (y is not in the span of A's columns)",
        )
        return None
    if j in support:  # r is orthogonal to chosen atoms, so this only happens through rounding
        _warn_stopped(len(support), "the best next atom is already chosen")
        return None
    return j


def _warn_stopped(t, reason, stacklevel=4):
    warnings.warn(
        f"OMP stopped after {t} atoms: {reason}; the residual cannot shrink further",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )


def omp(A, y, n_nonzero=None, tol=None):
    r"""Orthogonal matching pursuit (Pati, Rezaiifar & Krishnaprasad 1993), formula (5.6).

    Start from :math:`r = y`, :math:`S = \varnothing`; repeat

    .. math:: j = \arg\max_i |a_i^\top r|, \quad S \leftarrow S \cup \{j\}, \quad
              x_S = \arg\min_z \|y - A_S z\|_2, \quad r = y - A_S x_S                  (5.6)

    until ``n_nonzero`` atoms are chosen or, if ``tol`` is given (it then overrides
    ``n_nonzero``, as in scikit-learn), :math:`\|r\|_2^2 \le` ``tol``. Both ``None``: at most
    ``max(n // 10, 1)`` atoms, scikit-learn's default. It also stops when the residual is zero
    to rounding (:math:`\|r\| \le 10 m \varepsilon \|y\|`): more atoms cannot improve the fit;
    and, with a ``ConvergenceWarning``, when :math:`A^\top r` is zero to rounding (y outside the
    span of the columns) or the best atom is dependent on the chosen ones.
    Columns of ``A`` are assumed unit-norm (``gaussian_measurement_matrix`` gives them).

    The least squares are not re-solved each step: the chosen atoms are orthonormalized
    incrementally, :math:`A_S = QR` (Gram–Schmidt, applied twice for stability), so the residual
    update is :math:`r \leftarrow r - q (q^\top r)` and :math:`x_S = R^{-1} Q^\top y` is one
    back-substitution at the end. ``omp_naive`` solves (5.6) literally; tests hold them equal.
    """
    A, y = _check_problem(A, y)
    max_atoms, tol = _check_omp_stop(A, n_nonzero, tol)
    m, n = A.shape
    Q = np.zeros((m, max_atoms), dtype=A.dtype)
    R = np.zeros((max_atoms, max_atoms), dtype=A.dtype)
    z = np.zeros(max_atoms, dtype=A.dtype)  # Q^T y, one entry per chosen atom
    col_norm = np.max(np.linalg.norm(A, axis=0))
    support = []
    r = y.copy()
    for t in range(max_atoms):
        if (tol is not None and r @ r <= tol) or _residual_is_zero(r, y, m):
            break
        j = _next_atom(A, r, support, col_norm)
        if j is None:
            break
        q = A[:, j].copy()
        for _ in range(2):  # "twice is enough" (Kahan/Parlett) for classical Gram-Schmidt
            h = Q[:, :t].T @ q
            q -= Q[:, :t] @ h
            R[:t, t] += h
        d = np.linalg.norm(q)
        if d <= 10 * m * np.finfo(A.dtype).eps * np.linalg.norm(A[:, j]):
            _warn_stopped(t, "the best next atom is in the span of the chosen ones", 3)
            break
        Q[:, t] = q / d
        R[t, t] = d
        z[t] = Q[:, t] @ r  # = q^T y since r = y - Q Q^T y and q is orthogonal to Q
        r -= Q[:, t] * z[t]
        support.append(j)
    s = len(support)
    x = np.zeros(n, dtype=A.dtype)
    x[support] = _back_substitute(R[:s, :s], z[:s])
    return x


def _back_substitute(R, b):
    r"""Solve :math:`R x = b`, R upper triangular: :math:`x_i = (b_i - \sum_{j>i} R_{ij} x_j) /
    R_{ii}`, from the last row up."""
    x = np.zeros_like(b)
    for i in range(len(b) - 1, -1, -1):
        x[i] = (b[i] - R[i, i + 1 :] @ x[i + 1 :]) / R[i, i]
    return x


def omp_naive(A, y, n_nonzero=None, tol=None):
    """Plain twin of ``omp``: (5.6) as written, a fresh least-squares solve every step."""
    A, y = _check_problem(A, y)
    max_atoms, tol = _check_omp_stop(A, n_nonzero, tol)
    m, n = A.shape
    col_norm = np.max(np.linalg.norm(A, axis=0))
    support = []
    x_s = np.zeros(0, dtype=A.dtype)
    r = y.copy()
    for _ in range(max_atoms):
        if (tol is not None and r @ r <= tol) or _residual_is_zero(r, y, m):
            break
        j = _next_atom(A, r, support, col_norm)
        if j is None:
            break
        support.append(j)
        x_s = np.linalg.lstsq(A[:, support], y, rcond=None)[0]
        r = y - A[:, support] @ x_s
    x = np.zeros(n, dtype=A.dtype)
    x[support] = x_s
    return x


def ista(A, y, lam, max_iter=10000, tol=1e-12, accelerated=False, x0=None, return_n_iter=False):
    r"""Iterative soft thresholding for (5.7) :math:`\min_x \tfrac12\|y - Ax\|_2^2 +
    \lambda\|x\|_1`.

    .. math:: x^{t+1} = S\!\left(x^t + \tfrac1L A^\top (y - A x^t),\ \tfrac{\lambda}{L}\right),
              \qquad L = \|A\|_2^2                                                    (5.9)

    a gradient step on the smooth part with step :math:`1/L` (its gradient's Lipschitz
    constant), then the proximal map (5.8) of the :math:`\ell_1` part. ``accelerated=True`` is
    FISTA (Beck & Teboulle 2009): the same step taken from the extrapolated point
    :math:`x^t + \frac{s_{t-1} - 1}{s_t}(x^t - x^{t-1})`, :math:`s_t = (1 + \sqrt{1 +
    4 s_{t-1}^2}) / 2`.

    Note the scaling: scikit-learn's ``Lasso(alpha)`` minimizes :math:`\frac{1}{2m}\|y -
    Ax\|^2 + \alpha\|x\|_1`, the same problem with :math:`\lambda = m\alpha`.

    The soft threshold and the iteration are :mod:`minidl.linear_model.proximal`'s, shared with the
    lasso's ``solver='ista'/'fista'``. Stops (checked every 10 iterations: the gap costs as much as
    a step) when the duality gap of :func:`minidl.linear_model.proximal.duality_gap`, a certificate
    :math:`\ge P(x) - P^*` computed as a sum of non-negative terms, is at most ``tol``
    :math:`\cdot\tfrac12\|y\|^2`; warns ``ConvergenceWarning`` with the gap otherwise. ``x0``
    warm-starts the iteration (for a path of decreasing :math:`\lambda`).
    """
    A, y = _check_problem(A, y)
    lam = check_nonnegative(lam, "lam")
    if lam == 0:
        raise ValueError(
            "lam must be > 0: with lam = 0 (5.7) is least squares, which no duality gap "
            "certifies; solve it with numpy.linalg.lstsq"
        )
    max_iter = check_positive_int(max_iter, "max_iter")
    tol = check_nonnegative(tol, "tol")
    L = np.linalg.norm(A, 2) ** 2
    scale = 0.5 * (y @ y)
    x = np.zeros(A.shape[1], dtype=A.dtype)
    if L == 0 or scale == 0:  # A = 0 or y = 0: x = 0 is optimal
        return (x, 0) if return_n_iter else x
    if x0 is not None:
        x0 = check_float_array(x0, "x0", ndim=1, finite=True)
        if x0.shape != x.shape:
            raise ValueError(
                f"x0 must have shape {x.shape} (one entry per column of A), got {x0.shape}"
            )
        x = x0.astype(A.dtype, copy=True)

    def gap(v):  # the gap of (5.7), from r = y - Av and A^T r
        r = y - A @ v
        return duality_gap(float(r @ r), v, A.T @ r, lam, 0.0)

    x, g, n_iter, converged = proximal_gradient(
        lambda z: A.T @ (A @ z - y), L, lam, x, max_iter, gap, tol * scale, accelerated, 10
    )
    if not converged:
        warnings.warn(
            f"ista did not converge in max_iter={max_iter} iterations: duality gap "
            f"{g:.3g} > tol * ||y||^2 / 2 = {tol * scale:.3g}",
            ConvergenceWarning,
            stacklevel=2,
        )
    return (x, n_iter) if return_n_iter else x


def recovery_success(x_hat, x, tol=1e-6):
    r"""True when :math:`\|\hat x - x\|_2 \le` ``tol`` :math:`\cdot \|x\|_2` (absolute if x = 0)."""
    x_hat = check_float_array(x_hat, "x_hat", ndim=1, finite=True)
    x = check_float_array(x, "x", ndim=1, finite=True)
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat has shape {x_hat.shape} but x has shape {x.shape}")
    tol = check_nonnegative(tol, "tol")
    ref = np.linalg.norm(x)
    return bool(np.linalg.norm(x_hat - x) <= tol * (ref if ref > 0 else 1.0))


def _l1_debiased(A, y, k):
    """Support from a rough lasso path (FISTA, lambda from lam_max/2 down to lam_max/1000,
    each warm-started from the last), then least squares on that support.

    The lasso shrinks every coefficient by about lambda, so it is only used to find where the
    nonzeros are; least squares on a superset of the true support still gives x exactly, so
    the support keeps every entry above 1e-6 of the largest (at most m of them).
    """
    m = A.shape[0]
    lam_max = np.max(np.abs(A.T @ y))  # for lambda >= lam_max the lasso solution is 0
    x_l = np.zeros(A.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # only the support is needed
        for lam in lam_max * np.geomspace(0.5, 1e-3, 10):  # continuation: warm-started path
            x_l = ista(A, y, lam, max_iter=100, tol=1e-8, accelerated=True, x0=x_l)
    order = np.argsort(-np.abs(x_l))[:m]
    support = order[np.abs(x_l[order]) > 1e-6 * np.max(np.abs(x_l), initial=0.0)]
    x = np.zeros(A.shape[1])
    if len(support):
        x[support] = np.linalg.lstsq(A[:, support], y, rcond=None)[0]
    return x


def phase_transition(n, ms, ks, trials=20, method="omp", rng=None, tol=1e-6):
    r"""Success rate of exact recovery over a grid of measurements ``ms`` and sparsities ``ks``.

    For each (m, k) and each trial: draw ``A = gaussian_measurement_matrix(m, n)`` and a
    k-sparse ``x``, recover from ``y = A x`` and count ``recovery_success(x_hat, x, tol)``.
    ``method``: ``'omp'`` (``omp`` with ``n_nonzero=k``), ``'l1'`` (support from a FISTA lasso path
    down to :math:`\lambda = 10^{-3}\|A^\top y\|_\infty`, then least squares on it), or a
    callable ``method(A, y, k) -> x_hat``. Cells with ``k > m`` are 0 without running: y = Ax then
    always has a sparser solution (at most m nonzeros), so no sparsity-seeking method returns x.

    Returns an array of shape ``(len(ms), len(ks))``; plotted with m/n on one axis and k/m on
    the other it is the Donoho–Tanner phase-transition picture.
    """
    n = check_positive_int(n, "n")
    trials = check_positive_int(trials, "trials")
    ms = [check_positive_int(m, "ms") for m in ms]
    ks = [check_positive_int(k, "ks") for k in ks]
    for name, values in (("ms", ms), ("ks", ks)):
        if max(values, default=0) > n:
            raise ValueError(f"{name} must be <= n={n}, got {max(values)}")
    if method == "omp":
        solve = lambda A, y, k: omp(A, y, n_nonzero=k)
    elif method == "l1":
        solve = _l1_debiased
    elif callable(method):
        solve = method
    else:
        raise ValueError(f"method must be 'omp', 'l1' or a callable, got {method!r}")
    tol = check_nonnegative(tol, "tol")
    rng = get_rng(rng)
    rates = np.zeros((len(ms), len(ks)))
    for a, m in enumerate(ms):
        for b, k in enumerate(ks):
            if k > m:
                continue
            wins = 0
            for _ in range(trials):
                A = gaussian_measurement_matrix(m, n, rng)
                x = sparse_signal(n, k, rng)
                wins += recovery_success(solve(A, A @ x, k), x, tol)
            rates[a, b] = wins / trials
    return rates
