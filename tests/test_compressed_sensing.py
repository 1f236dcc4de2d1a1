"""Compressed sensing: OMP, ISTA/FISTA for the lasso form, recovery and the phase transition."""

import warnings

import numpy as np
import pytest

from minidl.linear_model.compressed_sensing import (
    ConvergenceWarning,
    gaussian_measurement_matrix,
    ista,
    omp,
    omp_naive,
    phase_transition,
    recovery_success,
    soft_threshold,
    sparse_signal,
)
from minidl.linear_model.lasso import Lasso


def problem(rng, m, n, k, noise=0.0):
    A = gaussian_measurement_matrix(m, n, rng)
    x = sparse_signal(n, k, rng)
    return A, x, A @ x + noise * rng.normal(size=m)


# ---------------------------------------------------------------- generators


def test_generators(rng):
    A = gaussian_measurement_matrix(20, 50, rng)
    assert A.shape == (20, 50)
    np.testing.assert_allclose(np.linalg.norm(A, axis=0), 1.0, rtol=1e-14)
    np.testing.assert_array_equal(
        gaussian_measurement_matrix(5, 7, rng=3), gaussian_measurement_matrix(5, 7, rng=3)
    )
    x = sparse_signal(50, 6, rng)
    assert x.shape == (50,) and np.count_nonzero(x) == 6
    assert np.count_nonzero(sparse_signal(10, 0, rng)) == 0


# ---------------------------------------------------------------- OMP


def test_omp_hand_case():
    # a1 = e1, a2 = e2, a3 = (2, 1)/sqrt(5); y = (1, 1).
    # Step 1: A^T y = (1, 1, 3/sqrt5 = 1.342) -> a3; r = y - a3 (3/sqrt5) = (-0.2, 0.4).
    # Step 2: A^T r = (-0.2, 0.4, 0) -> a2; least squares on {a3, a2}: 2 x3/sqrt5 = 1,
    # x3/sqrt5 + x2 = 1 -> x3 = sqrt5/2, x2 = 1/2.
    A = np.array([[1.0, 0.0, 2 / np.sqrt(5)], [0.0, 1.0, 1 / np.sqrt(5)]])
    y = np.array([1.0, 1.0])
    expected = [0.0, 0.5, np.sqrt(5) / 2]
    for solver in (omp, omp_naive):
        np.testing.assert_allclose(solver(A, y, n_nonzero=1), [0, 0, 3 / np.sqrt(5)], atol=1e-15)
        np.testing.assert_allclose(solver(A, y, n_nonzero=2), expected, atol=1e-15)


def test_omp_on_orthonormal_a_keeps_largest_coefficients(rng):
    # With A orthogonal, A^T r never changes on unchosen atoms: OMP keeps the k largest |A^T y|.
    Q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    y = rng.normal(size=12)
    c = Q.T @ y
    top = np.argsort(-np.abs(c))[:4]
    expected = np.zeros(12)
    expected[top] = c[top]
    np.testing.assert_allclose(omp(Q, y, n_nonzero=4), expected, atol=1e-14)


@pytest.mark.parametrize("seed", range(5))
def test_omp_exact_recovery_with_4k_log_measurements(seed):
    rng = np.random.default_rng(seed)
    n, k = 256, 8
    m = int(np.ceil(4 * k * np.log(n / k)))  # 111 measurements for 256 unknowns
    A, x, y = problem(rng, m, n, k)
    x_hat = omp(A, y, n_nonzero=k)
    np.testing.assert_array_equal(np.flatnonzero(x_hat), np.flatnonzero(x))
    assert np.linalg.norm(y - A @ x_hat) <= 1e-12 * np.linalg.norm(y)
    np.testing.assert_allclose(x_hat, x, rtol=0, atol=1e-12)
    assert recovery_success(x_hat, x, tol=1e-10)
    # Allowed more atoms, it stops by itself once the residual is zero.
    np.testing.assert_array_equal(np.flatnonzero(omp(A, y, n_nonzero=3 * k)), np.flatnonzero(x))


def test_omp_fails_with_fewer_measurements_than_nonzeros(rng):
    n, k, m = 60, 12, 8
    A, x, y = problem(rng, m, n, k)
    x_hat = omp(A, y, n_nonzero=m)
    # It fits all m measurements exactly, but with the wrong signal.
    assert np.linalg.norm(y - A @ x_hat) <= 1e-12 * np.linalg.norm(y)
    assert np.count_nonzero(x_hat) <= m < k
    assert not recovery_success(x_hat, x, tol=1e-2)


