r"""Activation functions: forward and backward, numerically stable, dtype-preserving.

Each op keeps what its derivative is cheapest in: the input ``x`` for ReLU and LeakyReLU, the
output ``y`` for sigmoid, tanh, softmax and log-softmax. Their loop twins are in
:mod:`minidl.functional.activations_naive`.

Stability:

- sigmoid never evaluates :math:`e^{+|x|}`: with :math:`z = e^{-|x|} \in (0, 1]`,
  :math:`\sigma(x) = 1/(1+z)` for :math:`x \ge 0` and :math:`z/(1+z)` for :math:`x < 0`, so
  :math:`\sigma(\pm 1000)` is exactly 1 and 0 without an overflow warning.
- softmax and log-softmax subtract the maximum along ``axis`` first (log-sum-exp):
  :math:`\log \sum_k e^{x_k} = m + \log \sum_k e^{x_k - m}`, :math:`m = \max_k x_k`, so every
  exponent is :math:`\le 0`.
"""

import math
from dataclasses import dataclass

import numpy as np

from minidl._validation import check_float_array
from minidl.functional import _threads
from minidl.functional._ufunc_buffer import with_rows_in_place
from minidl.functional.contract import InputGrad, check_cache, check_grad


@dataclass(frozen=True)
class ActivationCache:
    """What an activation's backward reads: ``x`` (ReLU, LeakyReLU) or ``y`` (the others), and
    the op's own argument."""

    x: np.ndarray | None = None
    y: np.ndarray | None = None
    negative_slope: float = 0.01
    axis: int = 1


def check_axis(x, axis, fn):
    """``axis`` as a non-negative int for ``x``, or a TypeError/ValueError naming ``axis``.

    ``x`` must have at least one entry along it: a softmax over no classes has no value (its
    normalizer is a sum of nothing); an empty batch (size 0 on another axis) is fine.
    """
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fn}: axis must be an int, got {axis!r} ({type(axis).__name__})")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis must be in [{-x.ndim}, {x.ndim - 1}], got {axis}")
    axis = int(axis) % x.ndim
    if x.shape[axis] == 0:
        raise ValueError(
            f"{fn}: x must have at least 1 entry along axis={axis} (the classes), got shape "
            f"{x.shape}"
        )
    return axis


def check_slope(negative_slope):
    """``negative_slope`` as a float, or a TypeError/ValueError naming it."""
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)):
        raise TypeError(f"negative_slope must be a real number, got {negative_slope!r}")
    if not math.isfinite(negative_slope):
        raise ValueError(f"negative_slope must be finite, got {negative_slope}")
    return float(negative_slope)


def check_activation_grad(dy, cache, fn):
    """``(dy, saved)``: the cache checked, and ``dy`` checked against the array the forward
    saved (``x`` or ``y``: same shape), in its dtype (the contract's shared checks)."""
    cache = check_cache(cache, ActivationCache, fn)
    saved = cache.x if cache.x is not None else cache.y
    return check_grad(dy, saved.shape, saved.dtype, fn), saved


# ---------------------------------------------------------------- ReLU and LeakyReLU
def relu(x):
    r""":math:`\mathrm{relu}(x) = \max(x, 0)`."""
    return relu_forward(x)[0]


def relu_forward(x):
    r""":math:`y = \max(x, 0)`; the cache keeps ``x``."""
    x = check_float_array(x, "relu x")
    y = np.empty(x.shape, dtype=x.dtype)
    # element by element, so large arrays are cut among the threads (_threads.elementwise): a
    # memory-bound pass that one core alone leaves half done
    _threads.elementwise(lambda xs, ys: np.maximum(xs, 0, out=ys), x, y)
    return y, ActivationCache(x=x)


def relu_backward(dy, cache):
    r""":math:`dx = dy \cdot [x > 0]` (the subgradient at 0 is taken as 0, as PyTorch)."""
    dy = check_activation_grad(dy, cache, "relu_backward")[0]
    # [x > 0] written straight into a float array that then becomes dx in place: no boolean
    # temporary (it set the peak memory of a conv-ReLU-pool step), and a comparison plus a
    # multiply beats np.where's unpredictable branches (~10x) and np.heaviside (~15x)
    dx = np.empty(dy.shape, dtype=dy.dtype)
    _threads.elementwise(_relu_grad, cache.x, dy, dx)
    return InputGrad(dx)


@with_rows_in_place  # the comparison casts into dx in buffer-sized pieces: smaller, in L1
def _relu_grad(x, dy, dx):
    """``dx = [x > 0] dy``, on ``x``, ``dy`` and ``dx`` or on one piece of each."""
    np.greater(x, 0, out=dx)
    dx *= dy


def leaky_relu(x, negative_slope=0.01):
    r""":math:`\mathrm{leaky\_relu}(x) = x` for :math:`x > 0`, else :math:`a x` (a = slope)."""
    return leaky_relu_forward(x, negative_slope)[0]


