"""minidl's linear models and model selection against scikit-learn, float64.

Closed forms (LinearRegression, Ridge cholesky/svd, ridge_path) to 1e-10 relative; iterative
solvers (coordinate descent, ISTA/FISTA, Ridge 'gd') run with tight tolerances on both sides and
agree to 1e-6 relative to the largest coefficient (the tolerance the issue sets for CD).
"""

import warnings

import numpy as np
import pytest

from minidl.linear_model.lasso import ElasticNet, Lasso
from minidl.linear_model.linear import LinearRegression, Ridge, ridge_path
from minidl.linear_model.model_selection import (
    KFold,
    LassoCV,
    LassoIC,
    RidgeCV,
    information_criterion,
)
from minidl.linear_model.regularization_path import enet_path, lasso_path

sk = pytest.importorskip("sklearn.linear_model")
sk_ms = pytest.importorskip("sklearn.model_selection")
sk_datasets = pytest.importorskip("sklearn.datasets")
sklearn = pytest.importorskip("sklearn")


def sk_grid(n_alphas):
    """scikit-learn's keyword for a grid of n_alphas: ``alphas=n`` from 1.8, ``n_alphas`` before."""
    major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    return {"alphas": n_alphas} if (major, minor) >= (1, 8) else {"n_alphas": n_alphas}


def rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b))


def random_problem(seed, n, p, k=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) * 0.3 + rng.normal(size=p)
    shape = (p,) if k is None else (p, k)
    w = rng.normal(size=shape) * (rng.random(size=shape) < 0.5)
    return X, X @ w + 0.5 * rng.normal(size=(n,) + shape[1:]) + 1.5


@pytest.fixture(scope="module")
def diabetes():
    return sk_datasets.load_diabetes(return_X_y=True)


PROBLEMS = [(0, 50, 8), (1, 15, 30), (2, 200, 20), (3, 60, 120), (4, 400, 90)]  # p>64: w. sets


@pytest.mark.parametrize("seed,n,p", PROBLEMS)
def test_linear_regression(seed, n, p):
    X, y = random_problem(seed, n, p)
    if n <= p:
        pytest.skip("OLS is not unique for n <= p")
    a, b = LinearRegression().fit(X, y), sk.LinearRegression().fit(X, y)
    assert rel(a.coef_, b.coef_) < 1e-10 and a.intercept_ == pytest.approx(b.intercept_, 1e-10)


@pytest.mark.parametrize("seed,n,p", PROBLEMS)
@pytest.mark.parametrize("solver", ["cholesky", "svd"])
@pytest.mark.parametrize("k", [None, 3])
def test_ridge_closed_forms(seed, n, p, solver, k):
    X, y = random_problem(seed, n, p, k)
    a = Ridge(alpha=0.7, solver=solver).fit(X, y)
    b = sk.Ridge(alpha=0.7, solver="cholesky").fit(X, y)
    assert rel(a.coef_, b.coef_) < 1e-10
    assert rel(a.intercept_, b.intercept_) < 1e-10


def test_ridge_gd_and_path(diabetes):
    X, y = diabetes
    b = sk.Ridge(alpha=0.1).fit(X, y)
    a = Ridge(alpha=0.1, solver="gd", tol=1e-14, max_iter=100000).fit(X, y)
    assert rel(a.coef_, b.coef_) < 1e-8
    alphas = [0.01, 0.1, 1.0, 10.0]
    coefs = ridge_path(X, y, alphas, fit_intercept=True)
    for k, alpha in enumerate(alphas):
        assert rel(coefs[:, k], sk.Ridge(alpha=alpha).fit(X, y).coef_) < 1e-10


def test_diabetes_closed_forms(diabetes):
    X, y = diabetes
    assert rel(LinearRegression().fit(X, y).coef_, sk.LinearRegression().fit(X, y).coef_) < 1e-10
    assert rel(Ridge(alpha=0.5).fit(X, y).coef_, sk.Ridge(alpha=0.5).fit(X, y).coef_) < 1e-10


@pytest.mark.parametrize("seed,n,p", PROBLEMS)
@pytest.mark.parametrize("solver", ["cd", "cd_naive", "fista"])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_lasso_and_elastic_net(seed, n, p, solver, l1_ratio):
    X, y = random_problem(seed, n, p)
    alpha = 0.05 * np.max(np.abs((X - X.mean(0)).T @ (y - y.mean()))) / n  # 5% of alpha_max
    a = ElasticNet(alpha, l1_ratio=l1_ratio, solver=solver, tol=1e-13, max_iter=100000)
    b = sk.ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-13, max_iter=100000)
    a.fit(X, y), b.fit(X, y)
    assert rel(a.coef_, b.coef_) < 1e-6
    assert a.intercept_ == pytest.approx(b.intercept_, rel=1e-6)
    # same zero pattern, except coefficients sklearn itself leaves at ~1e-12
    assert np.all((a.coef_ == 0) == (np.abs(b.coef_) < 1e-9))


def test_lasso_diabetes_and_weighted_lasso(diabetes):
    X, y = diabetes
    for alpha in [0.05, 0.5, 2.0]:
        a = Lasso(alpha=alpha, tol=1e-13).fit(X, y)
        b = sk.Lasso(alpha=alpha, tol=1e-13, max_iter=100000).fit(X, y)
        assert rel(a.coef_, b.coef_) < 1e-6
    # Weighted L1 (article 001's lambda sum w_j |b_j|) = plain lasso on columns X_j / w_j.
    w = np.linspace(0.5, 2.0, X.shape[1])
    a = Lasso(alpha=0.3, penalty_weights=w, tol=1e-13).fit(X, y)
    b = sk.Lasso(alpha=0.3, tol=1e-13, max_iter=100000).fit(X / w, y)
    assert rel(a.coef_, b.coef_ / w) < 1e-6


