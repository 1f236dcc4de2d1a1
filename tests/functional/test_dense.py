"""Functional dense: a hand-computed case, dtypes, bad inputs. Gradchecks, the loop twins and
PyTorch are in test_ops.py, for every op."""

import numpy as np
import pytest

from minidl.functional.dense import dense, dense_backward, dense_forward


def test_hand_computed_case():
    # y = x W^T + b by hand: [1, 2] . [1, 0] + 0.5 = 1.5 ; [1, 2] . [-1, 3] - 1 = 4
    x = np.array([[1.0, 2.0]])
    w = np.array([[1.0, 0.0], [-1.0, 3.0]])
    b = np.array([0.5, -1.0])
    np.testing.assert_array_equal(dense(x, w, b), [[1.5, 4.0]])
    dx, dw, db = dense_backward(np.array([[1.0, 2.0]]), dense_forward(x, w, b)[1])
    np.testing.assert_array_equal(dx, [[1 * 1 + 2 * -1, 1 * 0 + 2 * 3]])
    np.testing.assert_array_equal(dw, [[1.0, 2.0], [2.0, 4.0]])
    np.testing.assert_array_equal(db, [1.0, 2.0])


def test_float32_stays_float32(rng):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    w = rng.normal(size=(2, 4)).astype(np.float32)
    b = np.zeros(2, np.float32)
    y, cache = dense_forward(x, w, b)
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in dense_backward(np.ones((3, 2), np.float32), cache))


def test_bad_inputs(rng):
    w = rng.normal(size=(2, 4))
    with pytest.raises(ValueError, match="x must be 2-dimensional"):
        dense(rng.normal(size=(3, 4, 1)), w)
    with pytest.raises(ValueError, match="in_features=4.*got x of shape \\(3, 5\\)"):
        dense(rng.normal(size=(3, 5)), w)
    with pytest.raises(ValueError, match="bias must have shape \\(2,\\)"):
        dense(rng.normal(size=(3, 4)), w, np.zeros(3))
    with pytest.raises(TypeError, match="x must have dtype float32 or float64, got int64"):
        dense(np.ones((3, 4), dtype=np.int64), w)
    with pytest.raises(TypeError, match="x must have dtype float32 or float64, got float16"):
        dense(np.ones((3, 4), dtype=np.float16), w)
    with pytest.raises(TypeError, match="weight has float64"):
        dense(np.ones((3, 4), dtype=np.float32), w)
    with pytest.raises(ValueError, match="dy must have the forward output's shape"):
        dense_backward(np.ones((3, 3)), dense_forward(np.ones((3, 4)), w)[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_of_one_weight_gradient_is_the_outer_product(rng, dtype):
    """At batch 1, dW = dy^T x has one term per element: the product runs as np.multiply's
    outer product (OpenBLAS's inner dimension of one is slow), and each element is exactly
    that one product, as the index-sum loop computes it (from zero, one addition)."""
    from minidl.functional.dense import dense_backward_naive, dense_forward_naive

    x, w, b = (rng.normal(size=s).astype(dtype) for s in ((1, 300), (20, 300), (20,)))
    dy = rng.normal(size=(1, 20)).astype(dtype)
    got = dense_backward(dy, dense_forward(x, w, b)[1])
    want = dense_backward_naive(dy, dense_forward_naive(x, w, b)[1])
    assert got.dweight.dtype == dtype and got.dweight.shape == (20, 300)
    np.testing.assert_array_equal(got.dweight, want.dweight)
    np.testing.assert_array_equal(got.dbias, want.dbias)
    rtol = 1e-5 if dtype == np.float32 else 1e-13  # dx sums 20 terms in another order
    np.testing.assert_allclose(got.dx, want.dx, rtol=rtol, atol=rtol)
