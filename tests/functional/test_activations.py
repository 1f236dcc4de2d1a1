"""Functional activations: stability at +-1000, hand values, bad arguments. Gradchecks, the loop
twins and PyTorch are in test_ops.py, for every op."""

import math
import warnings

import numpy as np
import pytest

from minidl.functional import activations as F
from minidl.functional import activations_naive as N


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
    _, cache = F.relu_forward(np.array([-1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(F.relu_backward(np.ones(3), cache).dx, [0, 0, 1])
    np.testing.assert_array_equal(N.relu_backward_naive(np.ones(3), cache).dx, [0, 0, 1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_at_plus_minus_1000(dtype):
    x = np.array([[-1000.0, 0.0, 1000.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow / invalid warning fails the test
        s = F.sigmoid(x)
        sm = F.softmax(x, axis=1)
        lsm = F.log_softmax(x, axis=1)
        t = F.tanh(x)
        sn = N.sigmoid_forward_naive(x)[0]
    assert s.dtype == sm.dtype == lsm.dtype == t.dtype == dtype
    np.testing.assert_array_equal(s, [[0.0, 0.5, 1.0]])  # exact limits
    np.testing.assert_array_equal(sn, [[0.0, 0.5, 1.0]])
    np.testing.assert_array_equal(t, [[-1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(sm, [[0.0, 0.0, 1.0]])
    # log-softmax is exact, not -inf: log s = x - max - log(1 + e^-1000 + e^-2000)
    np.testing.assert_array_equal(lsm, [[-2000.0, -1000.0, 0.0]])
    cache = F.log_softmax_forward(x, axis=1)[1]
    assert np.all(np.isfinite(F.log_softmax_backward(np.ones_like(lsm), cache).dx))


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
    with pytest.raises(TypeError, match="softmax: axis must be an int"):
        F.softmax(np.ones((2, 3)), axis=1.0)