@pytest.mark.parametrize("seed", range(4))
def test_omp_fast_equals_naive(seed):
    rng = np.random.default_rng(seed)
    A, _, y = problem(rng, 30, 70, 6, noise=0.05)
    for kw in ({"n_nonzero": 10}, {"tol": 0.02}, {}):
        np.testing.assert_allclose(omp(A, y, **kw), omp_naive(A, y, **kw), rtol=0, atol=1e-12)


def test_omp_tol_stops_on_squared_residual(rng):
    A, _, y = problem(rng, 30, 70, 6, noise=0.05)
    tol = 0.05
    x_hat = omp(A, y, tol=tol)
    s = np.count_nonzero(x_hat)
    assert np.sum((y - A @ x_hat) ** 2) <= tol
    # one atom fewer would not have met tol
    assert np.sum((y - A @ omp(A, y, n_nonzero=s - 1)) ** 2) > tol


def test_omp_warns_when_residual_is_orthogonal_to_every_atom():
    # y has a third component no atom can reach. a3 = (e1 + e2)/sqrt2 is picked first, then
    # r = e3 and A^T r = 0: OMP must stop (with a warning) rather than pick at random.
    A = np.array([[1.0, 0.0, 2**-0.5], [0.0, 1.0, 2**-0.5], [0.0, 0.0, 0.0]])
    y = np.array([1.0, 1.0, 1.0])
    for solver in (omp, omp_naive):
        with pytest.warns(ConvergenceWarning, match="after 1 atoms: the residual is orthogonal"):
            x_hat = solver(A, y, n_nonzero=3)
        np.testing.assert_allclose(x_hat, [0.0, 0.0, np.sqrt(2)], atol=1e-15)


# ---------------------------------------------------------------- ISTA / FISTA


def test_soft_threshold_hand_values():
    v = np.array([-3.0, -0.5, 0.0, 0.2, 2.5])
    np.testing.assert_array_equal(soft_threshold(v, 1.0), [-2.0, 0.0, 0.0, 0.0, 1.5])


@pytest.mark.parametrize("accelerated", [False, True])
def test_ista_on_orthogonal_a_is_one_soft_threshold(rng, accelerated):
    # With A orthogonal the lasso separates: x* = S(A^T y, lam) exactly.
    Q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    y = rng.normal(size=10)
    x = ista(Q, y, 0.4, accelerated=accelerated)
    np.testing.assert_allclose(x, soft_threshold(Q.T @ y, 0.4), atol=1e-12)


@pytest.mark.parametrize("accelerated", [False, True])
def test_ista_satisfies_lasso_kkt(rng, accelerated):
    A, _, y = problem(rng, 40, 100, 5, noise=0.01)
    lam = 0.1 * np.max(np.abs(A.T @ y))
    x, n_iter = ista(A, y, lam, accelerated=accelerated, return_n_iter=True)
    c = A.T @ (y - A @ x)
    on = x != 0
    assert 1 <= on.sum() < 40
    # KKT of (1/2)||y - Ax||^2 + lam ||x||_1: c_j = lam sign(x_j) on the support, |c_j| <= lam off.
    np.testing.assert_allclose(c[on], lam * np.sign(x[on]), rtol=0, atol=1e-6)
    assert np.max(np.abs(c[~on])) <= lam + 1e-6
    assert n_iter < 10000


def test_ista_zero_above_lam_max_and_warm_start(rng):
    A, _, y = problem(rng, 20, 40, 3)
    lam_max = np.max(np.abs(A.T @ y))
    np.testing.assert_array_equal(ista(A, y, lam_max * 1.0001), np.zeros(40))
    lam = 0.05 * lam_max
    cold, n_cold = ista(A, y, lam, return_n_iter=True)
    warm, n_warm = ista(A, y, lam, x0=cold, return_n_iter=True)
    np.testing.assert_allclose(warm, cold, atol=1e-8)
    assert n_warm < n_cold


def test_ista_warns_with_the_gap(rng):
    A, _, y = problem(rng, 20, 40, 3)
    with pytest.warns(ConvergenceWarning, match="duality gap"):
        ista(A, y, 1e-3, max_iter=5)


# ---------------------------------------------------------------- success and phase transition


def test_recovery_success_hand_cases():
    x = np.array([3.0, 0.0, 4.0])  # ||x|| = 5
    assert recovery_success(x + [0.0, 4e-7, 0.0], x, tol=1e-7)
    assert not recovery_success(x + [0.0, 6e-7, 0.0], x, tol=1e-7)
    assert recovery_success(np.zeros(3), np.zeros(3))


