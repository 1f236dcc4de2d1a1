"""PCA (article 001): hand cases, trace maximization, solver agreement, the literal code, errors."""

import numpy as np
import pytest

from minidl.decomposition import PCA, covariance, covariance_naive, pca_literal, pca_objective
from minidl.decomposition import pca as pca_module
from minidl.exceptions import NotFittedError


def correlated(rng, n=60, p=6, mean=2.0):
    """Gaussian data with distinct, well separated variances (so components are well defined)."""
    scales = np.linspace(3.0, 0.5, p)
    Q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    return (rng.normal(size=(n, p)) * scales) @ Q.T + mean


def exact_covariance_data(rng, evals, n=40):
    """Data whose sample covariance is Q diag(evals) Q^T up to rounding (repeats allowed)."""
    p = len(evals)
    Z = rng.normal(size=(n, p))
    Z -= Z.mean(axis=0)
    L = np.linalg.cholesky(Z.T @ Z / (n - 1))
    Z = np.linalg.solve(L, Z.T).T  # now Z^T Z / (n-1) = I
    Q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    return Z * np.sqrt(evals) @ Q.T + 1.0


# ---------------------------------------------------------------- covariance


def test_covariance_fast_equals_naive_and_numpy(rng):
    X = correlated(rng, n=15, p=4)
    C = covariance(X)
    np.testing.assert_allclose(C, covariance_naive(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(C, np.cov(X, rowvar=False), rtol=0, atol=1e-12)


def test_covariance_blocks_cover_every_row(rng, monkeypatch):
    # Shrink the block budget so 23 x 5 float64 (920 bytes) needs 4 blocks: 6 + 6 + 6 + 5 rows.
    # A mean of 1e3 against a spread of 1 rules the uncentred shortcut out (mean^2 > 1e4 var),
    # so the blocked centring is what runs.
    monkeypatch.setattr(pca_module, "_BLOCK_BYTES", 256)
    X = rng.normal(size=(23, 5)) + 1e3
    np.testing.assert_allclose(covariance(X), np.cov(X, rowvar=False), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        PCA(solver="eigh").fit(X).explained_variance_,
        PCA(solver="svd").fit(X).explained_variance_,
        rtol=1e-12,
    )


def test_eigh_keeps_its_digits_when_the_mean_is_large(rng):
    # Why PCA refuses the shortcut X^T X - n mean mean^T (what scikit-learn's 'covariance_eigh'
    # always does) when the mean is large: with |mean| = 1e4 >> std ~ 1 it cancels ~8 digits.
    # The SVD of the centred data is the accurate reference.
    X = correlated(rng, n=2000, p=8, mean=1e4)
    ref = PCA(solver="svd").fit(X)
    ours = PCA(solver="eigh").fit(X)
    np.testing.assert_allclose(ours.components_, ref.components_, atol=1e-12)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-12)
    mu = X.mean(axis=0)
    shortcut = (X.T @ X - len(X) * np.outer(mu, mu)) / (len(X) - 1)
    err = np.max(np.abs(np.linalg.eigvalsh(shortcut)[::-1] - ref.explained_variance_))
    assert err > 1e-9


# ---------------------------------------------------------------- hand-computed cases


@pytest.mark.parametrize("solver", ["eigh", "svd"])
def test_hand_case_axis_aligned_and_rotated(solver):
    # Points (+-2, 0), (0, +-1): mean 0, C = diag(8/3, 2/3), ratios 0.8 / 0.2.
    X = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    pca = PCA(solver=solver).fit(X)
    np.testing.assert_allclose(pca.explained_variance_, [8 / 3, 2 / 3], rtol=1e-14)
    np.testing.assert_allclose(pca.explained_variance_ratio_, [0.8, 0.2], rtol=1e-14)
    np.testing.assert_allclose(pca.singular_values_, [np.sqrt(8), np.sqrt(2)], rtol=1e-14)
    np.testing.assert_allclose(pca.components_, np.eye(2), atol=1e-15)
    # Rotate by cos = 0.6, sin = 0.8 and shift: axes (0.6, 0.8) and (-0.8, 0.6) -> sign rule
    # makes the second (0.8, -0.6); variances unchanged.
    R = np.array([[0.6, -0.8], [0.8, 0.6]])
    pca = PCA(solver=solver).fit(X @ R.T + [5.0, -3.0])
    np.testing.assert_allclose(pca.components_, [[0.6, 0.8], [0.8, -0.6]], atol=1e-14)
    np.testing.assert_allclose(pca.mean_, [5.0, -3.0], atol=1e-14)
    np.testing.assert_allclose(pca.explained_variance_, [8 / 3, 2 / 3], rtol=1e-13)


# ---------------------------------------------------------------- article 001: tr(W^T C W)


def test_components_maximize_trace_over_orthonormal_w(rng):
    X = correlated(rng, n=80, p=7)
    C = np.cov(X, rowvar=False)
    top = np.sort(np.linalg.eigvalsh(C))[::-1]
    for k in (1, 3, 5):
        W = PCA(k).fit(X).components_.T
        np.testing.assert_allclose(W.T @ W, np.eye(k), atol=1e-13)
        best = pca_objective(W, C)
        assert best == pytest.approx(top[:k].sum(), rel=1e-12)
        for _ in range(200):
            Wr, _ = np.linalg.qr(rng.normal(size=(7, k)))
            assert pca_objective(Wr, C) <= best * (1 + 1e-12)
        # A small rotation away from the optimum strictly loses.
        Wp, _ = np.linalg.qr(W + 1e-2 * rng.normal(size=W.shape))
        assert pca_objective(Wp, C) < best


def test_pca_objective_rejects_mismatched_shapes(rng):
    with pytest.raises(ValueError, match="C"):
        pca_objective(np.eye(3)[:, :2], np.eye(4))


# ---------------------------------------------------------------- properties


@pytest.mark.parametrize("shape", [(50, 6), (8, 12)])
def test_eigh_and_svd_solvers_agree_with_signs(rng, shape):
    X = correlated(rng, *shape) if shape[0] > shape[1] else rng.normal(size=shape) + 1.0
    k = min(shape) - 1  # with n <= p the last direction is null after centring
    a = PCA(k, solver="eigh").fit(X)
    b = PCA(k, solver="svd").fit(X)
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-10)
    np.testing.assert_allclose(a.explained_variance_, b.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(a.explained_variance_ratio_, b.explained_variance_ratio_, atol=1e-12)
    np.testing.assert_allclose(a.noise_variance_, b.noise_variance_, atol=1e-10)


def test_variances_are_sorted_eigenvalues_and_sign_rule(rng):
    X = correlated(rng)
    pca = PCA().fit(X)
    ref = np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False)))[::-1]
    np.testing.assert_allclose(pca.explained_variance_, ref, rtol=1e-12)
    np.testing.assert_allclose(pca.explained_variance_ratio_.sum(), 1.0, rtol=1e-14)
    rows = np.arange(pca.components_.shape[0])
    assert np.all(pca.components_[rows, np.argmax(np.abs(pca.components_), axis=1)] > 0)


