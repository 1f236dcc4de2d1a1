"""minidl.datasets.transforms: hand-computed resizes and pads, loop twin equality, bad inputs.

PyTorch's F.interpolate is compared in tests/crosscheck/test_transforms_torch.py.
"""

import numpy as np
import pytest

from minidl.datasets.transforms import (
    digits_to_28,
    interpolation_matrix,
    pad_to,
    resize,
    resize_naive,
)


def test_bilinear_2_to_4_by_hand():
    # pixel centres of 4 outputs over 2 inputs: u = -0.25, 0.25, 0.75, 1.25 -> clamp at the ends
    a, b = 2.0, 6.0
    x = np.array([[a, b]])
    y = resize(x, (1, 4), "bilinear")
    np.testing.assert_allclose(y[0], [a, 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b, b], rtol=1e-15)


def test_nearest_by_hand():
    x = np.array([[1.0, 2.0, 3.0]])
    # 3 -> 6: each input pixel twice; 3 -> 2: centres u = 0.25, 1.75 -> pixels 0 and 2
    np.testing.assert_array_equal(resize(x, (1, 6), "nearest")[0], [1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(resize(x, (1, 2), "nearest")[0], [1, 3])


def test_same_size_is_identity(rng):
    x = rng.normal(size=(3, 1, 7, 5))
    for mode in ("bilinear", "nearest"):
        np.testing.assert_allclose(resize(x, (7, 5), mode), x, rtol=0, atol=1e-15)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("shape,size", [((8, 8), 28), ((8, 8), 20), ((28, 28), (13, 9)),
                                        ((5, 7), (11, 3)), ((1, 4), (3, 4))])  # fmt: skip
def test_resize_equals_loop_twin(rng, mode, shape, size):
    x = rng.normal(size=(2, 3) + shape)
    np.testing.assert_allclose(resize(x, size, mode), resize_naive(x, size, mode), atol=1e-12)


def test_rows_of_interpolation_matrix_sum_to_one():
    for n_in, n_out in [(8, 28), (28, 8), (3, 3), (1, 5)]:
        a = interpolation_matrix(n_in, n_out)
        np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-15)
        assert (a >= 0).all()


def test_dtype_kept(rng):
    for dt in (np.float32, np.float64):
        x = rng.random((2, 1, 8, 8)).astype(dt)
        assert resize(x, 28).dtype == dt
        assert pad_to(x, 28).dtype == dt
        assert digits_to_28(x, "mnist").dtype == dt


def test_pad_to_by_hand():
    x = np.ones((1, 2, 3))
    y = pad_to(x, (5, 6), value=-1.0)
    # 3 extra rows: 1 above, 2 below; 3 extra columns: 1 left, 2 right
    expected = -np.ones((1, 5, 6))
    expected[0, 1:3, 1:4] = 1.0
    np.testing.assert_array_equal(y, expected)


def test_digits_to_28_shapes_and_content(rng):
    x = rng.random((4, 1, 8, 8)).astype(np.float32)
    r = digits_to_28(x, "resize")
    m = digits_to_28(x, "mnist")
    assert r.shape == m.shape == (4, 1, 28, 28)
    assert np.all(m[..., :4, :] == 0) and np.all(m[..., 24:, :] == 0)  # the 4-pixel border
    # bilinear weights are convex: no value leaves the input's range
    assert r.min() >= x.min() - 1e-6 and r.max() <= x.max() + 1e-6


def test_bad_inputs(rng):
    x = rng.random((2, 8, 8))
    with pytest.raises(ValueError, match="mode"):
        resize(x, 4, "bicubic")
    with pytest.raises(TypeError, match="size"):
        resize(x, (4, 4, 4))
    with pytest.raises(ValueError, match="size"):
        resize(x, 0)
    with pytest.raises(ValueError, match="x must be images"):
        resize(np.ones(3), 4)
    with pytest.raises(TypeError, match="x"):
        resize(np.ones((3, 3), dtype=np.int64), 4)
    with pytest.raises(ValueError, match="size must be at least"):
        pad_to(x, 4)
    with pytest.raises(ValueError, match="method"):
        digits_to_28(x, "crop")
    with pytest.raises(ValueError, match="n_out"):
        interpolation_matrix(3, 0)
