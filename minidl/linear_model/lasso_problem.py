r"""One lasso / elastic-net problem (EN), set up once and solved for any penalty.

``prepare_problem(X, y, fit_intercept, solver)`` does the work that does not depend on the
penalty (centring, the Gram matrix) and returns a problem whose ``solve(alpha, l1_ratio,
weights, ...)`` runs the solver asked for; ``Lasso.fit`` solves it once, a path
(:mod:`minidl.linear_model.regularization_path`) once per alpha, warm-started. Three set-ups:

- :class:`NaiveProblem`: the centred data, for the plain coordinate-descent loop;
- :class:`GramProblem`: :math:`G = \tilde X^\top \tilde X / n`, :math:`c = \tilde X^\top
  \tilde y / n`, :math:`\|\tilde y\|^2 / n`, for Gram coordinate descent and ISTA/FISTA;
- :class:`WorkingSetProblem`: the raw ``X`` and its column means, for coordinate descent on a
  growing working set (``solver='cd'`` with more than ``WORKING_SET_MIN_FEATURES`` features),
  where most of the p x p Gram matrix would never be used.

Every problem also holds ``c`` (for the alpha grid) and the means that give the intercept.
"""

from dataclasses import dataclass

import numpy as np

from minidl.linear_model.base import (
    as_float64,
    center,
    centered_gram,
    check_products_finite,
    shortcut_is_safe,
)
from minidl.linear_model.lasso_solvers import enet_cd_gram, enet_proximal_gradient, lasso_cd_naive
from minidl.linear_model.lasso_working_set import enet_cd_working_set
from minidl.linear_model.proximal import least_squares_with_gap

LASSO_SOLVERS = ("cd", "cd_naive", "ista", "fista")
WORKING_SET_MIN_FEATURES = 64  # below this the full Gram matrix costs next to nothing


def check_penalty_weights(weights, p):
    """The :math:`\\omega_j` of the weighted L1 penalty: all 1 for None, else p positive numbers."""
    if weights is None:
        return np.ones(p)
    weights = as_float64(weights, "penalty_weights", 1)
    if weights.shape != (p,):
        raise ValueError(
            f"penalty_weights must have one entry per feature ({p}), got {weights.shape}"
        )
    if np.any(weights <= 0):
        raise ValueError(f"penalty_weights must all be > 0, got min {weights.min()}")
    return weights


@dataclass(frozen=True)
class LassoProblem:
    """What every set-up holds: ``c`` = (centred X)^T (centred y) / n and the means."""

    c: np.ndarray
    x_mean: np.ndarray
    y_mean: float

    def solve(self, alpha, l1_ratio, weights, w0, max_iter, tol):
        r"""One fit of (EN): :math:`\lambda_j = \alpha \rho \omega_j`, :math:`\beta = \alpha (1 -
        \rho)`; returns ``(w, gap, n_iter)``.

        ``alpha = 0`` is least squares, which no duality gap certifies (coordinate descent
        stopped there after one sweep, 3e3 away on a condition number of 1e4): it is solved
        directly by ``lstsq``, ``gap`` the exact suboptimality, ``n_iter`` 0."""
        if alpha == 0:
            w, gap = least_squares_with_gap(*self.centred())
            return w, gap, 0
        return self.solve_penalty(alpha * l1_ratio * weights, alpha * (1.0 - l1_ratio), w0,
                                  max_iter, tol)  # fmt: skip

    def solve_penalty(self, lam, beta, w0, max_iter, tol):
        raise NotImplementedError

    def centred(self):
        """``(X - x_mean, y - y_mean)`` (a copy of X: only the penalty-free case asks)."""
        raise NotImplementedError


@dataclass(frozen=True)
class NaiveProblem(LassoProblem):
    Xc: np.ndarray
    yc: np.ndarray

    def solve_penalty(self, lam, beta, w0, max_iter, tol):
        return lasso_cd_naive(self.Xc, self.yc, lam, beta, w0, max_iter, tol)

    def centred(self):
        return self.Xc, self.yc


@dataclass(frozen=True)
class GramProblem(LassoProblem):
    G: np.ndarray
    yy: float
    solver: str
    X: np.ndarray  # the caller's arrays (no copy), for the penalty-free case
    y: np.ndarray

    def solve_penalty(self, lam, beta, w0, max_iter, tol):
        if self.solver == "cd":
            return enet_cd_gram(self.G, self.c, self.yy, lam, beta, w0, max_iter, tol)
        fista = self.solver == "fista"
        return enet_proximal_gradient(self.G, self.c, self.yy, lam, beta, w0, max_iter, tol, fista)

    def centred(self):
        return self.X - self.x_mean, self.y - self.y_mean


@dataclass(frozen=True)
class WorkingSetProblem(LassoProblem):
    X: np.ndarray
    yc: np.ndarray
    fit_intercept: bool

    def solve_penalty(self, lam, beta, w0, max_iter, tol):
        if np.all(lam > 0):
            return enet_cd_working_set(self.X, self.x_mean, self.yc, lam, beta, w0, max_iter, tol)
        # no L1 term (alpha = 0 or l1_ratio = 0): the answer is dense, use the whole Gram
        gram = _gram_problem(self.X, self.yc, self.fit_intercept, "cd")
        return gram.solve_penalty(lam, beta, w0, max_iter, tol)

    def centred(self):
        return self.X - self.x_mean, self.yc


def _gram_problem(X, y, fit_intercept, solver):
    n = X.shape[0]
    G, Xty, yy, x_mean, y_mean = centered_gram(X, y, fit_intercept)
    return GramProblem(Xty / n, x_mean, y_mean, G / n, float(yy) / n, solver, X, y)


def prepare_problem(X, y, fit_intercept, solver):
    """Set up (EN) for ``solver`` on validated float64 ``X`` (n, p) and ``y`` (n,): a
    :class:`NaiveProblem` for ``'cd_naive'``, a :class:`WorkingSetProblem` for ``'cd'`` with
    more than ``WORKING_SET_MIN_FEATURES`` features whose means are moderate (the rule of
    ``_linear_base.shortcut_is_safe``), else a :class:`GramProblem`."""
    n, p = X.shape
    if solver == "cd_naive":
        Xc, yc, x_mean, y_mean = center(X, y, fit_intercept)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
            col_sq, c = np.einsum("ij,ij->j", Xc, Xc), Xc.T @ yc / n
        check_products_finite(Xc, yc, col_sq, c, yc @ yc)
        return NaiveProblem(c, x_mean, y_mean, Xc, yc)
    if solver == "cd" and p > WORKING_SET_MIN_FEATURES:
        x_mean = X.mean(axis=0) if fit_intercept else np.zeros(p)
        if shortcut_is_safe(np.einsum("ij,ij->j", X, X), x_mean, n):
            y_mean = float(y.mean()) if fit_intercept else 0.0
            yc = y - y_mean
            c = (X.T @ yc - x_mean * yc.sum()) / n
            return WorkingSetProblem(c, x_mean, y_mean, X, yc, fit_intercept)
    return _gram_problem(X, y, fit_intercept, solver)
