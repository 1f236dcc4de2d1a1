"""Inverted dropout (functional and layer): scaling, determinism, eval identity, backward."""

import numpy as np
import pytest

from minidl import seed
from minidl.functional.dropout import dropout, dropout_backward, dropout_forward
from minidl.gradcheck import check_layer
from minidl.layers.base import LAYERS
from minidl.layers.dropout import Dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_inverted_scaling_keeps_the_expectation(p):
    n = 200_000
    x = np.full(n, 2.0)
    y, cache = dropout_forward(x, p, rng=np.random.default_rng(1))
    # each y_i is 0 (prob p) or 2/(1-p): mean 2, std of the mean 2 sqrt(p/(1-p)/n)
    sigma = 2 * np.sqrt(p / (1 - p) / n)
    assert abs(y.mean() - 2.0) < 5 * sigma
    assert abs(np.mean(y == 0) - p) < 5 * np.sqrt(p * (1 - p) / n)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 2.0 / (1 - p), rtol=1e-15)
    np.testing.assert_array_equal(cache.mask != 0, kept)


def test_eval_and_p0_are_identity(rng):
    x = rng.normal(size=(4, 5))
    y, cache = dropout_forward(x, 0.5, training=False, rng=rng)
    assert cache.mask is None
    np.testing.assert_array_equal(y, x)
    y0 = dropout(x, 0.0, rng=rng)
    np.testing.assert_array_equal(y0, x)
    layer = Dropout(0.5, rng=0).eval()
    np.testing.assert_array_equal(layer(x), x)
    dy = rng.normal(size=x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy)


def test_same_seed_same_mask(rng):
    x = rng.normal(size=(8, 16)).astype(np.float32)
    a = dropout(x, 0.3, rng=np.random.default_rng(42))
    b = dropout(x, 0.3, rng=np.random.default_rng(42))
    c = dropout(x, 0.3, rng=np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)
    assert a.dtype == np.float32
    # a layer built with an int seed draws a reproducible *sequence* of different masks
    la, lb = Dropout(0.3, rng=7), Dropout(0.3, rng=7)
    ya1, ya2 = la(x), la(x)
    np.testing.assert_array_equal(ya1, lb(x))
    np.testing.assert_array_equal(ya2, lb(x))
    assert np.any(ya1 != ya2)
    # rng=None follows minidl.seed
    seed(3)
    s1 = Dropout(0.5)(x)
    seed(3)
    np.testing.assert_array_equal(Dropout(0.5)(x), s1)


def test_backward_uses_the_forward_mask(rng):
    x = rng.normal(size=(6, 7)) + 10  # nonzero, so y == 0 exactly where dropped
    layer = Dropout(0.4, rng=rng)
    y = layer(x)
    dy = rng.normal(size=x.shape)
    dx = layer.backward(dy)
    dropped = y == 0
    assert dropped.any() and (~dropped).any()
    np.testing.assert_array_equal(dx[dropped], 0.0)
    np.testing.assert_allclose(dx[~dropped], dy[~dropped] / 0.6, rtol=1e-15)
    _, cache = dropout_forward(x, 0.4, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(dropout_backward(dy, cache).dx, dy * cache.mask)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5), (1, 2, 3, 3)])
def test_layer_gradcheck_in_eval(rng, shape):
    # the layer in eval mode is deterministic, so check_layer applies to it directly (the
    # functional gradcheck with a fixed mask is in test_ops.py)
    assert check_layer(Dropout(0.3).eval(), rng.normal(size=shape), rng=rng)["x"] < 1e-6


def test_config_and_attributes():
    layer = Dropout(0.25, rng=1)
    assert layer.p == 0.25 and layer.get_config() == {"p": 0.25}
    assert LAYERS["Dropout"].from_config(layer.get_config()).p == 0.25
    assert layer.output_shape((4, 3, 2)) == (4, 3, 2)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, float("nan")])
def test_bad_p(p):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        dropout(np.ones(3), p)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        Dropout(p)


def test_bad_inputs():
    with pytest.raises(TypeError, match="p must be a number"):
        Dropout("0.5")
    with pytest.raises(TypeError, match="dropout x must have dtype.*int64"):
        dropout(np.ones(3, np.int64), 0.5)
    with pytest.raises(TypeError, match="Dropout input x must have dtype.*float16"):
        Dropout(0.5)(np.ones(3, np.float16))
    with pytest.raises(RuntimeError, match="Dropout.backward called before forward"):
        Dropout(0.5).backward(np.ones(3))
    with pytest.raises(ValueError, match="dy must have the forward output's shape"):
        dropout_backward(np.ones(3), dropout_forward(np.ones(4), 0.5)[1])
    with pytest.raises(TypeError, match="rng must be"):
        Dropout(0.5, rng="seed")
