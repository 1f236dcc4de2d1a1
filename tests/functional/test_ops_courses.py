"""The ops courses teach (issue 16): hand-computed values, identities and bad arguments.

``test_ops.py`` walks every op through the tiers, a gradcheck and PyTorch; this file adds
values worked out by hand or from tables, and the arguments each op refuses."""

import math

import numpy as np
import pytest

from minidl import functional as F
from minidl.functional.conv_ranks import conv2d


def test_dropout_masked_by_hand():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    y, cache = F.dropout_masked_forward(x, np.array([[1, 0], [0, 1]]), p=0.5)
    np.testing.assert_array_equal(y, [[2.0, 0.0], [0.0, 8.0]])  # kept ones times 1/(1 - p)
    np.testing.assert_array_equal(F.dropout_masked_backward(np.ones((2, 2)), cache).dx,
                                  [[2.0, 0.0], [0.0, 2.0]])  # fmt: skip
    with pytest.raises(ValueError, match="mask must hold only 0"):
        F.dropout_masked(x, np.full((2, 2), 2.0), 0.5)
    with pytest.raises(ValueError, match=r"mask must have x's shape \(2, 2\)"):
        F.dropout_masked(x, np.ones(4), 0.5)


def test_activations_from_tables():
    one = np.array([1.0, -1.0])
    # Phi(1) = 0.8413447460685429 (normal table): gelu(1) = Phi(1), gelu(-1) = -(1 - Phi(1))
    np.testing.assert_allclose(F.gelu(one), [0.8413447460685429, -0.15865525393145707],
                               rtol=1e-15)  # fmt: skip
    np.testing.assert_allclose(F.elu(one, alpha=2.0), [1.0, 2 * (math.exp(-1) - 1)], rtol=1e-15)
    # softplus: log 2 at 0; huge inputs neither overflow nor lose the identity branch
    big = np.array([0.0, 1000.0, -1000.0])
    np.testing.assert_allclose(F.softplus(big), [math.log(2), 1000.0, 0.0], rtol=1e-15, atol=0)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        F.gelu(one, approximate="fast")
    with pytest.raises(ValueError, match="beta must be a finite positive"):
        F.softplus(one, beta=0.0)


def test_gelu_tanh_form_is_close_to_the_exact_one():
    # Hendrycks & Gimpel: the tanh form is within ~1e-3 of x Phi(x) (max 4.7e-4 on [-6, 6])
    x = np.linspace(-6, 6, 2001)
    assert np.max(np.abs(F.gelu(x, "tanh") - F.gelu(x))) < 5e-4


def test_losses_by_hand():
    x, y = np.array([[1.0, 2.0, 0.0]]), np.array([0])
    # hinge terms: j = 1: max(0, 1 - 1 + 2) = 2; j = 2: max(0, 1 - 1 + 0) = 0; divided by C = 3
    assert F.multi_margin_loss(x, y) == pytest.approx(2 / 3, rel=1e-15)
    p = np.array([[0.25, 0.75]])
    assert F.cross_entropy_probs(p, np.array([1])) == pytest.approx(-math.log(0.75), rel=1e-15)
    # PyTorch clamps each log at -100: a certain wrong answer costs 100, not inf
    assert F.binary_cross_entropy(np.array([0.0, 0.5]), np.array([1.0, 1.0])) == pytest.approx(
        (100 + math.log(2)) / 2, rel=1e-15
    )
    # one-hot targets: the softmax cross entropy of class 0 for logits (0, log 3) is log 4
    onehot = F.cross_entropy_onehot(np.array([[0.0, math.log(3)]]), np.array([[1.0, 0.0]]))
    assert onehot == pytest.approx(math.log(4), rel=1e-15)
    big = F.binary_cross_entropy_with_logits(np.array([1000.0, -1000.0]), np.array([0.0, 1.0]))
    assert big == pytest.approx(1000.0, rel=1e-15)  # finite: no log(sigmoid) underflow


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: F.multi_margin_loss(np.ones((2, 3)), np.array([0, 3])), r"in \[0, 3\)"),
        (lambda: F.multi_margin_loss(np.ones((2, 3)), np.array([0.0, 1.0])), "integer class"),
        (lambda: F.binary_cross_entropy(np.array([1.5]), np.array([1.0])), r"x must hold prob"),
        (lambda: F.binary_cross_entropy_with_logits(np.ones(2), np.ones(3)), "target must have"),
        (lambda: F.cross_entropy_onehot(np.ones((2, 3)), np.full((2, 3), 2.0)), r"\[0, 1\]"),
    ],
)
def test_loss_arguments_refused(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_layer_norm_by_hand():
    x = np.array([[1.0, 2.0, 3.0]])  # mean 2, biased variance 2/3
    want = np.array([[-1.0, 0.0, 1.0]]) / math.sqrt(2 / 3 + 1e-5)
    np.testing.assert_allclose(F.layer_norm(x, 3), want, rtol=1e-15)
    w, b = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.0, -0.5])
    np.testing.assert_allclose(F.layer_norm(x, (3,), w, b), want * w + b, rtol=1e-15)


