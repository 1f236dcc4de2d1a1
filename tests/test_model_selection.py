"""KFold, cross_val_score, RidgeCV, LassoCV, AIC/BIC along the lasso path."""

import numpy as np
import pytest

from minidl.linear_model.lasso import Lasso
from minidl.linear_model.linear import LinearRegression, Ridge
from minidl.linear_model.model_selection import (
    KFold,
    LassoCV,
    LassoIC,
    RidgeCV,
    clone,
    cross_val_score,
    information_criterion,
)


def sparse_problem(rng, n=80, p=8, noise=0.5):
    X = rng.normal(size=(n, p)) + 1.0
    w = np.zeros(p)
    w[[1, p - 1]] = [3.0, -2.0]
    return X, X @ w + noise * rng.normal(size=n) + 1.0


def test_kfold_sizes_cover_and_disjoint():
    folds = list(KFold(3).split(np.zeros(11)))
    assert [len(test) for _, test in folds] == [4, 4, 3]  # first n % k folds one larger
    np.testing.assert_array_equal(folds[0][1], [0, 1, 2, 3])  # consecutive without shuffle
    np.testing.assert_array_equal(np.sort(np.concatenate([t for _, t in folds])), np.arange(11))
    for train, test in folds:
        assert np.intersect1d(train, test).size == 0 and train.size + test.size == 11


def test_kfold_shuffle_uses_the_generator():
    a = [t for _, t in KFold(4, shuffle=True, rng=np.random.default_rng(1)).split(np.zeros(20))]
    b = [t for _, t in KFold(4, shuffle=True, rng=np.random.default_rng(1)).split(np.zeros(20))]
    c = [t for _, t in KFold(4).split(np.zeros(20))]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_kfold_bad_inputs():
    with pytest.raises(ValueError, match="n_splits"):
        KFold(1)
    with pytest.raises(TypeError, match="n_splits"):
        KFold(2.5)
    with pytest.raises(ValueError, match="n_splits"):
        list(KFold(5).split(np.zeros(3)))


def test_cross_val_score_against_a_hand_loop(rng):
    X, y = sparse_problem(rng)
    scores = cross_val_score(LinearRegression(), X, y, cv=4, scoring="neg_mse")
    expected = []
    for k in range(4):  # KFold(4) on 80 samples: blocks of 20
        test = np.arange(20 * k, 20 * k + 20)
        train = np.setdiff1d(np.arange(80), test)
        A = np.c_[np.ones(60), X[train]]
        beta = np.linalg.lstsq(A, y[train], rcond=None)[0]
        expected.append(-np.mean((np.c_[np.ones(20), X[test]] @ beta - y[test]) ** 2))
    np.testing.assert_allclose(scores, expected, rtol=1e-10)
    exact = cross_val_score(LinearRegression(), X, X @ np.arange(8.0) - 2, cv=5)
    np.testing.assert_allclose(exact, 1.0, atol=1e-12)  # noiseless: R^2 = 1 on every fold


def test_cross_val_score_bad_inputs(rng):
    X, y = sparse_problem(rng)
    with pytest.raises(ValueError, match="scoring"):
        cross_val_score(Ridge(), X, y, scoring="accuracy")
    with pytest.raises(TypeError, match="cv"):
        cross_val_score(Ridge(), X, y, cv="five")


def test_clone_is_unfitted_with_same_params(rng):
    X, y = sparse_problem(rng)
    m = Lasso(alpha=0.3).fit(X, y)
    c = clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "coef_")


def test_ridge_cv_picks_the_best_mean_score(rng):
    X, y = sparse_problem(rng)
    alphas = [1e-3, 1.0, 1e3]
    m = RidgeCV(alphas=alphas, cv=5).fit(X, y)
    assert m.cv_scores_.shape == (3, 5)
    means = [cross_val_score(Ridge(a), X, y, 5, "neg_mse").mean() for a in alphas]
    assert m.alpha_ == alphas[int(np.argmax(means))]
    assert m.alpha_ < 1e3  # a huge penalty cannot win on a strong-signal problem
    np.testing.assert_allclose(m.coef_, Ridge(m.alpha_).fit(X, y).coef_)
    assert m.get_params()["alphas"] == alphas


