"""minidl's 1-D k-means (Deep Compression's weight sharing) against scikit-learn's Lloyd."""

import numpy as np
import pytest

from minidl.compression.weight_sharing import init_centroids, kmeans_1d


def test_kmeans_matches_scikit_learn(rng):
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    v = np.concatenate([rng.normal(-0.1, 0.02, 300), rng.normal(0.12, 0.03, 200)])
    c0 = init_centroids(v, 8, "density")
    ours, labels, _ = kmeans_1d(v, c0, max_iter=300)
    assert np.bincount(labels).min() > 0  # no empty cluster (scikit-learn would relocate it)
    km = sklearn_cluster.KMeans(8, init=c0[:, None], n_init=1, max_iter=300, tol=0.0)
    km.fit(v[:, None])
    # both run Lloyd from the same centroids to a fixed point; only summation order differs
    assert np.allclose(np.sort(km.cluster_centers_.ravel()), ours, rtol=0, atol=1e-12)
    assert len(np.unique(labels)) == 8
