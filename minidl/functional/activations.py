r"""Activation functions: forward and backward, numerically stable, dtype-preserving.

Each ``*_backward`` takes the upstream gradient ``dy`` and what the forward produced (the
input ``x`` for ReLU/LeakyReLU, the output ``y`` for sigmoid, tanh, softmax and log-softmax,
whose derivatives are cheapest in terms of the output) and returns ``dx``.

Stability:

- sigmoid never evaluates :math:`e^{+|x|}`: with :math:`z = e^{-|x|} \in (0, 1]`,
  :math:`\sigma(x) = 1/(1+z)` for :math:`x \ge 0` and :math:`z/(1+z)` for :math:`x < 0`, so
  :math:`\sigma(\pm 1000)` is exactly 1 and 0 without an overflow warning.
- softmax and log-softmax subtract the maximum along ``axis`` first (log-sum-exp):
  :math:`\log \sum_k e^{x_k} = m + \log \sum_k e^{x_k - m}`, :math:`m = \max_k x_k`, so every
  exponent is :math:`\le 0`.

The ``_naive`` twins evaluate the same formulas one element (or one softmax vector) at a time
with :mod:`math`; the softmax backward twin builds the full Jacobian
:math:`J = \operatorname{diag}(s) - s s^\top` and multiplies, which the vectorized version
never forms.
"""

import math

import numpy as np

from minidl._validation import check_float_array


def _axis(x, axis, fn):
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis must be in [{-x.ndim}, {x.ndim - 1}], got {axis}")
    return axis % x.ndim


# ---------------------------------------------------------------- ReLU and LeakyReLU
def relu(x):
    r""":math:`\mathrm{relu}(x) = \max(x, 0)`."""
    x = check_float_array(x, "relu x")
    return np.maximum(x, 0)


def relu_backward(dy, x):
    r""":math:`dx = dy \cdot [x > 0]` (the subgradient at 0 is taken as 0, as PyTorch)."""
    # [x > 0] written straight into a float array that then becomes dx in place: no boolean
    # temporary (it set the peak memory of a conv-ReLU-pool step), and a comparison plus a
    # multiply beats np.where's unpredictable branches (~10x) and np.heaviside (~15x)
    dx = np.empty(np.broadcast_shapes(dy.shape, x.shape), dtype=np.result_type(dy, x))
    np.greater(x, 0, out=dx)
    dx *= dy
    return dx


def leaky_relu(x, negative_slope=0.01):
    r""":math:`\mathrm{leaky\_relu}(x) = x` for :math:`x > 0`, else :math:`a x` (a = slope)."""
    x = check_float_array(x, "leaky_relu x")
    _check_slope(negative_slope)
    return x * _slope(x, negative_slope)


def leaky_relu_backward(dy, x, negative_slope=0.01):
    r""":math:`dx = dy` where :math:`x > 0`, else :math:`a\, dy`."""
    return dy * _slope(x, negative_slope).astype(dy.dtype, copy=False)


def _slope(x, negative_slope):
    """The local slope [x > 0] + a [x <= 0]: exactly 1 or a (no np.where: see relu)."""
    positive = x > 0
    slope = positive.astype(x.dtype)
    slope += x.dtype.type(negative_slope) * ~positive
    return slope


def _check_slope(negative_slope):
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)):
        raise TypeError(f"negative_slope must be a real number, got {negative_slope!r}")
    if not math.isfinite(negative_slope):
        raise ValueError(f"negative_slope must be finite, got {negative_slope}")


# ---------------------------------------------------------------- sigmoid and tanh
def sigmoid(x):
    r""":math:`\sigma(x) = 1 / (1 + e^{-x})`, evaluated through :math:`z = e^{-|x|}`.

    :math:`\sigma(x) = 1/(1+z)` for :math:`x \ge 0` and :math:`z/(1+z)` for :math:`x < 0`
    (multiply numerator and denominator by :math:`e^{x}`); :math:`z` never overflows.
    """
    x = check_float_array(x, "sigmoid x")
    z = np.exp(-np.abs(x))
    # (1+z) >= 1: the division is safe; the numerator is 1 or z depending on the sign
    return np.where(x >= 0, 1, z) / (1 + z)


def sigmoid_backward(dy, y):
    r""":math:`\sigma'(x) = \sigma(x)(1 - \sigma(x))`, so :math:`dx = dy\, y (1 - y)`."""
    return dy * y * (1 - y)