def test_reconstruction_error_is_the_discarded_variance(rng):
    X = correlated(rng, n=70, p=6)
    full = PCA().fit(X)
    np.testing.assert_allclose(full.inverse_transform(full.transform(X)), X, atol=1e-12)
    for k in (1, 2, 4):
        pca = PCA(k).fit(X)
        Xh = pca.inverse_transform(pca.transform(X))
        sse = np.sum((X - Xh) ** 2)
        assert sse == pytest.approx(69 * full.explained_variance_[k:].sum(), rel=1e-10)
        assert pca.noise_variance_ == pytest.approx(full.explained_variance_[k:].mean(), rel=1e-12)


@pytest.mark.parametrize("solver", ["eigh", "svd"])
def test_whitening_gives_unit_covariance_and_inverts(rng, solver):
    X = correlated(rng, n=90, p=5)
    pca = PCA(3, solver=solver, whiten=True)
    Z = pca.fit_transform(X)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(3), atol=1e-12)
    plain = PCA(3, solver=solver).fit(X)
    np.testing.assert_allclose(
        pca.inverse_transform(Z), plain.inverse_transform(plain.transform(X)), atol=1e-12
    )


def test_fraction_keeps_fewest_components_exceeding_it(rng):
    X = correlated(rng, p=8)
    ratios = PCA().fit(X).explained_variance_ratio_
    for frac in (0.3, 0.6, 0.9, 0.99):
        k = PCA(frac).fit(X).n_components_
        assert ratios[:k].sum() > frac
        assert k == 1 or ratios[: k - 1].sum() <= frac


