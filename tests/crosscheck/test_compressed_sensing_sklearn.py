"""OMP against sklearn.linear_model.orthogonal_mp; ISTA/FISTA against sklearn's Lasso.

scikit-learn's Lasso minimizes (1/2m)||y - Ax||^2 + alpha ||x||_1, minidl's ista
(1/2)||y - Ax||^2 + lam ||x||_1: the same minimizer when lam = m * alpha.
"""

import warnings

import numpy as np
import pytest

linear_model = pytest.importorskip("sklearn.linear_model")

from minidl.linear_model.compressed_sensing import (  # noqa: E402
    gaussian_measurement_matrix,
    ista,
    omp,
    omp_naive,
    sparse_signal,
)


def problem(seed, m, n, k, noise):
    rng = np.random.default_rng(seed)
    A = gaussian_measurement_matrix(m, n, rng)
    x = sparse_signal(n, k, rng)
    return A, x, A @ x + noise * rng.normal(size=m)


@pytest.mark.parametrize("solver", [omp, omp_naive])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("m", "n", "k", "noise"), [(111, 256, 8, 0.0), (30, 80, 5, 0.05)])
def test_omp_matches_sklearn_orthogonal_mp(solver, seed, m, n, k, noise):
    A, _, y = problem(seed, m, n, k, noise)
    ours = solver(A, y, n_nonzero=k)
    ref = linear_model.orthogonal_mp(A, y, n_nonzero_coefs=k)
    np.testing.assert_array_equal(np.flatnonzero(ours), np.flatnonzero(ref))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_omp_tol_matches_sklearn(seed):
    A, _, y = problem(seed, 30, 80, 5, 0.05)
    tol = 0.05 * float(y @ y)
    ours = omp(A, y, tol=tol)
    ref = linear_model.orthogonal_mp(A, y, tol=tol)
    np.testing.assert_array_equal(np.flatnonzero(ours), np.flatnonzero(ref))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("accelerated", [False, True])
@pytest.mark.parametrize("frac", [0.05, 0.3])
def test_ista_matches_sklearn_lasso(accelerated, frac):
    A, _, y = problem(5, 40, 100, 6, 0.02)
    m = A.shape[0]
    lam = frac * np.max(np.abs(A.T @ y))
    ours = ista(A, y, lam, accelerated=accelerated, tol=1e-14, max_iter=100000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's own tolerance notice at tol this tight
        ref = linear_model.Lasso(
            alpha=lam / m, fit_intercept=False, tol=1e-14, max_iter=1000000
        ).fit(A, y)
    np.testing.assert_allclose(ours, ref.coef_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(np.flatnonzero(ours), np.flatnonzero(ref.coef_))
