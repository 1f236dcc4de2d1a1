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


def test_moving_digits_sense_needs_time():
    # A classifier on the time-averaged frame cannot exceed ~50% (it sees the streak's axis,
    # never its sense); the same classifier on frame differences sees the motion.
    linear_model = pytest.importorskip("sklearn.linear_model")
    X, y = ds.make_moving_digits(1200, rng=0)
    Xt, yt = ds.make_moving_digits(600, rng=1)

    def score(features):
        clf = linear_model.LogisticRegression(max_iter=500)
        return clf.fit(features(X), y).score(features(Xt), yt)

    def average(clips):
        return clips.mean(axis=2).reshape(len(clips), -1)

    def differences(clips):
        return np.diff(clips[:, 0], axis=1).reshape(len(clips), -1)

    assert score(average) < 0.6
    assert score(differences) > 0.95
