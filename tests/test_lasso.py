"""Lasso / ElasticNet / AdaptiveLasso / lasso_path / lasso_literal, against hand-derived facts."""

import warnings

import numpy as np
import pytest

from minidl.exceptions import ConvergenceWarning, NotFittedError
from minidl.linear_model.lasso import AdaptiveLasso, ElasticNet, Lasso, lasso_literal
from minidl.linear_model.lasso_solvers import enet_cd_gram, lasso_cd_naive
from minidl.linear_model.lasso_working_set import enet_cd_working_set
from minidl.linear_model.linear import Ridge
from minidl.linear_model.proximal import duality_gap, soft_threshold
from minidl.linear_model.regularization_path import alpha_grid, enet_path, lasso_path

SOLVERS = ["cd", "cd_naive", "ista", "fista"]


def sparse_problem(rng, n=60, p=12, rho=0.5):
    """Correlated columns (AR(1) covariance rho^|i-j|), 3 true nonzeros, noise 0.5."""
    C = rho ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    X = rng.normal(size=(n, p)) @ np.linalg.cholesky(C).T + 1.0
    w = np.zeros(p)
    w[[0, 4, 7]] = [2.0, -1.5, 1.0]
    return X, X @ w + 0.5 * rng.normal(size=n) + 2.0


def orthogonal_design(rng, n=50, p=5):
    """Orthogonal columns with X^T X / n = I: the lasso is soft-thresholding, in closed form."""
    Q = np.linalg.qr(rng.normal(size=(n, p)))[0]
    Q -= Q.mean(0)  # centred columns keep the closed form exact with an intercept
    Q = np.linalg.qr(Q)[0]
    return np.sqrt(n) * Q, rng.normal(size=n) * 2


def test_soft_threshold_hand_values():
    np.testing.assert_array_equal(
        soft_threshold(np.array([3.0, -3.0, 0.5, -0.5, 1.0]), 1.0), [2.0, -2.0, 0.0, 0.0, 0.0]
    )


@pytest.mark.parametrize("solver", SOLVERS)
def test_orthogonal_design_closed_form(rng, solver):
    X, y = orthogonal_design(rng)
    z = X.T @ (y - y.mean()) / X.shape[0]
    alpha = 0.5 * np.median(np.abs(z))
    m = Lasso(alpha=alpha, solver=solver, tol=1e-14, max_iter=5000).fit(X, y)
    np.testing.assert_allclose(m.coef_, soft_threshold(z, alpha), atol=1e-10)
    e = ElasticNet(alpha=alpha, l1_ratio=0.3, solver=solver, tol=1e-14, max_iter=5000).fit(X, y)
    np.testing.assert_allclose(
        e.coef_, soft_threshold(z, 0.3 * alpha) / (1 + 0.7 * alpha), atol=1e-10
    )


@pytest.mark.parametrize("shape", [(60, 12), (20, 40)])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.4])
def test_gram_cd_equals_naive_loop(rng, shape, l1_ratio):
    X, y = sparse_problem(rng, *shape)
    Xc, yc = X - X.mean(0), y - y.mean()
    n, p = Xc.shape
    alpha = 0.05 * np.max(np.abs(Xc.T @ yc)) / n
    weights = rng.uniform(0.5, 2.0, size=p)
    lam, beta = alpha * l1_ratio * weights, alpha * (1 - l1_ratio)
    w_naive, gap_naive, _ = lasso_cd_naive(Xc, yc, lam, beta, max_iter=100000, tol=1e-15)
    G, c, yy = Xc.T @ Xc / n, Xc.T @ yc / n, yc @ yc / n
    w_fast, gap_fast, _ = enet_cd_gram(G, c, yy, lam, beta, max_iter=100000, tol=1e-15)
    np.testing.assert_allclose(w_fast, w_naive, atol=1e-10)
    assert 0 <= gap_naive <= 1e-15 * yy * 10 and gap_fast <= 1e-15 * yy * 10


