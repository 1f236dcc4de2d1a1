"""Weight sharing (Deep Compression §3): k-means by hand, against its loop twin and against
scikit-learn; the centroid gradient (eq. 3) against its loop and against finite differences of
the loss; centroid fine-tuning keeps the pruned weights at zero and the sharing intact."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.compression.pruning import apply_masks, model_masks
from minidl.compression.weight_sharing import (
    CentroidOptimizer,
    SharedWeight,
    centroid_gradient,
    centroid_gradient_naive,
    init_centroids,
    kmeans_1d,
    kmeans_1d_naive,
    share_model_weights,
    share_weights,
)
from minidl.gradcheck import numerical_gradient, rel_error
from minidl.layers.activations import ReLU
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.reshape import Flatten
from minidl.nn.losses import CrossEntropyLoss
from minidl.nn.model import Sequential
from minidl.optim import SGD


def test_linear_and_density_init_by_hand():
    # linear: evenly spaced from min to max; density: the CDF cut into k equal slices, and
    # np.arange(100)'s quantile q is 99 q (linear interpolation), so (i + 1/2)/4 -> 99 (2i+1)/8
    assert np.allclose(init_centroids(np.array([0.0, 1, 2, 6]), 3, "linear"), [0, 3, 6])
    dens = init_centroids(np.arange(100.0), 4, "density")
    assert np.allclose(dens, [99 * 1 / 8, 99 * 3 / 8, 99 * 5 / 8, 99 * 7 / 8])


def test_random_init_draws_distinct_weights_reproducibly(rng):
    v = rng.normal(size=50)
    a = init_centroids(v, 6, "random", rng=np.random.default_rng(3))
    b = init_centroids(v, 6, "random", rng=np.random.default_rng(3))
    assert np.array_equal(a, b) and len(np.unique(a)) == 6 and np.isin(a, v).all()
    assert np.all(np.diff(a) > 0)


def test_few_distinct_values_become_their_own_centroids():
    c = init_centroids(np.array([2.0, 2.0, -1.0]), 5)
    assert np.array_equal(c, [-1.0, 2.0])


def test_kmeans_hand_case():
    # init [0, 11] (linear, k=2): {0, 1} and {10, 11}, so the means are 0.5 and 10.5
    c, labels, _ = kmeans_1d(np.array([0.0, 1, 10, 11]), np.array([0.0, 11]))
    assert np.array_equal(c, [0.5, 10.5]) and np.array_equal(labels, [0, 0, 1, 1])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 60), k=st.integers(1, 9), dup=st.booleans())
def test_kmeans_vectorized_equals_loop(seed, n, k, dup):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=n)
    if dup:  # repeated values and exact ties between two centroids
        v = np.round(v * 2) / 2
    c0 = rng.normal(size=k)
    c_fast, l_fast, it_fast = kmeans_1d(v, c0)
    c_loop, l_loop, it_loop = kmeans_1d_naive(v, c0)
    assert np.array_equal(c_fast, c_loop)  # same sums in the same order: bit for bit
    assert np.array_equal(l_fast, l_loop) and it_fast == it_loop


def test_share_weights_keeps_pruned_at_index_zero(rng):
    w = rng.normal(size=(20, 30)).astype(np.float32)
    w[np.abs(w) < 0.8] = 0
    s = share_weights(w, 3)
    assert s.codebook[0] == 0 and len(s.codebook) == 2**3 and s.indices.dtype == np.uint8
    assert np.array_equal(s.indices == 0, w == 0)
    assert np.abs(s.weight - w).max() < np.abs(w).max() / 3  # 7 centroids over the range


def test_centroid_gradient_by_hand_and_loop(rng):
    g = np.array([[1.0, 2.0, -4.0], [0.5, 8.0, 3.0]])
    idx = np.array([[1, 2, 1], [0, 2, 3]], dtype=np.uint8)
    # centroid 1: 1 - 4; centroid 2: 2 + 8; centroid 3: 3; index 0 (the zero) gets nothing
    assert np.array_equal(centroid_gradient(g, idx, 4), [0.0, -3.0, 10.0, 3.0])
    g, idx = rng.normal(size=(40, 7)), rng.integers(0, 16, size=(40, 7)).astype(np.uint8)
    assert np.array_equal(centroid_gradient(g, idx, 16), centroid_gradient_naive(g, idx, 16))


def _tiny_net(rng):
    return Sequential(
        [Conv2D(1, 3, 3, rng=rng, dtype=np.float64), ReLU(), Flatten(),
         Dense(3 * 4 * 4, 8, rng=rng, dtype=np.float64), ReLU(),
         Dense(8, 4, rng=rng, dtype=np.float64)]
    )  # fmt: skip


def test_centroid_gradient_matches_finite_differences_of_the_loss(rng):
    model = _tiny_net(rng)
    apply_masks(model, model_masks(model, 0.5))
    shared = share_model_weights(model, 2)
    x, y = rng.normal(size=(5, 1, 6, 6)), rng.integers(0, 4, size=5)
    crit = CrossEntropyLoss()
    crit(model(x), y)
    model.backward(crit.backward())
    for key, s in shared.items():
        analytic = centroid_gradient(model.grads[key], s.indices, len(s.codebook))

        cb = s.codebook.copy()

        def loss_of_codebook(key=key, s=s, cb=cb):
            model.params[key][...] = cb[s.indices]
            return crit(model(x), y)

        numeric = numerical_gradient(loss_of_codebook, cb)
        model.params[key][...] = s.weight
        # float64 central differences: ~1e-9 agreement; the zero centroid is fixed, not trained
        assert rel_error(analytic[1:], numeric[1:]) < 1e-6, key


def test_centroid_sgd_step_is_minus_lr_times_eq3(rng):
    model = _tiny_net(rng)
    apply_masks(model, model_masks(model, 0.6))
    shared = share_model_weights(model, 3)
    before = {k: s.codebook.copy() for k, s in shared.items()}
    x, y = rng.normal(size=(6, 1, 6, 6)), rng.integers(0, 4, size=6)
    crit = CrossEntropyLoss()
    crit(model(x), y)
    model.backward(crit.backward())
    grads = {k: g.copy() for k, g in model.grads.items()}
    CentroidOptimizer(SGD(0.1), shared).step(model.params, model.grads)
    for key, s in shared.items():
        expect = before[key] - 0.1 * centroid_gradient_naive(grads[key], s.indices, 8)
        assert np.allclose(s.codebook, expect, rtol=0, atol=1e-15)
        assert np.array_equal(model.params[key], s.codebook[s.indices])


def test_fine_tuning_keeps_zeros_and_sharing(rng):
    model = _tiny_net(rng)
    masks = model_masks(model, 0.7)
    apply_masks(model, masks)
    shared = share_model_weights(model, 2)
    x, y = rng.normal(size=(32, 1, 6, 6)), rng.integers(0, 4, size=32)
    crit = CrossEntropyLoss()
    loss0 = crit(model(x), y)
    model.fit(x, y, 10, 8, CentroidOptimizer(SGD(0.05, momentum=0.9), shared), crit,
              rng=0, verbose=False)  # fmt: skip
    assert crit(model(x), y) < loss0
    for key, m in masks.items():
        w = model.params[key]
        assert np.all(w[m == 0] == 0)  # pruned weights stay exactly zero
        assert len(np.unique(w[w != 0])) <= 3  # 2 bits: three centroids and the zero


def test_bad_inputs_name_the_argument(rng):
    w = rng.normal(size=(4, 4))
    with pytest.raises(ValueError, match="bits"):
        share_weights(w, 9)
    with pytest.raises(TypeError, match="bits"):
        share_weights(w, 2.5)
    with pytest.raises(ValueError, match="method"):
        init_centroids(w.ravel(), 3, "kmeans++")
    with pytest.raises(ValueError, match="mask"):
        share_weights(w, 2, mask=np.ones((2, 2)))
    with pytest.raises(ValueError, match="empty"):
        init_centroids(np.zeros(0), 3)
    with pytest.raises(ValueError, match="indices"):
        centroid_gradient(w, np.zeros((3, 3), np.uint8), 4)
    with pytest.raises(TypeError, match="shared"):
        CentroidOptimizer(SGD(0.1), {"0.weight": w})
    model = _tiny_net(rng)
    with pytest.raises(ValueError, match="bits has keys"):
        share_model_weights(model, {"9.weight": 4})
    assert isinstance(share_model_weights(model, {"0.weight": 4})["0.weight"], SharedWeight)
