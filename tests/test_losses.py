"""Losses: hand-computed values, naive twin, float64 gradchecks, stability, bad inputs."""

import math

import numpy as np
import pytest

from minidl.gradcheck import numerical_gradient, rel_error
from minidl.nn.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    MSELoss,
    cross_entropy_naive,
    log_softmax,
)

# --- hand-computed values -------------------------------------------------------------------


def test_cross_entropy_hand_computed():
    z = np.array([[0.0, 0.0], [1.0, 2.0]])
    y = np.array([0, 0])
    # sample 0: -log(1/2); sample 1: -(1 - log(e + e^2))
    want = (math.log(2) + (-1.0 + math.log(math.e + math.e**2))) / 2
    assert CrossEntropyLoss()(z, y) == pytest.approx(want, rel=1e-15)


def test_cross_entropy_label_smoothing_hand_computed():
    # K = 2, eps = 0.2: q = (0.9, 0.1) for label 0; logits (0, 0) give log p = -log 2 each.
    assert CrossEntropyLoss(0.2)(np.zeros((1, 2)), np.array([0])) == pytest.approx(math.log(2))
    # logits (0, log 3): p = (1/4, 3/4); label 1 with eps 0.5 -> q = (1/4, 3/4)
    z = np.array([[0.0, math.log(3.0)]])
    want = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert CrossEntropyLoss(0.5)(z, np.array([1])) == pytest.approx(want, rel=1e-14)


def test_cross_entropy_gradient_hand_computed():
    crit = CrossEntropyLoss()
    crit(np.array([[0.0, 0.0], [0.0, math.log(3.0)]]), np.array([1, 0]))
    want = np.array([[0.5, -0.5], [-0.75, 0.75]]) / 2
    np.testing.assert_allclose(crit.backward(), want, rtol=1e-14)


def test_mse_hand_computed():
    crit = MSELoss()
    assert crit(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 0.0], [0.0, 4.0]])) == 13 / 4
    np.testing.assert_array_equal(crit.backward(), np.array([[0.0, 1.0], [1.5, 0.0]]))


def test_bce_hand_computed():
    z, y = np.array([0.0, math.log(3.0)]), np.array([1.0, 0.0])
    # sigma(0) = 1/2 -> -log(1/2); sigma(log 3) = 3/4 -> -log(1/4)
    crit = BCEWithLogitsLoss()
    assert crit(z, y) == pytest.approx((math.log(2) + math.log(4)) / 2, rel=1e-14)
    np.testing.assert_allclose(crit.backward(), np.array([-0.5, 0.75]) / 2, rtol=1e-14)


# --- naive twin and log_softmax --------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
def test_cross_entropy_matches_naive(rng, eps):
    z = rng.normal(size=(7, 5)) * 3
    y = rng.integers(0, 5, size=7)
    assert CrossEntropyLoss(eps)(z, y) == pytest.approx(cross_entropy_naive(z, y, eps), rel=1e-12)


def test_log_softmax_rows_sum_to_one(rng):
    p = np.exp(log_softmax(rng.normal(size=(4, 6)) * 10))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-14)


# --- float64 gradchecks ----------------------------------------------------------------------


def _gradcheck(crit, z, y):
    crit(z, y)
    analytic = crit.backward()
    numeric = numerical_gradient(lambda: crit(z, y), z)
    return rel_error(analytic, numeric)


@pytest.mark.parametrize("eps", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(1, 2), (5, 3), (8, 10)])
def test_cross_entropy_gradcheck(rng, shape, eps):
    z = rng.normal(size=shape) * 2
    y = rng.integers(0, shape[1], size=shape[0])
    assert _gradcheck(CrossEntropyLoss(eps), z, y) < 1e-7


@pytest.mark.parametrize("shape", [(3,), (4, 5), (2, 3, 4)])
def test_mse_gradcheck(rng, shape):
    assert _gradcheck(MSELoss(), rng.normal(size=shape), rng.normal(size=shape)) < 1e-7


@pytest.mark.parametrize("shape", [(3,), (4, 5), (2, 3, 4)])
def test_bce_gradcheck(rng, shape):
    z = rng.normal(size=shape) * 3
    y = rng.uniform(size=shape)
    assert _gradcheck(BCEWithLogitsLoss(), z, y) < 1e-7