def test_lasso_cv_mse_path_equals_per_fold_fits(rng):
    X, y = sparse_problem(rng)
    m = LassoCV(n_alphas=6, cv=4, tol=1e-12).fit(X, y)
    assert m.mse_path_.shape == (6, 4) and np.all(np.diff(m.alphas_) < 0)
    k = 3
    for f, (train, test) in enumerate(KFold(4).split(X)):
        fit = Lasso(alpha=m.alphas_[k], tol=1e-12).fit(X[train], y[train])
        mse = np.mean((fit.predict(X[test]) - y[test]) ** 2)
        assert m.mse_path_[k, f] == pytest.approx(mse, rel=1e-8)
    assert m.alpha_ == m.alphas_[np.argmin(m.mse_path_.mean(axis=1))]
    np.testing.assert_allclose(m.coef_, Lasso(alpha=m.alpha_, tol=1e-12).fit(X, y).coef_)


def test_information_criterion_hand_formula(rng):
    X, y = sparse_problem(rng, n=30, p=4)
    coefs = np.array([[0.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, -0.5]])
    aic, s2 = information_criterion(X, y, coefs, "aic")
    bic, _ = information_criterion(X, y, coefs, "bic")
    A = np.c_[np.ones(30), X]
    rss_ols = np.sum((y - A @ np.linalg.lstsq(A, y, rcond=None)[0]) ** 2)
    assert s2 == pytest.approx(rss_ols / (30 - 4 - 1), rel=1e-10)
    Xc, yc = X - X.mean(0), y - y.mean()
    rss = np.sum((yc[:, None] - Xc @ coefs) ** 2, axis=0)
    base = 30 * np.log(2 * np.pi * s2) + rss / s2
    np.testing.assert_allclose(aic, base + 2 * np.array([0, 2]), rtol=1e-12)
    np.testing.assert_allclose(bic, base + np.log(30) * np.array([0, 2]), rtol=1e-12)


def test_information_criterion_bad_inputs(rng):
    X, y = sparse_problem(rng, n=6, p=5)
    with pytest.raises(ValueError, match="noise_variance"):
        information_criterion(X, y, np.zeros(5))
    with pytest.raises(ValueError, match="noise_variance"):
        information_criterion(X, y, np.zeros(5), noise_variance=-1.0)
    with pytest.raises(ValueError, match="criterion"):
        information_criterion(X, y, np.zeros(5), "cp", noise_variance=1.0)


def test_lasso_bic_keeps_the_true_support_and_is_sparser_than_aic(rng):
    X, y = sparse_problem(rng, n=200)
    m = LassoIC(criterion="bic", tol=1e-8).fit(X, y)
    aic = LassoIC(criterion="aic", tol=1e-8).fit(X, y)
    assert {1, 7} <= set(np.flatnonzero(m.coef_))
    # log(200) > 2: BIC charges more per coefficient, so it never picks a larger model.
    assert np.count_nonzero(m.coef_) <= np.count_nonzero(aic.coef_) < 8
    assert m.criterion_.shape == m.alphas_.shape
    assert m.alpha_ == m.alphas_[np.argmin(m.criterion_)]
    np.testing.assert_allclose(m.predict(X), X @ m.coef_ + m.intercept_)


def test_cv_and_ic_estimators_bad_inputs(rng):
    X, y = sparse_problem(rng)
    with pytest.raises(ValueError, match="alphas"):
        RidgeCV(alphas=[1.0, -1.0]).fit(X, y)
    with pytest.raises(ValueError, match="alphas"):
        LassoCV(alphas=[0.1, -0.2]).fit(X, y)
    with pytest.raises(ValueError, match="n_splits"):
        LassoCV(cv=KFold(200)).fit(X, y)
    with pytest.raises(ValueError, match="criterion"):
        LassoIC(criterion="cp").fit(X, y)
    Xn = X.copy()
    Xn[1, 1] = np.nan
    for model in (RidgeCV(), LassoCV(), LassoIC()):
        with pytest.raises(ValueError, match="X contains NaN"):
            model.fit(Xn, y)
