"""Functional dense: gradchecks, loop twin, a hand-computed case, bad inputs."""

import numpy as np
import pytest

from minidl.functional.dense import dense, dense_backward, dense_backward_naive, dense_naive
from minidl.gradcheck import check_function

SHAPES = [(1, 1, 1), (1, 5, 3), (4, 7, 2), (3, 2, 9), (8, 16, 5), (2, 3, 3)]


def test_hand_computed_case():
    # y = x W^T + b by hand: [1, 2] . [1, 0] + 0.5 = 1.5 ; [1, 2] . [-1, 3] - 1 = 4
    x = np.array([[1.0, 2.0]])
    w = np.array([[1.0, 0.0], [-1.0, 3.0]])
    b = np.array([0.5, -1.0])
    np.testing.assert_array_equal(dense(x, w, b), [[1.5, 4.0]])
    dx, dw, db = dense_backward(np.array([[1.0, 2.0]]), x, w)
    np.testing.assert_array_equal(dx, [[1 * 1 + 2 * -1, 1 * 0 + 2 * 3]])
    np.testing.assert_array_equal(dw, [[1.0, 2.0], [2.0, 4.0]])
    np.testing.assert_array_equal(db, [1.0, 2.0])


@pytest.mark.parametrize("n,fin,fout", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck(rng, n, fin, fout, bias):
    x = rng.normal(size=(n, fin))
    w = rng.normal(size=(fout, fin))
    b = rng.normal(size=fout) if bias else None
    inputs = [x, w] + ([b] if bias else [])

    def fwd(*a):
        return dense(a[0], a[1], a[2] if bias else None)

    def bwd(dy):
        dx, dw, db = dense_backward(dy, x, w, bias=bias)
        return (dx, dw, db) if bias else (dx, dw)

    assert max(check_function(fwd, bwd, inputs, rng=rng)) < 1e-6


@pytest.mark.parametrize("n,fin,fout", SHAPES)
def test_naive_matches_vectorized(rng, n, fin, fout):
    x, w, b = rng.normal(size=(n, fin)), rng.normal(size=(fout, fin)), rng.normal(size=fout)
    dy = rng.normal(size=(n, fout))
    np.testing.assert_allclose(dense_naive(x, w, b), dense(x, w, b), rtol=1e-12, atol=1e-12)
    for a, c in zip(dense_backward_naive(dy, x, w), dense_backward(dy, x, w), strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


def test_float32_stays_float32(rng):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    w = rng.normal(size=(2, 4)).astype(np.float32)
    b = np.zeros(2, np.float32)
    assert dense(x, w, b).dtype == np.float32
    assert all(g.dtype == np.float32 for g in dense_backward(np.ones((3, 2), np.float32), x, w))


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
    with pytest.raises(ValueError, match="dy must have shape"):
        dense_backward(np.ones((3, 3)), np.ones((3, 4)), w)


def test_backward_writes_into_out(rng):
    x, w, dy = rng.normal(size=(3, 4)), rng.normal(size=(2, 4)), rng.normal(size=(3, 2))
    gw, gb = np.full((2, 4), np.nan), np.full(2, np.nan)
    _, dw, db = dense_backward(dy, x, w, out=(gw, gb))
    assert dw is gw and db is gb
    np.testing.assert_allclose(gw, dense_backward_naive(dy, x, w)[1], rtol=1e-12)
    np.testing.assert_allclose(gb, dy.sum(axis=0), rtol=1e-12)