def sigmoid_naive(x):
    """Element-by-element twin of :func:`sigmoid` with ``math.exp``, same piecewise form."""
    x = check_float_array(x, "sigmoid_naive x")
    y = np.empty_like(x)
    for i in np.ndindex(x.shape):
        v = float(x[i])
        z = math.exp(-abs(v))
        y[i] = 1.0 / (1.0 + z) if v >= 0 else z / (1.0 + z)
    return y


def tanh(x):
    r""":math:`\tanh(x) = (e^{x} - e^{-x}) / (e^{x} + e^{-x})` (``np.tanh``: saturates to
    :math:`\pm 1` without overflow)."""
    x = check_float_array(x, "tanh x")
    return np.tanh(x)


def tanh_backward(dy, y):
    r""":math:`\tanh'(x) = 1 - \tanh^2(x)`, so :math:`dx = dy (1 - y^2)`."""
    return dy * (1 - y * y)


# ---------------------------------------------------------------- softmax and log-softmax
def softmax(x, axis=1):
    r""":math:`s_k = e^{x_k - m} / \sum_j e^{x_j - m}` along ``axis``, :math:`m = \max_j x_j`.

    ``axis=1`` is the class axis in the channels-first layout (PyTorch's ``dim=1``).
    """
    x = check_float_array(x, "softmax x")
    axis = _axis(x, axis, "softmax")
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)  # the sum is >= 1 (the max term is e^0)
    return e


def softmax_backward(dy, y, axis=1):
    r"""Jacobian-vector product of softmax, :math:`J = \operatorname{diag}(s) - s s^\top`:

    .. math:: dx_k = \sum_j dy_j (s_j \delta_{jk} - s_j s_k) = s_k \big(dy_k - \sum_j dy_j s_j\big)
    """
    axis = _axis(y, axis, "softmax_backward")
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def log_softmax(x, axis=1):
    r""":math:`\log s_k = (x_k - m) - \log \sum_j e^{x_j - m}` (log-sum-exp)."""
    x = check_float_array(x, "log_softmax x")
    axis = _axis(x, axis, "log_softmax")
    shifted = x - x.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


def log_softmax_backward(dy, y, axis=1):
    r"""With :math:`y = \log s`, :math:`\partial y_j / \partial x_k = \delta_{jk} - s_k`, so

    .. math:: dx_k = dy_k - s_k \sum_j dy_j, \qquad s = e^{y}.
    """
    axis = _axis(y, axis, "log_softmax_backward")
    return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)


def _vectors(x, axis):
    """Yield index tuples selecting each 1-D slice of ``x`` along ``axis``."""
    other = [s for d, s in enumerate(x.shape) if d != axis]
    for idx in np.ndindex(*other):
        full = list(idx)
        full.insert(axis, slice(None))
        yield tuple(full)


def softmax_naive(x, axis=1):
    """Loop twin of :func:`softmax`: one vector at a time, one ``math.exp`` per element."""
    x = check_float_array(x, "softmax_naive x")
    axis = _axis(x, axis, "softmax_naive")
    y = np.empty_like(x)
    for sl in _vectors(x, axis):
        v = [float(t) for t in x[sl]]
        m = max(v)
        e = [math.exp(t - m) for t in v]
        total = sum(e)
        y[sl] = [t / total for t in e]
    return y


def log_softmax_naive(x, axis=1):
    """Loop twin of :func:`log_softmax` with an explicit log-sum-exp per vector."""
    x = check_float_array(x, "log_softmax_naive x")
    axis = _axis(x, axis, "log_softmax_naive")
    y = np.empty_like(x)
    for sl in _vectors(x, axis):
        v = [float(t) for t in x[sl]]
        m = max(v)
        lse = m + math.log(sum(math.exp(t - m) for t in v))
        y[sl] = [t - lse for t in v]
    return y


def softmax_backward_naive(dy, y, axis=1):
    r"""Twin of :func:`softmax_backward` through the explicit Jacobian :math:`J^\top dy`."""
    axis = _axis(y, axis, "softmax_backward_naive")
    dx = np.empty_like(dy)
    for sl in _vectors(y, axis):
        s = y[sl].astype(np.float64)
        jac = np.diag(s) - np.outer(s, s)  # J[j, k] = d s_j / d x_k
        dx[sl] = jac.T @ dy[sl]
    return dx
