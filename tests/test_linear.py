"""LinearRegression, Ridge (three solvers), ridge_path, effective_df, ridge_gd_literal."""

import numpy as np
import pytest

from minidl.exceptions import ConvergenceWarning, NotFittedError
from minidl.gradcheck import numerical_gradient, rel_error
from minidl.linear_model.lasso import Lasso
from minidl.linear_model.linear import (
    LinearRegression,
    Ridge,
    effective_df,
    ridge_gd_literal,
    ridge_gradient,
    ridge_path,
)


def make_data(rng, n=40, p=6, k=None, offset=3.0):
    X = rng.normal(size=(n, p)) + rng.normal(size=p)  # non-centred columns
    shape = (p,) if k is None else (p, k)
    y = X @ rng.normal(size=shape) + 0.3 * rng.normal(size=(n,) + shape[1:]) + offset
    return X, y


def augmented_ridge(X, y, alpha):
    """Independent route: ridge = least squares on [Xc; sqrt(alpha) I], [yc; 0] (centred data)."""
    Xc, yc = X - X.mean(0), y - y.mean(0)
    p = X.shape[1]
    Xa = np.vstack([Xc, np.sqrt(alpha) * np.eye(p)])
    ya = np.concatenate([yc, np.zeros((p,) + yc.shape[1:])])
    w = np.linalg.lstsq(Xa, ya, rcond=None)[0]
    return w.T, y.mean(0) - X.mean(0) @ w


def test_linear_regression_hand_case():
    # y = 2 x1 - x2 + 1 exactly: OLS must recover it.
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 3.0], [3.0, 1.0], [4.0, 5.0]])
    y = 2 * X[:, 0] - X[:, 1] + 1
    m = LinearRegression().fit(X, y)
    np.testing.assert_allclose(m.coef_, [2.0, -1.0], atol=1e-12)
    assert abs(m.intercept_ - 1.0) < 1e-12
    assert m.score(X, y) == pytest.approx(1.0)


def test_linear_regression_matches_normal_equations_with_ones_column(rng):
    X, y = make_data(rng)
    A = np.hstack([np.ones((X.shape[0], 1)), X])
    beta = np.linalg.solve(A.T @ A, A.T @ y)
    m = LinearRegression().fit(X, y)
    np.testing.assert_allclose(m.coef_, beta[1:], rtol=1e-10)
    assert m.intercept_ == pytest.approx(beta[0], rel=1e-10)


@pytest.mark.parametrize("solver", ["cholesky", "svd", "gd"])
@pytest.mark.parametrize("shape", [(40, 6), (8, 20)])  # n > p (primal) and n < p (dual form)
def test_ridge_solvers_match_augmented_least_squares(rng, solver, shape):
    X, y = make_data(rng, *shape)
    alpha = 2.5
    coef, intercept = augmented_ridge(X, y, alpha)
    m = Ridge(alpha=alpha, solver=solver, tol=1e-13, max_iter=200000).fit(X, y)
    tol = 1e-9 if solver == "gd" else 1e-10
    np.testing.assert_allclose(m.coef_, coef, rtol=tol, atol=tol * np.abs(coef).max())
    assert m.intercept_ == pytest.approx(intercept, rel=tol)


def test_ridge_intercept_is_unpenalized(rng):
    X, y = make_data(rng)
    a = Ridge(alpha=5.0).fit(X, y)
    b = Ridge(alpha=5.0).fit(X, y + 100.0)
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-12)
    assert b.intercept_ - a.intercept_ == pytest.approx(100.0, rel=1e-12)


@pytest.mark.parametrize("solver", ["cholesky", "svd", "gd"])
def test_ridge_multi_target_equals_separate_fits(rng, solver):
    X, Y = make_data(rng, k=3)
    m = Ridge(alpha=1.0, solver=solver, tol=1e-12).fit(X, Y)
    assert m.coef_.shape == (3, X.shape[1]) and m.intercept_.shape == (3,)
    for t in range(3):
        s = Ridge(alpha=1.0, solver=solver, tol=1e-12).fit(X, Y[:, t])
        np.testing.assert_allclose(m.coef_[t], s.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m.predict(X).shape, Y.shape)


def test_ridge_gradient_matches_numerical_gradient(rng):
    X, y = make_data(rng, 15, 4)
    w = rng.normal(size=4)
    alpha = 0.7

    def J():
        return float(np.sum((y - X @ w) ** 2) + alpha * w @ w)

    num = numerical_gradient(J, w)
    assert rel_error(ridge_gradient(X, y, w, alpha), num) < 1e-6


