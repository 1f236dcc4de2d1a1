"""im2col / col2im beyond test_ops' walk: hand-computed columns, the overlap count, the adjoint
identity, and a convolution as one matrix product of im2col's columns (the conv itself is
checked against PyTorch in test_ops)."""

import numpy as np
import pytest

from minidl.functional import col2im, conv2d, im2col
from minidl.functional.im2col import col2im_forward_naive, im2col_forward_naive


def test_hand_computed_columns():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1 2 3] [4 5 6] [7 8 9]]
    # row = kernel offset (0,0) (0,1) (1,0) (1,1); column = window (0,0) (0,1) (1,0) (1,1)
    expected = np.array([[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]], float)
    for fn in (im2col, lambda *a, **k: im2col_forward_naive(*a, **k)[0]):
        np.testing.assert_array_equal(fn(x, 2)[0], expected)


def test_hand_computed_channel_major_rows_with_padding():
    x = np.array([[[1.0, 2.0]], [[3.0, 4.0]]]).reshape(1, 2, 2)  # 1-D: C = 2, length 2
    # kernel 2, padding 1: windows [0 1] [1 2] [2 0] of each channel, channel 0's rows first
    expected = np.array([[0, 1, 2], [1, 2, 0], [0, 3, 4], [3, 4, 0]], float)
    np.testing.assert_array_equal(im2col(x, 2, padding=1)[0], expected)


def test_col2im_sums_the_overlaps():
    ones = np.ones((1, 4, 4))  # kernel 2x2 over a 3x3 image: 4 offsets, 4 windows
    counts = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], float)  # windows covering each pixel
    for fn in (col2im, lambda *a, **k: col2im_forward_naive(*a, **k)[0]):
        np.testing.assert_array_equal(fn(ones, (3, 3), 2)[0, 0], counts)


def test_non_overlapping_col2im_inverts_im2col(rng):
    x = rng.normal(size=(2, 3, 4, 6))
    np.testing.assert_array_equal(col2im(im2col(x, 2, stride=2), (4, 6), 2, stride=2), x)


@pytest.mark.parametrize(
    ("shape", "kw"),
    [((2, 3, 7, 6), dict(kernel_size=(3, 2), dilation=(1, 2), padding=(1, 0), stride=(2, 1))),
     ((2, 2, 9), dict(kernel_size=3, padding="same")),
     ((1, 2, 4, 5, 3), dict(kernel_size=2, stride=(1, 2, 1), padding=1))],
)  # fmt: skip
def test_adjoint_identity(shape, kw, rng):
    """<im2col(x), z> = <x, col2im(z)>: col2im is the transpose of im2col's linear map."""
    x = rng.normal(size=shape)
    z = rng.normal(size=im2col(x, **kw).shape)
    lhs = np.sum(im2col(x, **kw) * z)
    rhs = np.sum(x * col2im(z, shape[2:], **kw))
    assert abs(lhs - rhs) <= 1e-12 * np.sum(np.abs(z))  # float64 rounding of two sums


def test_convolution_is_one_matrix_product_of_the_columns(rng):
    x, w = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 2))
    kw = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))
    cols = im2col(x, w.shape[2:], kw["dilation"], kw["padding"], kw["stride"])
    y = conv2d(x, w, None, **kw)
    np.testing.assert_allclose(
        (w.reshape(4, -1) @ cols).reshape(y.shape), y, rtol=0, atol=1e-12
    )  # the same products, summed in another order


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"col2im x \(the columns\) must be \(N, C \* 4, 4\)"):
        col2im(np.ones((1, 5, 4)), (3, 3), 2)
    with pytest.raises(ValueError, match=r"\(N, C \* 4, 4\)"):
        col2im(np.ones((1, 4, 5)), (3, 3), 2)
    with pytest.raises(TypeError, match="output_size must be a tuple"):
        col2im(np.ones((1, 4, 4)), 3, 2)
    with pytest.raises(ValueError, match="kernel_size"):
        im2col(np.ones((1, 1, 2, 2)), 3)
    with pytest.raises(ValueError, match="im2col x must be 3 or 4 or 5-dimensional"):
        im2col(np.ones((2, 2)), 1)
