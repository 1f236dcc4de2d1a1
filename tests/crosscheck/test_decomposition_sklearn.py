"""minidl.decomposition.PCA against sklearn.decomposition.PCA on random data and on diabetes.

scikit-learn fixes signs with ``svd_flip`` (a different rule from minidl's "largest |loading|
positive"), so components and projections are compared up to the sign of each component.
"""

import numpy as np
import pytest

sklearn_decomposition = pytest.importorskip("sklearn.decomposition")
sklearn_datasets = pytest.importorskip("sklearn.datasets")

from minidl.decomposition import PCA  # noqa: E402

SkPCA = sklearn_decomposition.PCA


def random_data(seed, n, p):
    rng = np.random.default_rng(seed)
    scales = np.geomspace(4.0, 0.2, p)
    return rng.normal(size=(n, p)) * scales @ np.linalg.qr(rng.normal(size=(p, p)))[0] + 3.0


def diabetes():
    return sklearn_datasets.load_diabetes().data


def compare(ours, ref, X, tol):
    """Max errors: components (up to sign), variances (relative), ratios, transforms."""
    assert ours.n_components_ == ref.n_components_
    sign = np.sign(np.sum(ours.components_ * ref.components_, axis=1))
    assert np.all(sign != 0)
    err = {
        "components": np.max(np.abs(ours.components_ - sign[:, None] * ref.components_)),
        "variance": np.max(
            np.abs(ours.explained_variance_ - ref.explained_variance_) / ref.explained_variance_[0]
        ),
        "ratio": np.max(np.abs(ours.explained_variance_ratio_ - ref.explained_variance_ratio_)),
        "singular": np.max(
            np.abs(ours.singular_values_ - ref.singular_values_) / ref.singular_values_[0]
        ),
        "mean": np.max(np.abs(ours.mean_ - ref.mean_)),
    }
    Zr = ref.transform(X)
    Z = ours.transform(X)
    err["transform"] = np.max(np.abs(Z - sign * Zr)) / np.max(np.abs(Zr))
    err["inverse"] = np.max(np.abs(ours.inverse_transform(Z) - ref.inverse_transform(Zr)))
    err["noise"] = abs(ours.noise_variance_ - ref.noise_variance_) / ref.explained_variance_[0]
    for name, value in err.items():
        assert value <= tol, f"{name}: {value:.3g} > {tol:g}"
    return err


CASES = [
    ("random 300x8", lambda: random_data(0, 300, 8)),
    ("random 60x20", lambda: random_data(1, 60, 20)),
    ("random 15x30 (n < p)", lambda: random_data(2, 15, 30)),
    ("diabetes 442x10", diabetes),
]


@pytest.mark.parametrize("solver", ["eigh", "svd"])
@pytest.mark.parametrize("n_components", [1, 3, None, 0.8])
@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize(("name", "make"), CASES, ids=[c[0] for c in CASES])
def test_pca_matches_sklearn_float64(name, make, solver, n_components, whiten):
    X = make()
    n, p = X.shape
    if n_components is None and n <= p:
        # The last direction is null after centring (rank n - 1): arbitrary in both libraries.
        n_components = n - 1
    ours = PCA(n_components, solver=solver, whiten=whiten).fit(X)
    ref = SkPCA(n_components, svd_solver="full", whiten=whiten).fit(X)
    compare(ours, ref, X, tol=1e-10)


@pytest.mark.parametrize(("name", "make"), CASES[:2] + CASES[3:], ids=["300x8", "60x20", "diab"])
def test_eigh_matches_sklearn_covariance_eigh(name, make):
    X = make()
    ours = PCA(4, solver="eigh").fit(X)
    ref = SkPCA(4, svd_solver="covariance_eigh").fit(X)
    compare(ours, ref, X, tol=1e-10)


@pytest.mark.parametrize("solver", ["eigh", "svd"])
def test_pca_matches_sklearn_float32(solver):
    X = random_data(3, 200, 6).astype(np.float32)
    ours = PCA(3, solver=solver).fit(X)
    ref = SkPCA(3, svd_solver="full").fit(X)
    assert ours.components_.dtype == np.float64  # minidl converts to float64; sklearn keeps float32
    # float32 eps ~ 6e-8; the eigh route squares the condition number of the data, so it loses
    # a few more digits than the SVD; the mean of 200 values adds ~200 eps of rounding.
    compare(ours, ref, X, tol=1e-4)