def test_ridge_gd_warns_with_the_gradient_norm(rng):
    X, y = make_data(rng)
    with pytest.warns(ConvergenceWarning, match="gradient norm"):
        Ridge(alpha=1.0, solver="gd", max_iter=2).fit(X, y)


def test_ridge_path_columns_equal_single_fits(rng):
    X, y = make_data(rng)
    alphas = np.array([0.01, 1.0, 30.0])
    coefs = ridge_path(X, y, alphas)
    assert coefs.shape == (X.shape[1], 3)
    for k, a in enumerate(alphas):
        m = Ridge(alpha=a, fit_intercept=False).fit(X, y)
        np.testing.assert_allclose(coefs[:, k], m.coef_, rtol=1e-9)
    centred = ridge_path(X, y, alphas, fit_intercept=True)
    np.testing.assert_allclose(centred[:, 1], Ridge(alpha=1.0).fit(X, y).coef_, rtol=1e-9)


def test_ridge_path_multi_target_shape(rng):
    X, Y = make_data(rng, k=2)
    coefs = ridge_path(X, Y, [0.5, 2.0])
    assert coefs.shape == (2, X.shape[1], 2)
    np.testing.assert_allclose(coefs[1, :, 0], ridge_path(X, Y[:, 1], [0.5])[:, 0], rtol=1e-10)


def test_effective_df_is_trace_of_hat_matrix(rng):
    X, _ = make_data(rng, 30, 5)
    Xc = X - X.mean(0)
    for alpha in [0.0, 0.3, 10.0]:
        H = Xc @ np.linalg.solve(Xc.T @ Xc + alpha * np.eye(5), Xc.T)
        assert effective_df(X, alpha) == pytest.approx(np.trace(H), rel=1e-10)
    assert effective_df(X, 0.0) == pytest.approx(5.0)  # df(0) = rank
    assert effective_df(X, 1e12) < 1e-8  # df -> 0 as alpha -> inf
    dfs = effective_df(X, np.array([0.1, 1.0, 10.0]))
    assert dfs.shape == (3,) and np.all(np.diff(dfs) < 0)  # decreasing in alpha


# --- article 001's ridge_regression, kept literal -----------------------------------------


def article_data(rng):
    """The article's toy problem: X ~ N(0, 1) of 100 x 10, y = X w + 0.5."""
    X = rng.normal(size=(100, 10))
    return X, X @ rng.normal(size=10) + 0.5


def test_ridge_literal_fixed_point_is_ridge_without_intercept(rng):
    X, y = article_data(rng)
    y = y - 0.5  # remove the offset the literal version cannot fit
    theta = ridge_gd_literal(X, y, alpha=0.1, iterations=3000)
    expected = np.linalg.solve(X.T @ X + 0.1 * np.eye(10), X.T @ y)
    np.testing.assert_allclose(theta, expected, rtol=1e-8)


def test_ridge_literal_diverges_when_the_penalty_is_a_real_penalty(rng):
    # alpha = 20 is a modest ridge penalty on 100 samples, but as a step size it exceeds 2/L.
    X, y = article_data(rng)
    with np.errstate(over="ignore", invalid="ignore"):
        theta = ridge_gd_literal(X, y, alpha=20.0, iterations=1000)
    assert not np.all(np.isfinite(theta)) or np.abs(theta).max() > 1e100
    fixed = Ridge(alpha=20.0, fit_intercept=False, solver="gd", tol=1e-12).fit(X, y)
    expected = np.linalg.solve(X.T @ X + 20.0 * np.eye(10), X.T @ y)
    np.testing.assert_allclose(fixed.coef_, expected, rtol=1e-9)


def test_ridge_literal_crawls_for_a_small_penalty_and_has_no_intercept(rng):
    X, y = article_data(rng)
    theta = ridge_gd_literal(X, y, alpha=1e-3, iterations=1000)  # step 1e-3: barely moves
    target = Ridge(alpha=1e-3, fit_intercept=False).fit(X, y).coef_
    assert np.linalg.norm(theta - target) > 0.3 * np.linalg.norm(target)
    # The corrected model absorbs the article's +0.5 in the intercept; the literal one cannot.
    fixed = Ridge(alpha=0.1).fit(X, y)
    assert fixed.intercept_ == pytest.approx(0.5, abs=1e-3)
    assert abs(np.mean(y - fixed.predict(X))) < 1e-12
    assert abs(np.mean(y - X @ ridge_gd_literal(X, y, 0.1, 3000))) > 0.2  # biased fit