def test_fit_returns_self_fit_transform_matches_and_new_data(rng):
    X, X_new = correlated(rng), correlated(rng, n=9)
    pca = PCA(3)
    assert pca.fit(X) is pca
    np.testing.assert_allclose(PCA(3).fit_transform(X), pca.transform(X), atol=1e-13)
    np.testing.assert_allclose(
        pca.transform(X_new), (X_new - X.mean(axis=0)) @ pca.components_.T, atol=1e-12
    )


def test_float32_and_ints_become_float64(rng):
    """Like every classical estimator, PCA computes in float64 (DESIGN): float32 input is
    converted at the door, so it gives exactly what its float64 copy gives."""
    X32 = correlated(rng).astype(np.float32)
    pca = PCA(2).fit(X32)
    assert pca.components_.dtype == np.float64
    assert pca.transform(X32).dtype == np.float64
    np.testing.assert_array_equal(pca.components_, PCA(2).fit(X32.astype(np.float64)).components_)
    Xi = np.round(X32 * 10).astype(np.int64)
    assert PCA(2).fit(Xi).components_.dtype == np.float64


def test_constant_column_gets_zero_loadings(rng):
    X = correlated(rng, p=4)
    X = np.column_stack([X, np.full(len(X), 7.0)])
    pca = PCA(4).fit(X)
    np.testing.assert_allclose(pca.components_[:, -1], 0.0, atol=1e-12)
    np.testing.assert_allclose(pca.explained_variance_, PCA(4).fit(X[:, :4]).explained_variance_)


# ---------------------------------------------------------------- the article's code


def test_literal_matches_when_spectrum_is_distinct(rng):
    X = correlated(rng, n=50, p=5)
    lit = pca_literal(X, n_components=2)
    ours = PCA(2).fit_transform(X)
    if np.iscomplexobj(lit):  # eig may still hand back a complex dtype with zero imaginary part
        assert np.max(np.abs(lit.imag)) == 0
        lit = lit.real
    # Same projections up to the sign of each column: right when nothing is degenerate.
    np.testing.assert_allclose(np.abs(lit), np.abs(ours), atol=1e-10)


def test_literal_returns_complex_with_fewer_samples_than_features(rng):
    # n < p: the covariance has p - n + 1 zero eigenvalues; eig splits them into complex pairs.
    X = rng.normal(size=(5, 12))
    lit = pca_literal(X, n_components=2)
    assert np.iscomplexobj(lit)
    ours = PCA(2).fit_transform(X)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(np.abs(lit.real), np.abs(ours), atol=1e-10)


def test_literal_breaks_orthogonality_on_a_repeated_eigenvalue(rng):
    # Spectrum 5, 2, 2, 2, 1, 1: eig's vectors inside each repeated eigenspace are unit-norm but
    # not orthogonal, so the literal projections are correlated; eigh's are not.
    evals = np.array([5.0, 2.0, 2.0, 2.0, 1.0, 1.0])
    X = exact_covariance_data(rng, evals)
    raw, _ = np.linalg.eig(np.cov(X, rowvar=False))  # a plain tuple before NumPy 2.0
    assert np.any(np.diff(raw.real) > 0)  # eig's own order is not descending
    lit = pca_literal(X, n_components=4).real
    ours = PCA(4).fit_transform(X)
    np.testing.assert_allclose(np.cov(ours, rowvar=False), np.diag(evals[:4]), atol=1e-10)
    off = np.cov(lit, rowvar=False) - np.diag(np.diag(np.cov(lit, rowvar=False)))
    assert np.max(np.abs(off)) > 0.05


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "err"),
    [
        ({"n_components": 7}, ValueError),
        ({"n_components": 0}, ValueError),
        ({"n_components": -1}, ValueError),
        ({"n_components": 1.5}, ValueError),
        ({"n_components": 1.0}, ValueError),
        ({"n_components": "mle"}, TypeError),
        ({"n_components": True}, TypeError),
    ],
)
def test_bad_n_components(rng, kwargs, err):
    with pytest.raises(err, match="n_components"):
        PCA(**kwargs).fit(rng.normal(size=(10, 6)))