def test_group_norm_with_one_group_per_channel_is_instance_norm():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    mean = x.mean(axis=(2, 3), keepdims=True)
    var = x.var(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(F.group_norm(x, 3), (x - mean) / np.sqrt(var + 1e-5), atol=1e-13)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: F.layer_norm(np.ones((2, 3)), (4,)), "normalized_shape must be the last axes"),
        (lambda: F.layer_norm(np.ones((2, 3)), 3, np.ones(4)), r"weight must have shape \(3,\)"),
        (lambda: F.group_norm(np.ones((2, 6, 2)), 4), "num_groups=4 must divide the 6"),
        (lambda: F.group_norm(np.ones((2, 6)), 2, None, np.ones(2)), r"bias must have shape"),
    ],
)
def test_norm_arguments_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups", "output_padding"),
    [(1, 0, 1, 1, 0), (2, 1, 1, 1, 1), (2, 0, 2, 2, 1), (3, 2, 1, 1, 2), (1, 1, 2, 1, 1)],
)
def test_conv_transpose_is_the_adjoint_of_conv(stride, padding, dilation, groups, output_padding):
    """<conv2d(u, w), v> = <u, conv_transpose2d(v, w)>: the definition of the transpose, checked
    with minidl's convolution (an independent implementation: im2col, not col2im)."""
    rng = np.random.default_rng(stride + 10 * padding)
    w = rng.normal(size=(4, 6 // groups, 3, 2))  # conv: (C_out=4, C_in/groups, k); transposed:
    v = rng.normal(size=(2, 4, 3, 4))  # its input has C_out channels
    y = F.conv_transpose2d(v, w, None, stride, padding, output_padding, groups, dilation)
    u = rng.normal(size=y.shape)
    forward = conv2d(u, w, None, stride, padding, dilation, groups)
    # the transposed output is an input conv maps onto v; with output_padding >= stride (allowed
    # below the dilation) the conv reaches one row further, which v does not see
    assert forward.shape[2:] == tuple(n + (output_padding >= stride) for n in v.shape[2:])
    forward = forward[:, :, : v.shape[2], : v.shape[3]]
    assert np.sum(forward * v) == pytest.approx(np.sum(u * y), rel=1e-12)


def test_conv_transpose_output_size_and_arguments():
    x, w = np.ones((1, 1, 3, 3)), np.ones((1, 2, 3, 3))
    # (3 - 1) 2 - 2 + (3 - 1) + 1 + 1 = 6
    assert F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1).shape == (1, 2, 6, 6)
    with pytest.raises(ValueError, match="output_padding must be smaller than stride"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"\(C_in, C_out/groups, \*k\)"):
        F.conv_transpose2d(x, np.ones((2, 1, 3, 3)))


def test_dense_flatten_is_the_textbooks_affine():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(3, 2, 4)), rng.normal(size=(5, 8)), rng.normal(size=5)
    np.testing.assert_allclose(F.dense_flatten(x, w, b), x.reshape(3, 8) @ w.T + b, rtol=1e-14)
    _, cache = F.dense_flatten_forward(x, w, b)
    assert F.dense_flatten_backward(np.ones((3, 5)), cache).dx.shape == (3, 2, 4)
    with pytest.raises(ValueError, match=r"dense_flatten x must be \(N, d1, ..., dk\)"):
        F.dense_flatten(np.ones(3), w, b)