# --- bad inputs and documented edge cases --------------------------------------------------


@pytest.mark.parametrize("Model", [LinearRegression, Ridge])
def test_bad_inputs_name_the_argument(rng, Model):
    X, y = make_data(rng)
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        Model().fit(Xn, y)
    yi = y.copy()
    yi[0] = np.inf
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        Model().fit(X, yi)
    with pytest.raises(ValueError, match="X and y must have the same number of samples"):
        Model().fit(X, y[:-1])
    with pytest.raises(ValueError, match="X must be 2-dimensional"):
        Model().fit(X[:, 0], y)
    with pytest.raises(TypeError, match="X must hold numbers"):
        Model().fit(np.array([["a", "b"]] * 5), y[:5])
    with pytest.raises(NotFittedError, match="call fit"):
        Model().predict(X)
    m = Model().fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but .* 6 features"):
        m.predict(X[:, :5])


def test_ridge_bad_alpha_and_solver(rng):
    X, y = make_data(rng)
    with pytest.raises(ValueError, match="alpha"):
        Ridge(alpha=-1.0).fit(X, y)
    with pytest.raises(TypeError, match="alpha"):
        Ridge(alpha="big").fit(X, y)
    with pytest.raises(ValueError, match="solver"):
        Ridge(solver="qr").fit(X, y)
    with pytest.raises(ValueError, match="max_iter"):
        Ridge(solver="gd", max_iter=0).fit(X, y)
    with pytest.raises(ValueError, match="alphas"):
        ridge_path(X, y, [1.0, -2.0])
    with pytest.raises(ValueError, match="alpha"):
        effective_df(X, -0.5)


