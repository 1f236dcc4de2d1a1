"""minidl's bundled diabetes and digits against scikit-learn's own loaders."""

import numpy as np
import pytest

from minidl import datasets as ds

sk_datasets = pytest.importorskip("sklearn.datasets")


@pytest.mark.parametrize("scaled", [True, False])
def test_diabetes_matches_sklearn(scaled):
    X, y = ds.load_diabetes(scaled=scaled)
    Xs, ys = sk_datasets.load_diabetes(return_X_y=True, scaled=scaled)
    assert X.dtype == Xs.dtype == np.float64
    np.testing.assert_allclose(X, Xs, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(y, ys)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_digits_match_sklearn(dtype):
    bunch = sk_datasets.load_digits()
    X, y = ds.load_digits(as_images=False, dtype=dtype)
    np.testing.assert_array_equal(X, bunch.data.astype(dtype))
    np.testing.assert_array_equal(y, bunch.target)
    Xi, _ = ds.load_digits(as_images=True, dtype=dtype)
    np.testing.assert_array_equal(Xi[:, 0], bunch.images)
