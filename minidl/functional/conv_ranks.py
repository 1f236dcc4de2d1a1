r"""``conv1d``, ``conv2d``, ``conv3d``: the N-d convolution of :mod:`minidl.functional.conv` at a
fixed rank, each with the five functions of the op contract (:mod:`minidl.functional.contract`).

Each checks that ``x`` and ``weight`` have the rank its name says, then runs the N-d tier of the
same name; the caches and gradients are those of :mod:`minidl.functional.conv`.
"""

from minidl._validation import check_float_array
from minidl.functional.conv import (
    conv_nd_backward,
    conv_nd_backward_naive,
    conv_nd_forward,
    conv_nd_forward_naive,
)


def _check_rank(nd, x, weight, name):
    check_float_array(x, f"{name} input x", ndim=nd + 2)
    check_float_array(weight, f"{name} weight", ndim=nd + 2)


# ------------------------------------------------------------------------------ conv1d
def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""1-D cross-correlation (3.4) of a signal of length L: ``torch.nn.functional.conv1d``.

    Shape: x (N, C_in, L), weight (C_out, C_in / groups, kL), bias (C_out,) or None
    -> y (N, C_out, L_out), each output size (3.8)
    ``floor((in + before + after - dilation (k - 1) - 1) / stride) + 1``.
    """
    return conv1d_forward(x, weight, bias, stride, padding, dilation, groups)[0]


def conv1d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """:func:`conv1d` and its cache: ``(y, ConvCache)`` (:func:`conv_nd_forward`)."""
    _check_rank(1, x, weight, "conv1d")
    return conv_nd_forward(x, weight, bias, stride, padding, dilation, groups)


def conv1d_backward(dy, cache, input_grad=True):
    """``ParamGrads(dx, dweight, dbias)`` of :func:`conv1d` (:func:`conv_nd_backward`)."""
    return conv_nd_backward(dy, cache, input_grad)


def conv1d_forward_naive(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Loop twin of :func:`conv1d_forward` (:func:`conv_nd_forward_naive`)."""
    _check_rank(1, x, weight, "conv1d")
    return conv_nd_forward_naive(x, weight, bias, stride, padding, dilation, groups)


def conv1d_backward_naive(dy, cache, input_grad=True):
    """Loop twin of :func:`conv1d_backward` (:func:`conv_nd_backward_naive`)."""
    return conv_nd_backward_naive(dy, cache, input_grad)


# ------------------------------------------------------------------------------ conv2d
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""2-D cross-correlation (3.4) of an image: ``torch.nn.functional.conv2d``.

    Shape: x (N, C_in, H, W), weight (C_out, C_in / groups, kH, kW), bias (C_out,) or None
    -> y (N, C_out, H_out, W_out), each output size (3.8)
    ``floor((in + before + after - dilation (k - 1) - 1) / stride) + 1``.
    """
    return conv2d_forward(x, weight, bias, stride, padding, dilation, groups)[0]


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """:func:`conv2d` and its cache: ``(y, ConvCache)`` (:func:`conv_nd_forward`)."""
    _check_rank(2, x, weight, "conv2d")
    return conv_nd_forward(x, weight, bias, stride, padding, dilation, groups)


def conv2d_backward(dy, cache, input_grad=True):
    """``ParamGrads(dx, dweight, dbias)`` of :func:`conv2d` (:func:`conv_nd_backward`)."""
    return conv_nd_backward(dy, cache, input_grad)


def conv2d_forward_naive(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Loop twin of :func:`conv2d_forward` (:func:`conv_nd_forward_naive`)."""
    _check_rank(2, x, weight, "conv2d")
    return conv_nd_forward_naive(x, weight, bias, stride, padding, dilation, groups)


def conv2d_backward_naive(dy, cache, input_grad=True):
    """Loop twin of :func:`conv2d_backward` (:func:`conv_nd_backward_naive`)."""
    return conv_nd_backward_naive(dy, cache, input_grad)


# ------------------------------------------------------------------------------ conv3d
def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""3-D cross-correlation (3.4) of a volume or clip (``torch.nn.functional.conv3d``).

    Shape: x (N, C_in, D, H, W), weight (C_out, C_in / groups, kD, kH, kW), bias (C_out,) or None
    -> y (N, C_out, D_out, H_out, W_out), each output size (3.8)
    ``floor((in + before + after - dilation (k - 1) - 1) / stride) + 1``.
    """
    return conv3d_forward(x, weight, bias, stride, padding, dilation, groups)[0]


def conv3d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """:func:`conv3d` and its cache: ``(y, ConvCache)`` (:func:`conv_nd_forward`)."""
    _check_rank(3, x, weight, "conv3d")
    return conv_nd_forward(x, weight, bias, stride, padding, dilation, groups)


def conv3d_backward(dy, cache, input_grad=True):
    """``ParamGrads(dx, dweight, dbias)`` of :func:`conv3d` (:func:`conv_nd_backward`)."""
    return conv_nd_backward(dy, cache, input_grad)


def conv3d_forward_naive(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Loop twin of :func:`conv3d_forward` (:func:`conv_nd_forward_naive`)."""
    _check_rank(3, x, weight, "conv3d")
    return conv_nd_forward_naive(x, weight, bias, stride, padding, dilation, groups)


def conv3d_backward_naive(dy, cache, input_grad=True):
    """Loop twin of :func:`conv3d_backward` (:func:`conv_nd_backward_naive`)."""
    return conv_nd_backward_naive(dy, cache, input_grad)