@pytest.mark.parametrize("solver", ["cholesky", "svd", "gd"])
def test_constant_column_gets_zero_coefficient(rng, solver):
    X, y = make_data(rng)
    X[:, 2] = 7.0
    m = Ridge(alpha=1.0, solver=solver).fit(X, y)
    assert np.all(np.isfinite(m.coef_)) and m.coef_[2] == pytest.approx(0.0, abs=1e-12)
    ols = LinearRegression().fit(X, y)
    assert np.all(np.isfinite(ols.coef_)) and abs(ols.coef_[2]) < 1e-10
    # alpha = 0 with a constant column: X^T X singular, the lstsq fallback still answers.
    r0 = Ridge(alpha=0.0).fit(X, y)
    np.testing.assert_allclose(r0.coef_, ols.coef_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("Model", [LinearRegression, Ridge])
def test_zero_target_gives_zero_model(rng, Model):
    X, _ = make_data(rng)
    m = Model().fit(X, np.zeros(X.shape[0]))
    assert np.all(m.coef_ == 0) and m.intercept_ == 0


def test_integer_input_is_converted_to_float64():
    X = np.array([[1, 2], [3, 5], [4, 4], [6, 1]])
    y = np.array([1, 2, 3, 4])
    m = Ridge(alpha=0.5).fit(X, y)
    assert m.coef_.dtype == np.float64
    np.testing.assert_allclose(m.coef_, augmented_ridge(X.astype(float), y.astype(float), 0.5)[0])


def test_get_params_rebuilds_the_estimator():
    m = Ridge(alpha=3.0, solver="svd")
    clone = type(m)(**m.get_params())
    assert clone.get_params() == m.get_params()


def test_centered_gram_identity_and_cancellation_guard(rng):
    from minidl.linear_model.base import centered_gram

    X, y = make_data(rng, 50, 4)
    G, Xty, yy, x_mean, y_mean = centered_gram(X, y, True)
    Xc, yc = X - X.mean(0), y - y.mean()
    np.testing.assert_allclose(G, Xc.T @ Xc, rtol=1e-12, atol=1e-12 * np.abs(G).max())
    np.testing.assert_allclose(Xty, Xc.T @ yc, rtol=1e-11, atol=1e-12 * np.abs(Xty).max())
    assert yy == pytest.approx(yc @ yc, rel=1e-12)
    # Columns with mean 1e7 and spread 1: X^T X - n xbar xbar^T would lose ~14 digits, so the
    # explicit centring path must be taken; the ridge fit still matches augmented lstsq.
    Xbig = X + 1e7
    m = Ridge(alpha=0.3).fit(Xbig, y)
    coef, _ = augmented_ridge(X, y, 0.3)  # centring removes the shift exactly
    np.testing.assert_allclose(m.coef_, coef, rtol=1e-8)


# Published table: OLS on the diabetes data of Efron, Hastie, Johnstone & Tibshirani (2004),
# "Least Angle Regression", columns centred and scaled to unit L2 norm (the paper's and
# scikit-learn's standardization), as tabulated (Coefficient, Std Error, t value) in the
# statsmodels-style summary of github.com/LilianaRomeroM/cebd1160_project_template (README).
# Rows: intercept, age, sex, bmi, bp, s1..s6.
DIABETES_OLS_TABLE = np.array(
    [
        [152.1335, 2.576, 59.061],
        [-10.0122, 59.749, -0.168],
        [-239.8191, 61.222, -3.917],
        [519.8398, 66.534, 7.813],
        [324.3904, 65.422, 4.958],
        [-792.1842, 416.684, -1.901],
        [476.7458, 339.035, 1.406],
        [101.0446, 212.533, 0.475],
        [177.0642, 161.476, 1.097],
        [751.2793, 171.902, 4.370],
        [67.6254, 65.984, 1.025],
    ]
)


def test_diabetes_ols_table_reproduced():
    from minidl.datasets import load_diabetes

    X, y = load_diabetes(scaled=True)
    m = LinearRegression().fit(X, y)
    n, p = X.shape
    resid = y - m.predict(X)
    sigma2 = resid @ resid / (n - p - 1)  # unbiased noise variance, n - p - 1 = 431 dof
    Xc = X - X.mean(0)
    cov = sigma2 * np.linalg.inv(Xc.T @ Xc)
    se = np.r_[np.sqrt(sigma2 / n), np.sqrt(np.diag(cov))]  # intercept: x-bar = 0 here
    coef = np.r_[m.intercept_, m.coef_]
    # The table was computed from scikit-learn's older pre-scaled file, whose bp and s5 columns
    # carry more digits than the raw file bundled now (row 0: bp 0.02187235 vs 0.02187239,
    # s5 0.01990842 vs 0.01990749), so it is reproduced to ~3e-4 relative, not to its last
    # printed digit. Using n - p instead of n - p - 1 dof would already move the SEs by 1.2e-3.
    np.testing.assert_allclose(coef, DIABETES_OLS_TABLE[:, 0], rtol=3e-4)
    np.testing.assert_allclose(se, DIABETES_OLS_TABLE[:, 1], rtol=3e-4)
    np.testing.assert_allclose(coef / se, DIABETES_OLS_TABLE[:, 2], rtol=3e-4, atol=5e-4)
    # Ridge with a vanishing penalty approaches the same fit; df(alpha) tends to p = 10.
    np.testing.assert_allclose(Ridge(alpha=1e-9).fit(X, y).coef_, m.coef_, rtol=1e-6)
    assert effective_df(X, 1e-9) == pytest.approx(10.0, abs=1e-6)


def test_ridge_refuses_data_whose_gram_matrix_overflows():
    """Issue 17, item 5: X scaled by 1e160 makes every entry of X^T X inf; Ridge returned
    [nan nan nan]. The normal-equation solvers (and the lasso's Gram) now raise as
    scikit-learn does; the SVD solver, which never squares X, stays exact: it matches
    least squares (alpha = 1 is nothing next to singular values ~1e161)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)) * 1e160, rng.normal(size=20)
    for model in (Ridge(alpha=1), Ridge(alpha=1, solver="gd"), Ridge(alpha=1, fit_intercept=False),
                  Lasso(alpha=1), Lasso(alpha=1, solver="cd_naive")):  # fmt: skip
        with pytest.raises(ValueError, match=r"overflows float64: the largest \|X\| is 2.3"):
            model.fit(X, y)
    with pytest.raises(ValueError, match="overflows float64"):
        Ridge(alpha=1).fit(X[:2], y[:2])  # n < p... the dual system X X^T
    svd = Ridge(alpha=1, solver="svd").fit(X, y).coef_
    lstsq = LinearRegression().fit(X, y).coef_
    np.testing.assert_allclose(svd, lstsq, rtol=1e-12)
    assert np.all(np.isfinite(svd))
    sklearn = pytest.importorskip("sklearn.linear_model")
    with pytest.raises(ValueError), np.errstate(over="ignore"):
        sklearn.Ridge(alpha=1).fit(X, y)