# --- stability and dtypes -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_stable_at_extreme_logits(dtype):
    crit = CrossEntropyLoss()
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]], dtype=dtype)
    # label 1 for row 0 costs 2000 nats; label 1 for row 1 costs exp(-2000) ~ 0
    assert crit(z, np.array([1, 1])) == pytest.approx(1000.0)
    g = crit.backward()
    assert g.dtype == dtype
    np.testing.assert_allclose(g, np.array([[0.5, -0.5], [0.0, 0.0]]), atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_stable_at_extreme_logits(dtype):
    crit = BCEWithLogitsLoss()
    z = np.array([1000.0, -1000.0, 1000.0, -1000.0], dtype=dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0], dtype=dtype)
    assert crit(z, y) == pytest.approx(500.0)  # (1000 + 1000 + 0 + 0) / 4
    g = crit.backward()
    assert g.dtype == dtype
    np.testing.assert_allclose(g, np.array([1.0, -1.0, 0.0, 0.0]) / 4, atol=1e-7)


def test_float32_stays_float32(rng):
    z = rng.normal(size=(4, 3)).astype(np.float32)
    for crit, y in [
        (CrossEntropyLoss(0.1), np.array([0, 1, 2, 0])),
        (MSELoss(), np.zeros((4, 3))),  # a float64 target does not upcast the gradient
        (BCEWithLogitsLoss(), np.full((4, 3), 0.5)),
    ]:
        crit(z, y)
        assert crit.backward().dtype == np.float32


def test_backward_does_not_mutate_inputs(rng):
    z = rng.normal(size=(3, 4))
    z0 = z.copy()
    crit = CrossEntropyLoss()
    crit(z, np.array([0, 1, 2]))
    crit.backward()
    np.testing.assert_array_equal(z, z0)


# --- bad inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "z, y, exc, match",
    [
        (np.zeros((2, 3)), np.array([0, 3]), ValueError, "target labels must be in"),
        (np.zeros((2, 3)), np.array([-1, 0]), ValueError, "target labels must be in"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), ValueError, "target must have shape"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), TypeError, "target must hold integer"),
        (np.zeros((2, 3)), np.array([True, False]), TypeError, "target must hold integer"),
        (np.zeros((2, 3)), "ab", TypeError, "target must be an integer"),
        (np.zeros(3), np.array([0]), ValueError, "logits must be 2-dimensional"),
        (np.zeros((2, 3), dtype=np.int64), np.array([0, 1]), TypeError, "logits must have dtype"),
        (np.array([[0.0, np.nan]]), np.array([0]), ValueError, "logits contains NaN"),
        (np.zeros((0, 3)), np.zeros(0, dtype=int), ValueError, "logits must not be empty"),
    ],
)
def test_cross_entropy_bad_inputs(z, y, exc, match):
    with pytest.raises(exc, match=match):
        CrossEntropyLoss()(z, y)


@pytest.mark.parametrize("crit", [MSELoss(), BCEWithLogitsLoss()])
def test_elementwise_losses_bad_inputs(crit):
    with pytest.raises(ValueError, match="target must have the input's shape"):
        crit(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="target contains NaN"):
        crit(np.zeros(2), np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="contains NaN"):
        crit(np.array([np.inf, 0.0]), np.zeros(2))
    with pytest.raises(TypeError, match="target must have dtype"):
        crit(np.zeros(2), np.array([0, 1]))


def test_bce_target_outside_unit_interval():
    with pytest.raises(ValueError, match="target must lie in"):
        BCEWithLogitsLoss()(np.zeros(2), np.array([0.0, 1.5]))


def test_label_smoothing_out_of_range():
    with pytest.raises(ValueError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(TypeError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing="0.1")


@pytest.mark.parametrize("crit", [CrossEntropyLoss(), MSELoss(), BCEWithLogitsLoss()])
def test_backward_before_forward(crit):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        crit.backward()


# --- properties ------------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_shift_invariance_and_zero_sum_gradient(rng, eps):
    # softmax ignores a per-row constant; p and q both sum to 1, so each gradient row sums to 0
    z = rng.normal(size=(6, 4))
    y = rng.integers(0, 4, size=6)
    crit = CrossEntropyLoss(eps)
    a = crit(z, y)
    b = crit(z + rng.normal(size=(6, 1)) * 50, y)
    assert a == pytest.approx(b, rel=1e-12)
    np.testing.assert_allclose(crit.backward().sum(axis=1), 0.0, atol=1e-15)


def test_bce_equals_two_class_cross_entropy(rng):
    # sigmoid(z) is the softmax of the logits (0, z): the two losses are the same number
    z = rng.normal(size=7) * 3
    y = rng.integers(0, 2, size=7)
    ce = CrossEntropyLoss()(np.stack([np.zeros(7), z], axis=1), y)
    assert BCEWithLogitsLoss()(z, y.astype(np.float64)) == pytest.approx(ce, rel=1e-13)
