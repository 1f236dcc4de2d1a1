import numpy as np
import pytest

from minidl.gradcheck import check_function, numerical_gradient, numerical_hessian_diag, rel_error


def test_numerical_gradient_of_known_function(rng):
    # f(x) = sum(x^3) has gradient 3 x^2, computed by hand.
    x = rng.normal(size=(3, 4))
    num = numerical_gradient(lambda: np.sum(x**3), x)
    # h = 1e-6: truncation ~h^2 and round-off ~eps/h give ~1e-10 absolute error; relative to
    # gradients that may be ~1e-3 that is the 1e-6 the package uses everywhere.
    assert rel_error(num, 3 * x**2) < 1e-6


def test_check_function_catches_wrong_backward(rng):
    x = rng.normal(size=(5,))
    good = check_function(lambda a: np.sin(a), lambda dy: dy * np.cos(x), [x], rng=rng)
    bad = check_function(lambda a: np.sin(a), lambda dy: dy * np.sin(x), [x], rng=rng)
    assert good[0] < 1e-8
    assert bad[0] > 1e-2


def test_rel_error_shapes_must_match():
    with pytest.raises(ValueError, match="equal shapes"):
        rel_error(np.zeros(3), np.zeros(4))


def test_numerical_gradient_requires_float64():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.float32))


def test_numerical_hessian_diag_by_hand(rng):
    """f = sum(a x^2) + x0 x1 is quadratic in each entry: the second differences give 2a
    exactly up to rounding (the cross term x0 x1 is off the diagonal); for sum(sin x) the
    diagonal is -sin x, to O(h^2) = 1e-7. A transposed (non-contiguous) x works the same."""
    a = rng.normal(size=(3, 2))
    x = rng.normal(size=(3, 2))
    got = numerical_hessian_diag(lambda: np.sum(a * x**2) + x[0, 0] * x[0, 1], x)
    np.testing.assert_allclose(got, 2 * a, rtol=0, atol=1e-8)
    xt = rng.normal(size=(2, 3)).T
    np.testing.assert_allclose(
        numerical_hessian_diag(lambda: np.sum(np.sin(xt)), xt), -np.sin(xt), atol=1e-7
    )
    with pytest.raises(TypeError, match="float64"):
        numerical_hessian_diag(lambda: 0.0, x.astype(np.float32))
