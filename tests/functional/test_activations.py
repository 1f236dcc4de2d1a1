"""Functional activations: gradchecks, stability at +-1000, loop twins, hand values."""

import math
import warnings

import numpy as np
import pytest

from minidl.functional import activations as F
from minidl.gradcheck import check_function

SHAPES = [(1, 1), (4, 5), (2, 3, 4), (2, 3, 2, 2), (3, 1)]


def _check(fwd, bwd_of_cache, x, rng):
    """Gradcheck ``fwd`` with backward ``bwd_of_cache(dy, x, y)``."""
    y = fwd(x)
    return check_function(fwd, lambda dy: bwd_of_cache(dy, x, y), [x], rng=rng)[0]


def _away_from_kink(x):
    # central differences straddling a kink at 0 are wrong by design; keep |x| >= 1e-3
    return np.where(np.abs(x) < 1e-3, 0.5, x)


@pytest.mark.parametrize("shape", SHAPES)
def test_gradcheck_elementwise(rng, shape):
    x = _away_from_kink(rng.normal(size=shape) * 3)
    assert _check(F.relu, lambda dy, x, y: F.relu_backward(dy, x), x, rng) < 1e-6
    assert (
        _check(
            lambda a: F.leaky_relu(a, 0.2),
            lambda dy, x, y: F.leaky_relu_backward(dy, x, 0.2),
            x,
            rng,
        )
        < 1e-6
    )
    assert _check(F.sigmoid, lambda dy, x, y: F.sigmoid_backward(dy, y), x, rng) < 1e-6
    assert _check(F.tanh, lambda dy, x, y: F.tanh_backward(dy, y), x, rng) < 1e-6


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gradcheck_softmax_and_log_softmax(rng, shape, axis):
    x = rng.normal(size=shape) * 3
    sm = lambda a: F.softmax(a, axis=axis)
    lsm = lambda a: F.log_softmax(a, axis=axis)
    assert _check(sm, lambda dy, x, y: F.softmax_backward(dy, y, axis), x, rng) < 1e-6
    assert _check(lsm, lambda dy, x, y: F.log_softmax_backward(dy, y, axis), x, rng) < 1e-6


def test_hand_values():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(F.relu(x), [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(F.leaky_relu(x, 0.1), [-0.2, 0.0, 3.0])
    np.testing.assert_allclose(F.sigmoid(x), [1 / (1 + math.e**2), 0.5, 1 / (1 + math.e**-3)])
    # softmax of [0, ln 2, ln 3] is [1, 2, 3] / 6
    s = F.softmax(np.log(np.array([[1.0, 2.0, 3.0]])), axis=1)
    np.testing.assert_allclose(s, [[1 / 6, 2 / 6, 3 / 6]], rtol=1e-15)
    np.testing.assert_allclose(F.log_softmax(np.log([[1.0, 2.0, 3.0]])), np.log(s), rtol=1e-14)


def test_relu_gradient_at_zero_is_zero():
    # PyTorch's convention (threshold_backward uses x > 0)
    np.testing.assert_array_equal(
        F.relu_backward(np.ones(3), np.array([-1.0, 0.0, 1.0])), [0, 0, 1]
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_at_plus_minus_1000(dtype):
    x = np.array([[-1000.0, 0.0, 1000.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow / invalid warning fails the test
        s = F.sigmoid(x)
        sm = F.softmax(x, axis=1)
        lsm = F.log_softmax(x, axis=1)
        t = F.tanh(x)
        sn = F.sigmoid_naive(x)
    assert s.dtype == sm.dtype == lsm.dtype == t.dtype == dtype
    np.testing.assert_array_equal(s, [[0.0, 0.5, 1.0]])  # exact limits
    np.testing.assert_array_equal(sn, [[0.0, 0.5, 1.0]])
    np.testing.assert_array_equal(t, [[-1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(sm, [[0.0, 0.0, 1.0]])
    # log-softmax is exact, not -inf: log s = x - max - log(1 + e^-1000 + e^-2000)
    np.testing.assert_array_equal(lsm, [[-2000.0, -1000.0, 0.0]])
    assert np.all(np.isfinite(F.log_softmax_backward(np.ones_like(lsm), lsm)))


@pytest.mark.parametrize("shape,axis", [((3, 4), 1), ((2, 3, 4), 1), ((2, 3, 4), -1), ((5,), 0)])
def test_naive_twins_match(rng, shape, axis):
    x = rng.normal(size=shape) * 5
    dy = rng.normal(size=shape)
    np.testing.assert_allclose(F.sigmoid_naive(x), F.sigmoid(x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(F.softmax_naive(x, axis), F.softmax(x, axis), rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        F.log_softmax_naive(x, axis), F.log_softmax(x, axis), rtol=1e-12, atol=1e-14
    )
    y = F.softmax(x, axis)
    np.testing.assert_allclose(
        F.softmax_backward_naive(dy, y, axis),
        F.softmax_backward(dy, y, axis),
        rtol=1e-12,
        atol=1e-14,
    )


def test_sigmoid_symmetry_and_derivative_identity(rng):
    # sigma(-x) = 1 - sigma(x): an identity the piecewise form must respect on both branches
    x = rng.normal(size=50) * 20
    np.testing.assert_allclose(F.sigmoid(-x), 1 - F.sigmoid(x), atol=1e-15)


def test_bad_inputs():
    with pytest.raises(TypeError, match="relu x must have dtype float32 or float64, got int64"):
        F.relu(np.array([1, 2]))
    with pytest.raises(TypeError, match="sigmoid x must have dtype.*float16"):
        F.sigmoid(np.ones(2, np.float16))
    with pytest.raises(ValueError, match="softmax: axis must be in"):
        F.softmax(np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match="log_softmax: axis"):
        F.log_softmax(np.ones((2, 3)), axis=-3)
    with pytest.raises(TypeError, match="negative_slope must be a real number"):
        F.leaky_relu(np.ones(2), negative_slope="0.1")
    with pytest.raises(ValueError, match="negative_slope must be finite"):
        F.leaky_relu(np.ones(2), negative_slope=float("nan"))