@pytest.mark.parametrize("shape", [(50, 100), (300, 80)])  # > 64 features: working sets
def test_working_set_cd_equals_naive_loop(rng, shape):
    X, y = sparse_problem(rng, *shape)
    n = X.shape[0]
    Xc, yc = X - X.mean(0), y - y.mean()
    alpha = 0.1 * np.max(np.abs(Xc.T @ yc)) / n
    lam = alpha * rng.uniform(0.5, 2.0, size=X.shape[1])
    w_naive, _, _ = lasso_cd_naive(Xc, yc, lam, 0.0, max_iter=100000, tol=1e-15)
    w_ws, gap, _ = enet_cd_working_set(X, X.mean(0), yc, lam, 0.0, max_iter=100000, tol=1e-15)
    np.testing.assert_allclose(w_ws, w_naive, atol=1e-10)
    assert gap <= 1e-15 * (yc @ yc) / n
    # through the estimator (which picks the working set for p > 64), same answer
    m = Lasso(alpha=alpha, penalty_weights=lam / alpha, tol=1e-15, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(m.coef_, w_naive, atol=1e-10)
    path = lasso_path(X, y, alphas=[2 * alpha, alpha], penalty_weights=lam / alpha,
                      fit_intercept=True, tol=1e-15, max_iter=100000)[1]  # fmt: skip
    np.testing.assert_allclose(path[:, 1], w_naive, atol=1e-10)


@pytest.mark.parametrize("solver", SOLVERS)
def test_kkt_conditions_hold(rng, solver):
    # Optimality of (3.5): X_j^T r / n = alpha w_j sign(w_j) on the support, |.| <= alpha off it.
    X, y = sparse_problem(rng)
    weights = np.linspace(0.5, 1.5, X.shape[1])
    alpha = 0.1
    m = Lasso(alpha=alpha, penalty_weights=weights, solver=solver, tol=1e-14, max_iter=50000)
    m.fit(X, y)
    r = y - m.predict(X)
    corr = (X - X.mean(0)).T @ r / X.shape[0]
    on = m.coef_ != 0
    assert on.sum() >= 3 and (~on).sum() >= 1
    np.testing.assert_allclose(corr[on], alpha * weights[on] * np.sign(m.coef_[on]), atol=1e-7)
    assert np.all(np.abs(corr[~on]) <= alpha * weights[~on] + 1e-9)
    assert abs(np.mean(r)) < 1e-10  # intercept unpenalized


def test_weighted_lasso_equals_lasso_on_rescaled_columns(rng):
    # sum_j w_j |b_j| with b_j = c_j / w_j: the weighted problem is the plain one on X_j / w_j.
    X, y = sparse_problem(rng)
    weights = rng.uniform(0.3, 3.0, size=X.shape[1])
    a = Lasso(alpha=0.08, penalty_weights=weights, tol=1e-14).fit(X, y)
    b = Lasso(alpha=0.08, tol=1e-14).fit(X / weights, y)
    np.testing.assert_allclose(a.coef_, b.coef_ / weights, atol=1e-10)
    assert a.intercept_ == pytest.approx(b.intercept_, abs=1e-10)


def test_adaptive_lasso_uses_inverse_ols_weights_and_finds_the_support(rng):
    X, y = sparse_problem(rng, n=200)
    m = AdaptiveLasso(alpha=0.05, gamma=1.0, tol=1e-12).fit(X, y)
    Xc, yc = X - X.mean(0), y - y.mean()
    ols = np.linalg.solve(Xc.T @ Xc, Xc.T @ yc)
    np.testing.assert_allclose(m.weights_, 1 / np.abs(ols), rtol=1e-8)
    np.testing.assert_array_equal(np.flatnonzero(m.coef_), [0, 4, 7])
    same = Lasso(alpha=0.05, penalty_weights=m.weights_, tol=1e-12).fit(X, y)
    np.testing.assert_allclose(m.coef_, same.coef_, atol=1e-12)
    assert m.get_params()["gamma"] == 1.0 and "penalty_weights" not in m.get_params()


def test_duality_gap_certificate_and_convergence_warning(rng):
    X, y = sparse_problem(rng)
    m = Lasso(alpha=0.05, tol=1e-6).fit(X, y)
    yc = y - y.mean()
    assert 0 <= m.dual_gap_ <= 1e-6 * (yc @ yc) / len(y)
    with pytest.warns(ConvergenceWarning, match="Duality gap"):
        Lasso(alpha=0.01, tol=1e-16, max_iter=1, solver="cd_naive").fit(X, y)
    with pytest.warns(ConvergenceWarning, match="Duality gap"):
        Lasso(alpha=0.01, tol=1e-16, max_iter=2, solver="ista").fit(X, y)


def primal_minus_dual(X, y, w, alpha, l1_ratio):
    """P(w) - D(s r) straight from the definitions (EN), with the explicit residual."""
    n = len(y)
    lam, beta = alpha * l1_ratio, alpha * (1 - l1_ratio)
    r = y - X @ w
    a = X.T @ r / n - beta * w
    s = min(1.0, lam / np.max(np.abs(a)))
    primal = 0.5 * (r @ r / n + beta * w @ w) + lam * np.abs(w).sum()
    dual = -0.5 * s * s * (r @ r / n + beta * w @ w) + s * (r @ y) / n
    return primal - dual


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_duality_gap_equals_primal_minus_dual_away_from_the_optimum(rng, l1_ratio):
    # The rearranged sum of non-negative terms is the same number as P - D where no
    # cancellation hides it (random w, far from optimal).
    X, y = sparse_problem(rng)
    X, y = X - X.mean(0), y - y.mean()
    n = len(y)
    for _ in range(20):
        w = rng.normal(size=X.shape[1])
        lam = np.full(X.shape[1], 0.1 * l1_ratio)
        r = y - X @ w
        gap = duality_gap(r @ r / n, w, X.T @ r / n, lam, 0.1 * (1 - l1_ratio))
        assert gap == pytest.approx(primal_minus_dual(X, y, w, 0.1, l1_ratio), rel=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
def test_dual_gap_is_never_negative_at_the_optimum(solver):
    # At the optimum P and D are both ~ ||y||^2/n and agree to ~1e-16 of it: P - D as written
    # came out negative in 176 of 900 such fits (SkylakeX and Haswell kernels alike).
    for seed in range(40):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(30, 5))
        y = X[:, :2] @ [3.0, -2.0] + 0.1 * rng.normal(size=30)
        for model in (Lasso(alpha=0.05, tol=1e-6, solver=solver),
                      ElasticNet(alpha=0.05, l1_ratio=0.5, tol=1e-6, solver=solver)):  # fmt: skip
            assert model.fit(X, y).dual_gap_ >= 0.0


def test_warm_start_starts_from_previous_coef(rng):
    X, y = sparse_problem(rng)
    m = Lasso(alpha=0.05, tol=1e-10, warm_start=True).fit(X, y)
    cold_iters = m.n_iter_
    m.fit(X, y)
    assert m.n_iter_ == 0 and cold_iters > 0  # already optimal: the gap check passes at once


def test_lasso_path_grid_and_coefficients(rng):
    X, y = sparse_problem(rng)
    n = X.shape[0]
    alphas, coefs, gaps = lasso_path(X, y, n_alphas=20, eps=1e-2, tol=1e-12)
    assert alphas.shape == (20,) and coefs.shape == (X.shape[1], 20)
    assert alphas[0] == pytest.approx(np.max(np.abs(X.T @ y)) / n, rel=1e-12)
    np.testing.assert_allclose(alphas[-1] / alphas[0], 1e-2, rtol=1e-12)
    np.testing.assert_allclose(np.diff(np.log(alphas)), np.log(1e-2) / 19, rtol=1e-10)
    assert np.all(coefs[:, 0] == 0) and np.any(coefs[:, 1] != 0)  # alpha_max: first to leave 0
    for k in [1, 7, 19]:
        single = Lasso(alpha=alphas[k], fit_intercept=False, tol=1e-12).fit(X, y)
        np.testing.assert_allclose(coefs[:, k], single.coef_, atol=1e-8)
    centred = lasso_path(X, y, alphas=alphas[:3], fit_intercept=True, tol=1e-12)[1]
    np.testing.assert_allclose(centred[:, 2], Lasso(alpha=alphas[2], tol=1e-12).fit(X, y).coef_)


def test_enet_path_and_alpha_grid(rng):
    X, y = sparse_problem(rng)
    Xc, yc = X - X.mean(0), y - y.mean()
    grid = alpha_grid(Xc, yc, l1_ratio=0.5, n_alphas=5)
    assert grid[0] == pytest.approx(np.max(np.abs(Xc.T @ yc)) / (len(y) * 0.5))
    _, coefs, _ = enet_path(Xc, yc, l1_ratio=0.5, alphas=grid, tol=1e-12)
    assert np.all(coefs[:, 0] == 0)
    e = ElasticNet(alpha=grid[3], l1_ratio=0.5, fit_intercept=False, tol=1e-12).fit(Xc, yc)
    np.testing.assert_allclose(coefs[:, 3], e.coef_, atol=1e-8)


# --- article 001's lasso_regression, kept literal -----------------------------------------


def test_lasso_literal_never_prunes_and_solves_a_different_problem(rng):
    X = rng.normal(size=(100, 10))
    w_true = np.array([3.0, -2.0, 0, 0, 0, 0, 0, 0, 1.5, 0])
    y = X @ w_true + 0.5 * rng.normal(size=100)
    theta = lasso_literal(X, y, alpha=0.1, iterations=1000)
    fixed = Lasso(alpha=0.1, fit_intercept=False, tol=1e-12).fit(X, y)
    # 1. Coordinate descent sets the irrelevant coefficients exactly to 0; the literal never does.
    assert np.sum(fixed.coef_ == 0) >= 5
    assert np.all(theta != 0)
    # 2. What it approaches is Lasso(alpha / m), not Lasso(alpha): the penalty was divided by m.
    mixed_up = Lasso(alpha=0.1 / 100, fit_intercept=False, tol=1e-12).fit(X, y)
    err_mixed = np.max(np.abs(theta - mixed_up.coef_))
    err_fixed = np.max(np.abs(theta - fixed.coef_))
    assert err_mixed < 1e-3 < 0.02 < err_fixed


# --- bad inputs and documented edge cases --------------------------------------------------


@pytest.mark.parametrize("Model", [Lasso, ElasticNet, AdaptiveLasso])
def test_bad_inputs_name_the_argument(rng, Model):
    X, y = sparse_problem(rng)
    with pytest.raises(ValueError, match="alpha"):
        Model(alpha=-0.1).fit(X, y)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        Model().fit(Xn, y)
    with pytest.raises(ValueError, match="y contains NaN"):
        Model().fit(X, np.where(np.arange(len(y)) == 3, np.inf, y))
    with pytest.raises(ValueError, match="same number of samples"):
        Model().fit(X[:-2], y)
    with pytest.raises(ValueError, match="y must be 1-dimensional"):
        Model().fit(X, np.c_[y, y])
    with pytest.raises(NotFittedError, match="fit"):
        Model().predict(X)
    with pytest.raises(ValueError, match="features"):
        Model(alpha=0.1).fit(X, y).predict(X[:, :3])
    with pytest.raises(ValueError, match="solver"):
        Model(solver="lars").fit(X, y)


def test_enet_specific_bad_inputs(rng):
    X, y = sparse_problem(rng)
    with pytest.raises(ValueError, match="l1_ratio"):
        ElasticNet(l1_ratio=1.5).fit(X, y)
    with pytest.raises(ValueError, match="penalty_weights"):
        Lasso(penalty_weights=np.ones(3)).fit(X, y)
    with pytest.raises(ValueError, match="penalty_weights"):
        Lasso(penalty_weights=np.r_[0.0, np.ones(11)]).fit(X, y)
    with pytest.raises(ValueError, match="tol"):
        Lasso(tol=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="alphas"):
        lasso_path(X, y, alphas=[0.1, -1.0])
    with pytest.raises(ValueError, match="l1_ratio"):
        enet_path(X, y, l1_ratio=0.0)


@pytest.mark.parametrize("solver", SOLVERS)
def test_constant_column_and_zero_target(rng, solver):
    X, y = sparse_problem(rng)
    X[:, 3] = -4.0
    m = Lasso(alpha=0.01, solver=solver, max_iter=20000).fit(X, y)
    assert m.coef_[3] == 0 and np.all(np.isfinite(m.coef_))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # documented: y = 0 converges at once, w = 0, no warning
        z = Lasso(alpha=0.1, solver=solver).fit(X, np.zeros(len(y)))
    assert np.all(z.coef_ == 0) and z.intercept_ == 0
    assert z.n_iter_ == 0


@pytest.mark.parametrize("p", [10, 70])  # Gram path and working-set path
def test_enet_without_l1_is_ridge_and_edge_cases(rng, p):
    X = rng.normal(size=(200, p))
    y = X[:, :3] @ [1.0, 2.0, 3.0] + rng.normal(size=200)
    # (1/2n)||y - Xw||^2 + (a/2)||w||^2 has the minimizer of ||y - Xw||^2 + n a ||w||^2.
    e = ElasticNet(alpha=0.05, l1_ratio=0.0, tol=1e-14, max_iter=100000).fit(X, y)
    r = Ridge(alpha=0.05 * 200).fit(X, y)
    np.testing.assert_allclose(e.coef_, r.coef_, atol=1e-10)
    X[:, 6] = 0.0  # an all-zero column (the working set still applies)
    X2 = X.copy()
    X2[:, 5] = 3.0  # a constant column (explicit centring, the full Gram)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = Lasso(alpha=0.05).fit(X, y)
        m2 = Lasso(alpha=0.05).fit(X2, y)
        z = Lasso(alpha=0.05).fit(X, np.zeros(200))
    assert m.coef_[6] == 0 and np.all(np.isfinite(m.coef_))
    assert m2.coef_[5] == 0 and m2.coef_[6] == 0 and np.all(np.isfinite(m2.coef_))
    assert np.all(z.coef_ == 0) and z.n_iter_ == 0


# --- issue 17, item 1: answers that were wrong in silence -------------------------------------
def _ill_conditioned(seed=0):
    """X = U diag(logspace(0, -4, 5)) V^T (50 x 5, condition 1e4) and y = X w + e with e
    orthogonal to the intercept and the columns of X: least squares returns w exactly."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.normal(size=(50, 5)))[0]
    V = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    X = U @ np.diag(np.logspace(0, -4, 5)) @ V.T + rng.normal(size=5)  # columns not centred
    w = rng.normal(size=5) * 10
    basis = np.linalg.qr(np.column_stack([np.ones(50), X]))[0]
    e = rng.normal(size=50)
    e -= basis @ (basis.T @ e)
    return X, X @ w + 3.0 + e, w


@pytest.mark.parametrize("solver", ["cd", "cd_naive", "ista", "fista"])
def test_alpha_zero_is_least_squares_certified(solver):
    """Lasso(alpha=0) stopped after one sweep 30.04 (3e3 here) away from least squares and
    reported the squared gradient as its gap. Now alpha = 0 is solved directly: the known
    least-squares coefficients (to 1e-7: least squares' sensitivity with a residual is
    cond^2 eps ||r|| / (||X|| ||w||) ~ 1e8 * 2e-16 * 7 / 20 ~ 1e-9), the exact suboptimality
    as the gap (~0), no iteration."""
    X, y, w = _ill_conditioned()
    for model in (Lasso(alpha=0.0, solver=solver), ElasticNet(alpha=0.0, solver=solver)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no ConvergenceWarning either
            model.fit(X, y)
        np.testing.assert_allclose(model.coef_, w, rtol=1e-7)
        assert model.intercept_ == pytest.approx(3.0, rel=1e-7)
        assert model.n_iter_ == 0 and 0 <= model.dual_gap_ < 1e-20


def test_duality_gap_is_no_certificate_without_a_penalty():
    """With lam = 0 and beta = 0 the old value, ||X^T r||^2, said nothing (tiny gradient, far
    from the optimum on an ill-conditioned X): duality_gap refuses, and least squares is
    solved directly."""
    from minidl.linear_model.compressed_sensing import ista

    with pytest.raises(ValueError, match="no penalty.*least squares"):
        duality_gap(1.0, np.zeros(3), np.ones(3), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="lam must be > 0.*least squares"):
        ista(np.eye(3), np.ones(3), 0.0)


def _objective(X, y, model, alpha):
    r = y - X @ model.coef_ - model.intercept_
    return r @ r / (2 * len(y)) + alpha * np.abs(model.coef_).sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fista_never_stops_far_above_the_optimum_in_silence(seed):
    """No intercept and every column's mean 1e8 (y's too): ||y||^2/n ~ 1e16, so scikit-learn's
    tolerance tol ||y||^2/n let FISTA stop after one step 60-90% above the optimum without a
    word. The proximal solvers' tolerance is now relative to the objective: they either get
    within 1e-3 of the optimum (coordinate descent's, which agrees with scikit-learn's to
    1e-12 here) or warn."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(100, 5)) + 1e8
    y = rng.normal(size=100) + X[:, 0]
    optimum = _objective(X, y, Lasso(alpha=0.1, fit_intercept=False, tol=1e-12).fit(X, y), 0.1)
    for solver in ("fista", "ista"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = Lasso(alpha=0.1, fit_intercept=False, solver=solver).fit(X, y)
        warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
        assert warned or _objective(X, y, model, 0.1) <= optimum * (1 + 1e-3)
