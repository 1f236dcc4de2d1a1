"""Truncated-SVD factorization of Dense layers; Eckart-Young error = the discarded values."""

import numpy as np
import pytest

from minidl.compression.lowrank import (
    factorize_dense,
    lowrank_model,
    rank_for_energy,
    truncated_svd,
)
from minidl.layers.activations import ReLU
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.nn.complexity import count_params
from minidl.nn.model import Sequential


@pytest.mark.parametrize("rank", [1, 3, 6])
def test_eckart_young_error_is_discarded_singular_values(rng, rank):
    layer = Dense(9, 6, dtype=np.float64, rng=rng)
    first, second = factorize_dense(layer, rank)
    w = layer.params["weight"]
    w_r = second.params["weight"] @ first.params["weight"]
    s = np.linalg.svd(w, compute_uv=False)
    assert np.linalg.norm(w - w_r) == pytest.approx(np.sqrt(np.sum(s[rank:] ** 2)), abs=1e-12)
    assert np.linalg.norm(w - w_r, 2) == pytest.approx(s[rank] if rank < 6 else 0, abs=1e-12)
    assert np.linalg.matrix_rank(w_r) == rank


def test_best_rank_r_beats_random_rank_r(rng):
    w = rng.normal(size=(8, 10))
    u, s, vt, _ = truncated_svd(w, 2)
    best = np.linalg.norm(w - u @ np.diag(s) @ vt)
    for _ in range(20):  # random rank-2 projections of w are never better
        q, _ = np.linalg.qr(rng.normal(size=(10, 2)))
        assert np.linalg.norm(w - w @ q @ q.T) >= best - 1e-12


def test_full_rank_factorization_is_exact_and_model_outputs(rng):
    model = Sequential(
        [Dense(5, 4, dtype=np.float64, rng=rng), ReLU(), Dense(4, 3, dtype=np.float64, rng=rng)]
    )
    x = rng.normal(size=(7, 5))
    full = lowrank_model(model, {0: 4})
    np.testing.assert_allclose(full.predict(x), model.predict(x), rtol=1e-12, atol=1e-12)
    assert len(full.layers) == 4 and not full.layers[0].use_bias


def test_parameter_count_drops(rng):
    model = Sequential([Dense(400, 64, rng=rng), ReLU(), Dense(64, 10, rng=rng)])
    small = lowrank_model(model, {0: 16})
    assert count_params(small) == 16 * 400 + 16 * 64 + 64 + 64 * 10 + 10 < count_params(model)


def test_rank_for_energy():
    w = np.diag([3.0, 2.0, 1.0])  # energies 9, 4, 1 of 14
    assert rank_for_energy(w, 9 / 14) == 1
    assert rank_for_energy(w, 0.9) == 2
    assert rank_for_energy(w, 1.0) == 3


def test_lowrank_bad_inputs(rng):
    layer = Dense(4, 3, rng=rng)
    with pytest.raises(ValueError, match="rank"):
        factorize_dense(layer, 4)
    with pytest.raises(ValueError, match="rank"):
        factorize_dense(layer, 0)
    with pytest.raises(TypeError, match="Dense"):
        factorize_dense(Conv2D(1, 2, 3, rng=rng), 1)
    model = Sequential([Conv2D(1, 2, 3, rng=rng)])
    with pytest.raises(TypeError, match="Dense only"):
        lowrank_model(model, {0: 1})
    with pytest.raises(ValueError, match="energy"):
        rank_for_energy(np.eye(2), 0)