def test_phase_transition_grid_is_monotone_in_m():
    ms, ks = [6, 12, 18, 24], [1, 3, 5]
    rates = phase_transition(30, ms, ks, trials=8, method="omp", rng=7)
    assert rates.shape == (4, 3)
    assert np.all((rates >= 0) & (rates <= 1))
    # More measurements never much worse (8 trials per cell: allow one or two unlucky draws).
    assert np.all(np.diff(rates, axis=0) >= -0.25)
    assert rates[-1, 0] == 1.0 and rates[-1, :].mean() > rates[0, :].mean()
    assert rates[0, -1] <= 0.5
    np.testing.assert_array_equal(rates, phase_transition(30, ms, ks, trials=8, rng=7))


def test_phase_transition_l1_and_callable_and_impossible_cells():
    rates = phase_transition(30, [4, 20], [2, 6], trials=3, method="l1", rng=1)
    assert rates[0, 1] == 0.0  # k = 6 > m = 4: not run, impossible
    assert rates[1, 0] == 1.0
    oracle_calls = []

    def oracle(A, y, k):
        oracle_calls.append(k)
        return np.linalg.lstsq(A, y, rcond=None)[0]  # min-norm solution: not sparse, fails

    rates = phase_transition(30, [10], [2], trials=2, method=oracle, rng=1)
    assert oracle_calls == [2, 2] and rates[0, 0] == 0.0


# ---------------------------------------------------------------- bad input


def test_bad_problem_inputs(rng):
    A, _, y = problem(rng, 10, 20, 2)
    with pytest.raises(ValueError, match="y has length 9 but A has 10 rows"):
        omp(A, y[:9], n_nonzero=2)
    with pytest.raises(ValueError, match="y has length 9"):
        ista(A, y[:9], 0.1)
    with pytest.raises(ValueError, match=r"n_nonzero must be <= min\(m, n\)=10"):
        omp(A, y, n_nonzero=11)
    with pytest.raises(ValueError, match="n_nonzero"):
        omp_naive(A, y, n_nonzero=0)
    with pytest.raises(ValueError, match="lam"):
        ista(A, y, -0.1)
    with pytest.raises(ValueError, match="tol"):
        omp(A, y, tol=-1.0)
    with pytest.raises(ValueError, match="y must be 1-dimensional"):
        omp(A, y[:, None], n_nonzero=2)
    with pytest.raises(ValueError, match="x0 must have shape"):
        ista(A, y, 0.1, x0=np.zeros(3))
    for name, bad_A, bad_y in (("A", A.copy(), y), ("y", A, y.copy())):
        (bad_A if name == "A" else bad_y)[3] = np.nan
        with pytest.raises(ValueError, match=f"{name} contains NaN or inf"):
            omp(bad_A, bad_y, n_nonzero=2)
        with pytest.raises(ValueError, match=f"{name} contains NaN or inf"):
            ista(bad_A, bad_y, 0.1)


def test_bad_generator_and_grid_inputs(rng):
    with pytest.raises(ValueError, match="m must be"):
        gaussian_measurement_matrix(0, 5)
    with pytest.raises(TypeError, match="n must be"):
        gaussian_measurement_matrix(3, 5.0)
    with pytest.raises(ValueError, match="k must be <= n=5"):
        sparse_signal(5, 6)
    with pytest.raises(ValueError, match="x_hat has shape"):
        recovery_success(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="method"):
        phase_transition(20, [5], [2], method="lasso")
    with pytest.raises(ValueError, match="ms must be <= n=20"):
        phase_transition(20, [25], [2])
    with pytest.raises(ValueError, match="tol"):
        phase_transition(20, [5], [2], tol=-1)


def test_no_stray_warnings_on_a_normal_run(rng):
    A, _, y = problem(rng, 30, 60, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        omp(A, y, n_nonzero=4)
        ista(A, y, 0.05)


def test_convergence_warning_is_the_shared_class():
    """One ConvergenceWarning for every solver, so a single filter or except clause catches
    compressed sensing's as well as the lasso's."""
    import minidl.exceptions

    assert ConvergenceWarning is minidl.exceptions.ConvergenceWarning


@pytest.mark.parametrize("accelerated", [False, True])
def test_ista_is_the_lassos_proximal_gradient(rng, accelerated):
    """(5.4) with lam is the lasso (2.8) with alpha = lam / m: compressed sensing's ista and
    Lasso(solver='ista'/'fista') run the one iteration of minidl.linear_model.proximal on the two
    scalings and reach the same minimizer."""
    A, _, y = problem(rng, 30, 60, 4, noise=0.01)
    lam = 0.1 * np.max(np.abs(A.T @ y))
    ours = ista(A, y, lam, accelerated=accelerated, tol=1e-14, max_iter=200000)
    solver = "fista" if accelerated else "ista"
    lasso = Lasso(lam / 30, fit_intercept=False, solver=solver, tol=1e-14, max_iter=200000)
    np.testing.assert_allclose(ours, lasso.fit(A, y).coef_, rtol=0, atol=1e-8)
