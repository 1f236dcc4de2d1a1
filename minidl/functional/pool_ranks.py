r"""``max_pool1d`` ... ``avg_pool3d``: the pooling of :mod:`minidl.functional.pool` at a fixed
rank, each with the five functions of the op contract (:mod:`minidl.functional.contract`).

Each checks that ``x`` has the rank its name says, then runs the N-d function of the same tier;
the caches and gradients are those of :mod:`minidl.functional.pool`. Output sizes are (3.8)
of :mod:`minidl.functional.windows` with dilation 1 and PyTorch's ``ceil_mode`` rule.
"""

from minidl._validation import check_float_array
from minidl.functional.pool import (
    avg_pool_backward,
    avg_pool_forward,
    max_pool,
    max_pool_backward,
    max_pool_forward,
)
from minidl.functional.pool_naive import (
    avg_pool_backward_naive,
    avg_pool_forward_naive,
    max_pool_backward_naive,
    max_pool_forward_naive,
)


def _check_rank(nd, x, name):
    x = check_float_array(x, "x")
    if x.ndim != nd + 2:
        raise ValueError(
            f"{name}: x must be {nd + 2}-dimensional (N, C, {nd} spatial dims), "
            f"got shape {x.shape} ({x.ndim}-D)"
        )
    return x


# ------------------------------------------------------------------------------ max_pool1d
def max_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    r"""Max pooling over L, as ``torch.nn.functional.max_pool1d``.

    Each window's largest value, padding as -inf; the gradient goes to the window's first
    maximum in raster order.

    Shape: x (N, C, L) -> y (N, C, L_out)
    """
    return max_pool(_check_rank(1, x, "max_pool1d"), kernel_size, stride, padding, ceil_mode)


def max_pool1d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """:func:`max_pool1d` and its cache: ``(y, PoolCache)`` (:func:`max_pool_forward`)."""
    x = _check_rank(1, x, "max_pool1d")
    return max_pool_forward(x, kernel_size, stride, padding, ceil_mode)


def max_pool1d_backward(dy, cache):
    """``InputGrad(dx)`` of :func:`max_pool1d` (:func:`max_pool_backward`)."""
    return max_pool_backward(dy, cache)


def max_pool1d_forward_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Loop twin of :func:`max_pool1d_forward` (:func:`max_pool_forward_naive`)."""
    x = _check_rank(1, x, "max_pool1d")
    return max_pool_forward_naive(x, kernel_size, stride, padding, ceil_mode)


def max_pool1d_backward_naive(dy, cache):
    """Loop twin of :func:`max_pool1d_backward` (:func:`max_pool_backward_naive`)."""
    return max_pool_backward_naive(dy, cache)


# ------------------------------------------------------------------------------ max_pool2d
def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    r"""Max pooling over (H, W), as ``torch.nn.functional.max_pool2d``.

    Each window's largest value, padding as -inf; the gradient goes to the window's first
    maximum in raster order.

    Shape: x (N, C, H, W) -> y (N, C, H_out, W_out)
    """
    return max_pool(_check_rank(2, x, "max_pool2d"), kernel_size, stride, padding, ceil_mode)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """:func:`max_pool2d` and its cache: ``(y, PoolCache)`` (:func:`max_pool_forward`)."""
    x = _check_rank(2, x, "max_pool2d")
    return max_pool_forward(x, kernel_size, stride, padding, ceil_mode)


def max_pool2d_backward(dy, cache):
    """``InputGrad(dx)`` of :func:`max_pool2d` (:func:`max_pool_backward`)."""
    return max_pool_backward(dy, cache)


def max_pool2d_forward_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Loop twin of :func:`max_pool2d_forward` (:func:`max_pool_forward_naive`)."""
    x = _check_rank(2, x, "max_pool2d")
    return max_pool_forward_naive(x, kernel_size, stride, padding, ceil_mode)


def max_pool2d_backward_naive(dy, cache):
    """Loop twin of :func:`max_pool2d_backward` (:func:`max_pool_backward_naive`)."""
    return max_pool_backward_naive(dy, cache)


# ------------------------------------------------------------------------------ max_pool3d
def max_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    r"""Max pooling over (D, H, W), as ``torch.nn.functional.max_pool3d``.

    Each window's largest value, padding as -inf; the gradient goes to the window's first
    maximum in raster order.

    Shape: x (N, C, D, H, W) -> y (N, C, D_out, H_out, W_out)
    """
    return max_pool(_check_rank(3, x, "max_pool3d"), kernel_size, stride, padding, ceil_mode)


def max_pool3d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """:func:`max_pool3d` and its cache: ``(y, PoolCache)`` (:func:`max_pool_forward`)."""
    x = _check_rank(3, x, "max_pool3d")
    return max_pool_forward(x, kernel_size, stride, padding, ceil_mode)