def test_lasso_path_diabetes(diabetes):
    X, y = diabetes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # sklearn's alphas/n_alphas notice
        b_alphas, b_coefs, _ = sk.lasso_path(X, y, **sk_grid(100), tol=1e-12, max_iter=100000)
    a_alphas, a_coefs, _ = lasso_path(X, y, n_alphas=100, tol=1e-12, max_iter=100000)
    np.testing.assert_allclose(a_alphas, b_alphas, rtol=1e-12)
    assert rel(a_coefs, b_coefs) < 1e-6


@pytest.mark.parametrize("seed,n,p", PROBLEMS)
def test_enet_path_random(seed, n, p):
    X, y = random_problem(seed, n, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        b_alphas, b_coefs, _ = sk.enet_path(X, y, l1_ratio=0.7, **sk_grid(20), tol=1e-12,
                                            max_iter=100000)  # fmt: skip
    a_alphas, a_coefs, _ = enet_path(X, y, 0.7, n_alphas=20, tol=1e-12, max_iter=100000)
    np.testing.assert_allclose(a_alphas, b_alphas, rtol=1e-12)
    assert rel(a_coefs, b_coefs) < 1e-6


@pytest.mark.parametrize("n,k", [(10, 2), (11, 3), (100, 5), (7, 7), (443, 10)])
def test_kfold_equals_sklearn(n, k):
    ours = list(KFold(k).split(np.zeros(n)))
    theirs = list(sk_ms.KFold(k).split(np.zeros(n)))
    for (tr_a, te_a), (tr_b, te_b) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(tr_a, tr_b)
        np.testing.assert_array_equal(te_a, te_b)


def test_lasso_cv_and_ridge_cv(diabetes):
    X, y = diabetes
    a = LassoCV(cv=5, tol=1e-10, max_iter=10000).fit(X, y)
    b = sk.LassoCV(cv=sk_ms.KFold(5), tol=1e-10, max_iter=10000).fit(X, y)
    np.testing.assert_allclose(a.alphas_, b.alphas_, rtol=1e-12)
    assert rel(a.mse_path_, b.mse_path_) < 1e-6
    assert a.alpha_ == pytest.approx(b.alpha_, rel=1e-12)
    assert rel(a.coef_, b.coef_) < 1e-6
    alphas = np.logspace(-4, 1, 11)
    r = RidgeCV(alphas=alphas, cv=5).fit(X, y)
    s = sk.RidgeCV(alphas=alphas, cv=sk_ms.KFold(5), scoring="neg_mean_squared_error").fit(X, y)
    assert r.alpha_ == pytest.approx(s.alpha_, rel=1e-12)


@pytest.mark.parametrize("criterion", ["aic", "bic"])
def test_information_criteria_equal_lasso_lars_ic(diabetes, criterion):
    X, y = diabetes
    ref = sk.LassoLarsIC(criterion=criterion).fit(X, y)
    Xc, yc = X - X.mean(0), y - y.mean()
    _, _, lars_coefs = sk.lars_path(Xc, yc, method="lasso")
    crit, s2 = information_criterion(X, y, lars_coefs, criterion)
    np.testing.assert_allclose(crit, ref.criterion_, rtol=1e-10)
    assert s2 == pytest.approx(ref.noise_variance_, rel=1e-10)


@pytest.mark.parametrize("criterion", ["aic", "bic"])
def test_lasso_ic_selection_on_a_grid(diabetes, criterion):
    # LassoIC on its own grid vs the same formula applied to scikit-learn's path on that grid.
    X, y = diabetes
    m = LassoIC(criterion=criterion, n_alphas=50, tol=1e-12, max_iter=100000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        _, sk_coefs, _ = sk.lasso_path(X - X.mean(0), y - y.mean(), alphas=m.alphas_,
                                       tol=1e-12, max_iter=100000)  # fmt: skip
    n, p = X.shape
    rss = np.sum(((y - y.mean())[:, None] - (X - X.mean(0)) @ sk_coefs) ** 2, axis=0)
    ols = sk.LinearRegression().fit(X, y)
    s2 = np.sum((y - ols.predict(X)) ** 2) / (n - p - 1)
    # alphas_[0] is exactly where the first coefficient enters: there scikit-learn's path holds
    # a rounding residue (4.5e-13 under OpenBLAS's SkylakeX kernels, 0 under Haswell) that an
    # eps threshold counts. Count df on a threshold that sits in a wide empty band instead:
    # every coefficient on this path is either < 1e-12 or > 1e-5 of the largest.
    scale = np.abs(sk_coefs).max()
    small = np.abs(sk_coefs) < 1e-12 * scale
    assert np.all(small | (np.abs(sk_coefs) > 1e-5 * scale))
    df = np.sum(~small, axis=0)
    factor = 2.0 if criterion == "aic" else np.log(n)
    expected = n * np.log(2 * np.pi * s2) + rss / s2 + factor * df
    np.testing.assert_allclose(m.criterion_, expected, rtol=1e-8)
    assert m.alpha_ == m.alphas_[np.argmin(expected)]
