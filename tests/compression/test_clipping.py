"""Clipping: article 003's text vs its code, clip by value, max-norm, article 004's formula."""

import numpy as np
import pytest

from minidl.compression.clipping import (
    apply_to_weights,
    clip_article003_code,
    clip_article003_text,
    clip_article004,
    clip_by_value,
    max_norm,
    max_norm_keras,
    max_norm_naive,
)
from minidl.layers.dense import Dense
from minidl.nn.model import Sequential

W = np.array([-0.5, -0.05, 0.0, 0.05, 0.2])


def test_article003_text_vs_code_hand_case():
    # text: h if |w| > h else 0 -- the sign of -0.5 is lost, the small weights are deleted
    np.testing.assert_array_equal(clip_article003_text(W, 0.1), [0.1, 0, 0, 0, 0.1])
    # code, first step: tf.where(|w| > h, h sign(w), w) -- saturate, keep sign and small weights
    np.testing.assert_array_equal(
        clip_article003_code(W, 0.1, apply_max_norm=False), [-0.1, -0.05, 0.0, 0.05, 0.1]
    )
    # the two agree on no entry but the exact zero
    differs = clip_article003_text(W, 0.1) != clip_article003_code(W, 0.1, apply_max_norm=False)
    assert differs.tolist() == [True, True, False, True, False]


def test_article003_code_with_max_norm_bounds_each_unit(rng):
    w = rng.normal(size=(6, 4, 3, 3))
    out = clip_article003_code(w, 0.5)
    norms = np.sqrt((out**2).sum(axis=(1, 2, 3)))
    assert np.all(norms <= 0.5 + 1e-12) and np.abs(out).max() <= 0.5


def test_clip_by_value_is_the_code_rule(rng):
    w = rng.normal(size=50)
    np.testing.assert_array_equal(
        clip_by_value(w, 0.3), np.where(np.abs(w) > 0.3, 0.3 * np.sign(w), w)
    )


def test_max_norm_hand_case_and_loop_twin(rng):
    w = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])  # norms 5, 0.5, 0
    np.testing.assert_allclose(max_norm(w, 1.0), [[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]])
    v = rng.normal(size=(5, 3, 2, 2))
    np.testing.assert_allclose(max_norm(v, 1.5), max_norm_naive(v, 1.5), rtol=1e-12)


def test_max_norm_equals_keras_formula(rng):
    # Keras MaxNorm: w * clip(norm, 0, c) / (eps + norm), eps = 1e-7 (written from its docs)
    w = rng.normal(size=(7, 10))
    norm = np.sqrt((w**2).sum(axis=1, keepdims=True))
    keras = w * np.clip(norm, 0, 2.0) / (1e-7 + norm)
    np.testing.assert_allclose(max_norm(w, 2.0), keras, rtol=1e-6)


def test_keras_default_max_norm_bounds_kernel_columns_not_filters():
    # one 2x2 filter; Keras's kernel is (rows, cols, in, out) and MaxNorm's default axis=0
    # reduces over the rows only: column 0 holds taps (3, 4) (norm 5), column 1 (1, 0) (norm 1)
    w = np.array([[[[3.0, 1.0], [4.0, 0.0]]]])  # minidl layout (C_out, C_in, rows, cols)
    out = max_norm_keras(w, 2.0)
    eps = 1e-7  # Keras's backend epsilon, in w * clip(n, 0, c) / (eps + n)
    np.testing.assert_allclose(out[0, 0, :, 0], [3.0 * 2 / (5 + eps), 4.0 * 2 / (5 + eps)])
    np.testing.assert_allclose(out[0, 0, :, 1], [1.0 / (1 + eps), 0.0])
    # the filter as a whole (norm sqrt(26)) is not bounded by 2: it keeps norm sqrt(4 + 1)
    filter_norm = np.sqrt((out**2).sum())
    assert filter_norm == pytest.approx(np.sqrt(5.0), rel=1e-6) and filter_norm > 2.0
    # the per-filter max-norm (what the article means) scales all four taps by 2 / sqrt(26)
    np.testing.assert_allclose(max_norm(w, 2.0), w * 2 / np.sqrt(26.0))


def test_keras_default_max_norm_is_the_unit_norm_on_dense(rng):
    # Dense: Keras's kernel (in, out), axis 0 = the inputs, i.e. one norm per unit as max_norm
    w = rng.normal(size=(7, 10))
    np.testing.assert_allclose(max_norm_keras(w, 2.0), max_norm(w, 2.0), rtol=1e-6)
    with pytest.raises(ValueError, match="w must"):
        max_norm_keras(np.ones(3), 1.0)


def test_article004_formula_hand_case_and_it_enlarges_small_weights():
    x = np.array([-2.0, -0.1, 0.0, 0.1, 2.0])
    np.testing.assert_allclose(clip_article004(x, 0.1), [-1.9, -0.19, 0.0, 0.19, 1.9])
    assert np.all(np.abs(clip_article004(x, 0.1))[[1, 3]] > np.abs(x)[[1, 3]])
    np.testing.assert_array_equal(clip_article004(x, 1.0), np.sign(x))


def test_apply_to_weights_only_touches_weights_unless_asked(rng):
    model = Sequential([Dense(3, 4, rng=rng)])
    b = model.params["0.bias"].copy()
    apply_to_weights(model, clip_by_value, 0.01)
    assert np.abs(model.params["0.weight"]).max() <= 0.01
    np.testing.assert_array_equal(model.params["0.bias"], b)
    apply_to_weights(model, clip_by_value, 0.01, include_bias=True)
    assert np.abs(model.params["0.bias"]).max() <= 0.01


def test_clipping_bad_inputs():
    with pytest.raises(ValueError, match="c must"):
        clip_by_value(W, 0)
    with pytest.raises(ValueError, match="h must"):
        clip_article003_text(W, -1)
    with pytest.raises(ValueError, match="alpha"):
        clip_article004(W, 1.5)
    with pytest.raises(ValueError, match="axis"):
        max_norm(np.ones((2, 2)), 1.0, axis=3)
    with pytest.raises(TypeError, match="w must"):
        clip_by_value(np.arange(3), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        clip_article004(np.array([np.nan]), 0.1)