def test_too_many_components_for_few_samples(rng):
    with pytest.raises(ValueError, match=r"n_components.*min\(n_samples, n_features\)=4"):
        PCA(5).fit(rng.normal(size=(4, 9)))


def test_bad_solver_and_whiten(rng):
    X = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match="solver"):
        PCA(solver="arpack").fit(X)
    with pytest.raises(TypeError, match="whiten"):
        PCA(whiten="yes").fit(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_x(rng, bad):
    X = rng.normal(size=(10, 3))
    X[4, 1] = bad
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        PCA().fit(X)
    pca = PCA().fit(rng.normal(size=(10, 3)))
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        pca.transform(X)


def test_wrong_shapes_and_sizes(rng):
    with pytest.raises(ValueError, match="X must be 2-dimensional"):
        PCA().fit(rng.normal(size=10))
    with pytest.raises(ValueError, match="n_samples >= 2"):
        PCA().fit(rng.normal(size=(1, 4)))
    with pytest.raises(TypeError, match="X must hold numbers"):
        PCA().fit(np.array([["a", "b"], ["c", "d"]]))
    pca = PCA(2).fit(rng.normal(size=(10, 4)))
    with pytest.raises(ValueError, match="X has 3 features.*fitted with 4"):
        pca.transform(rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="Z has 3 columns"):
        pca.inverse_transform(rng.normal(size=(5, 3)))


def test_not_fitted():
    """NotFittedError, as the linear models raise (it is also a ValueError)."""
    X = np.ones((3, 2))
    with pytest.raises(NotFittedError, match=r"not fitted.*fit\(X\) before transform"):
        PCA().transform(X)
    with pytest.raises(ValueError, match=r"not fitted.*inverse_transform"):
        PCA().inverse_transform(X)


def test_all_constant_and_whitened_zero_variance(rng):
    with pytest.raises(ValueError, match="X has zero variance"):
        PCA().fit(np.full((6, 3), 2.5))
    X = correlated(rng, p=3)
    X = np.column_stack([X, np.zeros(len(X))])  # rank 3 of 4
    assert PCA(3, whiten=True).fit(X).n_components_ == 3
    with pytest.raises(ValueError, match=r"whiten=True.*n_components=4.*numerical rank 3"):
        PCA(4, whiten=True).fit(X)


def test_whitening_variances_spanning_1e16_is_exact_or_refused():
    """Issue 17, item 2: singular values logspace(0, -8, 5) (variances spanning 1e16). eigh of
    the covariance knows the smallest variance only to eps * lambda_1 ~ 1e-16 lambda_1, i.e.
    not at all, and the default solver whitened that component to standard deviation
    0.86-1.21. Now 'auto' falls back to the SVD, whose small singular values keep their
    relative accuracy (~eps * s_1 / s_5 = 2e-8): every whitened component has standard
    deviation 1 to 1e-6; solver='eigh', asked for by name, refuses."""
    rng = np.random.default_rng(0)
    U = np.linalg.qr(rng.normal(size=(200, 5)))[0]
    V = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    X = U @ np.diag(np.logspace(0, -8, 5)) @ V.T
    X -= X.mean(axis=0)  # the singular values above are then (nearly) those of the centred X
    Z = PCA(whiten=True).fit_transform(X)
    np.testing.assert_allclose(Z.std(axis=0, ddof=1), np.ones(5), rtol=1e-6)
    np.testing.assert_allclose(Z.T @ Z / 199, np.eye(5), atol=1e-6)  # and uncorrelated
    with pytest.raises(ValueError, match=r"whiten=True with solver='eigh'.*use solver='svd'"):
        PCA(whiten=True, solver="eigh").fit(X)
    two = PCA(n_components=2, whiten=True, solver="eigh").fit_transform(X)  # spans 1e4: fine
    np.testing.assert_allclose(two.std(axis=0, ddof=1), np.ones(2), rtol=1e-10)