def leaky_relu_forward(x, negative_slope=0.01):
    r""":math:`y = x \cdot ([x > 0] + a [x \le 0])`; the cache keeps ``x`` and ``a``."""
    x = check_float_array(x, "leaky_relu x")
    a = check_slope(negative_slope)
    return x * _slope(x, a), ActivationCache(x=x, negative_slope=a)


def leaky_relu_backward(dy, cache):
    r""":math:`dx = dy` where :math:`x > 0`, else :math:`a\, dy`."""
    dy = check_activation_grad(dy, cache, "leaky_relu_backward")[0]
    return InputGrad(dy * _slope(cache.x, cache.negative_slope))


def _slope(x, negative_slope):
    """The local slope [x > 0] + a [x <= 0]: exactly 1 or a (no np.where: see relu)."""
    positive = x > 0
    slope = positive.astype(x.dtype)
    slope += x.dtype.type(negative_slope) * ~positive
    return slope


# ---------------------------------------------------------------- sigmoid and tanh
def sigmoid(x):
    r""":math:`\sigma(x) = 1 / (1 + e^{-x})`, evaluated through :math:`z = e^{-|x|}`."""
    return sigmoid_forward(x)[0]


def sigmoid_forward(x):
    r""":math:`\sigma(x) = 1/(1+z)` for :math:`x \ge 0` and :math:`z/(1+z)` for :math:`x < 0`,
    :math:`z = e^{-|x|}` (multiply numerator and denominator by :math:`e^{x}`); :math:`z` never
    overflows. The cache keeps ``y``."""
    x = check_float_array(x, "sigmoid x")
    z = np.exp(-np.abs(x))
    # (1+z) >= 1: the division is safe; the numerator is 1 or z depending on the sign
    y = np.where(x >= 0, 1, z) / (1 + z)
    return y, ActivationCache(y=y)


def sigmoid_backward(dy, cache):
    r""":math:`\sigma'(x) = \sigma(x)(1 - \sigma(x))`, so :math:`dx = dy\, y (1 - y)`."""
    dy, y = check_activation_grad(dy, cache, "sigmoid_backward")
    return InputGrad(dy * y * (1 - y))


def tanh(x):
    r""":math:`\tanh(x) = (e^{x} - e^{-x}) / (e^{x} + e^{-x})`."""
    return tanh_forward(x)[0]


def tanh_forward(x):
    """``np.tanh`` (saturates to :math:`\\pm 1` without overflow); the cache keeps ``y``."""
    y = np.tanh(check_float_array(x, "tanh x"))
    return y, ActivationCache(y=y)


def tanh_backward(dy, cache):
    r""":math:`\tanh'(x) = 1 - \tanh^2(x)`, so :math:`dx = dy (1 - y^2)`."""
    dy, y = check_activation_grad(dy, cache, "tanh_backward")
    return InputGrad(dy * (1 - y * y))


# ---------------------------------------------------------------- softmax and log-softmax
def softmax(x, axis=1):
    r""":math:`s_k = e^{x_k - m} / \sum_j e^{x_j - m}` along ``axis``, :math:`m = \max_j x_j`.

    ``axis=1`` is the class axis in the channels-first layout (PyTorch's ``dim=1``).
    """
    return softmax_forward(x, axis)[0]


def softmax_forward(x, axis=1):
    """:func:`softmax` and its cache (``y`` and ``axis``)."""
    x = check_float_array(x, "softmax x")
    axis = check_axis(x, axis, "softmax")
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)  # the sum is >= 1 (the max term is e^0)
    return e, ActivationCache(y=e, axis=axis)


def softmax_backward(dy, cache):
    r"""Jacobian-vector product of softmax, :math:`J = \operatorname{diag}(s) - s s^\top`:

    .. math:: dx_k = \sum_j dy_j (s_j \delta_{jk} - s_j s_k) = s_k \big(dy_k - \sum_j dy_j s_j\big)
    """
    dy, y = check_activation_grad(dy, cache, "softmax_backward")
    return InputGrad(y * (dy - np.sum(dy * y, axis=cache.axis, keepdims=True)))


def log_softmax(x, axis=1):
    r""":math:`\log s_k = (x_k - m) - \log \sum_j e^{x_j - m}` (log-sum-exp)."""
    return log_softmax_forward(x, axis)[0]


def log_softmax_forward(x, axis=1):
    """:func:`log_softmax` and its cache (``y`` and ``axis``)."""
    x = check_float_array(x, "log_softmax x")
    axis = check_axis(x, axis, "log_softmax")
    shifted = x - x.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted, ActivationCache(y=shifted, axis=axis)


def log_softmax_backward(dy, cache):
    r"""With :math:`y = \log s`, :math:`\partial y_j / \partial x_k = \delta_{jk} - s_k`, so

    .. math:: dx_k = dy_k - s_k \sum_j dy_j, \qquad s = e^{y}.
    """
    dy, y = check_activation_grad(dy, cache, "log_softmax_backward")
    return InputGrad(dy - np.exp(y) * np.sum(dy, axis=cache.axis, keepdims=True))