def max_pool3d_backward(dy, cache):
    """``InputGrad(dx)`` of :func:`max_pool3d` (:func:`max_pool_backward`)."""
    return max_pool_backward(dy, cache)


def max_pool3d_forward_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Loop twin of :func:`max_pool3d_forward` (:func:`max_pool_forward_naive`)."""
    x = _check_rank(3, x, "max_pool3d")
    return max_pool_forward_naive(x, kernel_size, stride, padding, ceil_mode)


def max_pool3d_backward_naive(dy, cache):
    """Loop twin of :func:`max_pool3d_backward` (:func:`max_pool_backward_naive`)."""
    return max_pool_backward_naive(dy, cache)


# ------------------------------------------------------------------------------ avg_pool1d
def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    r"""Average pooling over L, as ``torch.nn.functional.avg_pool1d``.

    Each window's mean, zero padding counted in the divisor (``count_include_pad=True``) but
    not a ceil-mode overhang past the right padding.

    Shape: x (N, C, L) -> y (N, C, L_out)
    """
    return avg_pool1d_forward(x, kernel_size, stride, padding, ceil_mode)[0]


def avg_pool1d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """:func:`avg_pool1d` and its cache: ``(y, PoolCache)`` (:func:`avg_pool_forward`)."""
    x = _check_rank(1, x, "avg_pool1d")
    return avg_pool_forward(x, kernel_size, stride, padding, ceil_mode)


def avg_pool1d_backward(dy, cache):
    """``InputGrad(dx)`` of :func:`avg_pool1d` (:func:`avg_pool_backward`)."""
    return avg_pool_backward(dy, cache)


def avg_pool1d_forward_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Loop twin of :func:`avg_pool1d_forward` (:func:`avg_pool_forward_naive`)."""
    x = _check_rank(1, x, "avg_pool1d")
    return avg_pool_forward_naive(x, kernel_size, stride, padding, ceil_mode)


def avg_pool1d_backward_naive(dy, cache):
    """Loop twin of :func:`avg_pool1d_backward` (:func:`avg_pool_backward_naive`)."""
    return avg_pool_backward_naive(dy, cache)


# ------------------------------------------------------------------------------ avg_pool2d
def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    r"""Average pooling over (H, W), as ``torch.nn.functional.avg_pool2d``.

    Each window's mean, zero padding counted in the divisor (``count_include_pad=True``) but
    not a ceil-mode overhang past the right padding.

    Shape: x (N, C, H, W) -> y (N, C, H_out, W_out)
    """
    return avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode)[0]


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """:func:`avg_pool2d` and its cache: ``(y, PoolCache)`` (:func:`avg_pool_forward`)."""
    x = _check_rank(2, x, "avg_pool2d")
    return avg_pool_forward(x, kernel_size, stride, padding, ceil_mode)


def avg_pool2d_backward(dy, cache):
    """``InputGrad(dx)`` of :func:`avg_pool2d` (:func:`avg_pool_backward`)."""
    return avg_pool_backward(dy, cache)


def avg_pool2d_forward_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Loop twin of :func:`avg_pool2d_forward` (:func:`avg_pool_forward_naive`)."""
    x = _check_rank(2, x, "avg_pool2d")
    return avg_pool_forward_naive(x, kernel_size, stride, padding, ceil_mode)


def avg_pool2d_backward_naive(dy, cache):
    """Loop twin of :func:`avg_pool2d_backward` (:func:`avg_pool_backward_naive`)."""
    return avg_pool_backward_naive(dy, cache)


# ------------------------------------------------------------------------------ avg_pool3d
def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    r"""Average pooling over (D, H, W), as ``torch.nn.functional.avg_pool3d``.

    Each window's mean, zero padding counted in the divisor (``count_include_pad=True``) but
    not a ceil-mode overhang past the right padding.

    Shape: x (N, C, D, H, W) -> y (N, C, D_out, H_out, W_out)
    """
    return avg_pool3d_forward(x, kernel_size, stride, padding, ceil_mode)[0]


def avg_pool3d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """:func:`avg_pool3d` and its cache: ``(y, PoolCache)`` (:func:`avg_pool_forward`)."""
    x = _check_rank(3, x, "avg_pool3d")
    return avg_pool_forward(x, kernel_size, stride, padding, ceil_mode)


def avg_pool3d_backward(dy, cache):
    """``InputGrad(dx)`` of :func:`avg_pool3d` (:func:`avg_pool_backward`)."""
    return avg_pool_backward(dy, cache)


def avg_pool3d_forward_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Loop twin of :func:`avg_pool3d_forward` (:func:`avg_pool_forward_naive`)."""
    x = _check_rank(3, x, "avg_pool3d")
    return avg_pool_forward_naive(x, kernel_size, stride, padding, ceil_mode)


def avg_pool3d_backward_naive(dy, cache):
    """Loop twin of :func:`avg_pool3d_backward` (:func:`avg_pool_backward_naive`)."""
    return avg_pool_backward_naive(dy, cache)
