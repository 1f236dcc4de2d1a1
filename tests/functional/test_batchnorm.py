"""Functional batch norm: hand values, standardization, dtypes, the literal version, bad input,
and a property test over random ranks and sizes. Gradchecks in every rank (train and eval), the
loop twins and PyTorch are in test_ops.py."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.functional.batchnorm import (
    batch_norm,
    batch_norm_backward,
    batch_norm_forward,
    batch_norm_literal,
)
from minidl.functional.batchnorm_naive import batch_norm_backward_naive, batch_norm_forward_naive
from minidl.gradcheck import check_function


def _params(rng, c):
    return rng.normal(size=c), rng.normal(size=c)


def test_hand_computed_case():
    # one channel, values 1 and 3: mean 2, biased var 1, unbiased var 2
    x = np.array([[1.0], [3.0]])
    rm, rv = np.zeros(1), np.ones(1)
    y = batch_norm(x, np.array([2.0]), np.array([0.5]), rm, rv, momentum=0.1, eps=0.0)
    np.testing.assert_allclose(y, [[2 * -1 + 0.5], [2 * 1 + 0.5]], rtol=1e-15)
    np.testing.assert_allclose(rm, [0.9 * 0 + 0.1 * 2], rtol=1e-15)
    np.testing.assert_allclose(rv, [0.9 * 1 + 0.1 * 2], rtol=1e-15)  # unbiased in the estimate
    # eval mode uses them: (x - 0.2) / sqrt(1.1 + 1e-5)
    ye = batch_norm(x, None, None, rm, rv, training=False)
    np.testing.assert_allclose(ye, (x - 0.2) / np.sqrt(1.1 + 1e-5), rtol=1e-14)


@pytest.mark.parametrize("shape", [(16, 3), (4, 3, 10), (2, 3, 5, 6), (2, 3, 2, 3, 4)])
def test_training_output_is_standardized(rng, shape):
    x = rng.normal(size=shape) * 5 + 3
    y = batch_norm(x, eps=0.0)
    axes = (0, *range(2, x.ndim))
    np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-13)
    np.testing.assert_allclose(y.var(axis=axes), 1, rtol=1e-12)


def test_constant_upstream_gradient_gives_zero_dx(rng):
    # why gradchecks must use a random dy: sum(y) is constant in x for batch norm (without
    # affine scale, sum(xhat) = 0), so dy = 1 makes the input gradient vanish identically
    x = rng.normal(size=(4, 3, 2, 2))
    _, cache = batch_norm_forward(x, rng.normal(size=3), rng.normal(size=3))
    dx, _, _ = batch_norm_backward(np.ones_like(x), cache)
    np.testing.assert_allclose(batch_norm_backward_naive(np.ones_like(x), cache).dx, 0, atol=1e-14)
    np.testing.assert_allclose(dx, 0, atol=1e-14)


def test_float32_stays_float32(rng):
    x = rng.normal(size=(4, 3, 5)).astype(np.float32)
    w, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y, cache = batch_norm_forward(x, w, b, rm, rv)
    assert y.dtype == np.float32 and rm.dtype == rv.dtype == np.float32
    assert all(g.dtype == np.float32 for g in batch_norm_backward(np.ones_like(y), cache))


def test_literal_lacks_eps(rng):
    x = rng.normal(size=(6, 3, 4))
    # where it is right it agrees with batch_norm at eps = 0, gamma = 1, beta = 0 ...
    np.testing.assert_allclose(batch_norm_literal(x), batch_norm(x, eps=0.0), rtol=1e-12)
    # ... but a constant channel (sigma = 0, e.g. a dead ReLU map) is 0/0
    x[:, 1] = 0.0
    with pytest.warns(RuntimeWarning):
        lit = batch_norm_literal(x)
    assert np.isnan(lit[:, 1]).all()
    fixed = batch_norm(x)  # eps = 1e-5 keeps it finite: the constant channel maps to 0
    assert np.isfinite(fixed).all()
    np.testing.assert_allclose(fixed[:, 1], 0, atol=1e-8)


@pytest.mark.parametrize("shape", [(1, 3), (1, 2, 1), (1, 2, 1, 1), (1, 4, 1, 1, 1)])
def test_single_value_per_channel_in_training(shape):
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        batch_norm(np.ones(shape))
    # evaluation with running statistics is fine
    c = shape[1]
    assert batch_norm(np.ones(shape), None, None, np.zeros(c), np.ones(c), training=False).shape


def test_bad_inputs(rng):
    x = rng.normal(size=(4, 3, 2, 2))
    with pytest.raises(ValueError, match="batch_norm x must be 2 or 3 or 4 or 5-dimensional"):
        batch_norm(np.ones(3))
    with pytest.raises(ValueError, match="batch_norm x must be"):
        batch_norm(np.ones((2, 2, 2, 2, 2, 2)))
    with pytest.raises(TypeError, match="batch_norm x must have dtype.*int64"):
        batch_norm(np.ones((4, 3), np.int64))
    with pytest.raises(TypeError, match="batch_norm x must have dtype.*float16"):
        batch_norm(np.ones((4, 3), np.float16))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\).*got \(2,\)"):
        batch_norm(x, np.ones(2), np.zeros(3))
    with pytest.raises(ValueError, match=r"running_var must have shape \(3,\)"):
        batch_norm(x, None, None, np.zeros(3), np.ones(4))
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        batch_norm(x, None, None, np.zeros(3), None)
    with pytest.raises(ValueError, match="training=False needs running_mean"):
        batch_norm(x, training=False)
    with pytest.raises(ValueError, match="momentum must be in"):
        batch_norm(x, momentum=1.5)
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        batch_norm(x, eps=-1.0)
    with pytest.raises(TypeError, match="weight has dtype float32 but x has float64"):
        batch_norm(x, np.ones(3, np.float32), None)
    _, cache = batch_norm_forward(x)
    with pytest.raises(ValueError, match="dy must have the forward output's shape"):
        batch_norm_backward(np.ones((4, 3)), cache)


@settings(max_examples=25, deadline=None)
@given(
    rank=st.integers(2, 5),
    sizes=st.lists(st.integers(1, 3), min_size=4, max_size=4),
    channels=st.integers(1, 4),
    training=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_random_shapes(rank, sizes, channels, training, seed):
    """Any rank and size: gradcheck < 1e-6 and loop twins equal, whenever n > 1 or eval."""
    rng = np.random.default_rng(seed)
    # N >= 3: with n = 2 values x_hat is +-1 up to eps, so dx is O(eps / var) ~ 1e-6 and the
    # central difference's round-off (~1e-10) alone is a relative error of ~1e-5
    shape = (sizes[0] + 2, channels, *sizes[1 : rank - 1])
    x = rng.normal(size=shape) * 2 + 1
    w, b = _params(rng, channels)
    rm, rv = rng.normal(size=channels), rng.uniform(0.5, 2, size=channels)
    kw = dict(training=training, momentum=0.2)
    cache = {}

    def fwd(x_, w_, b_):
        y, cache["c"] = batch_norm_forward(x_, w_, b_, rm.copy(), rv.copy(), **kw)
        return y

    def bwd(dy):
        fwd(x, w, b)
        return batch_norm_backward(dy, cache["c"])

    assert max(check_function(fwd, bwd, [x, w, b], rng=rng)) < 1e-6
    rm1, rv1, rm2, rv2 = rm.copy(), rv.copy(), rm.copy(), rv.copy()
    y_naive, cache_naive = batch_norm_forward_naive(x, w, b, rm2, rv2, **kw)
    y, cache = batch_norm_forward(x, w, b, rm1, rv1, **kw)
    np.testing.assert_allclose(y_naive, y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rv2, rv1, rtol=1e-12)
    dy = rng.normal(size=shape)
    for naive, fast in zip(batch_norm_backward_naive(dy, cache_naive),
                           batch_norm_backward(dy, cache), strict=True):  # fmt: skip
        np.testing.assert_allclose(naive, fast, rtol=1e-10, atol=1e-12)
