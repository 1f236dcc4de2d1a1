r"""Loop twins of :mod:`minidl.functional.activations`: one element (or one softmax vector) at a
time with :mod:`math`, same arguments, same caches and gradients.

The softmax and log-softmax backward twins build the full Jacobian, :math:`J =
\operatorname{diag}(s) - s s^\top` and :math:`J = I - \mathbf 1 s^\top`, and multiply by it,
which the vectorized versions never form.
"""

import math

import numpy as np

from minidl._validation import check_float_array
from minidl.functional.activations import (
    ActivationCache,
    check_activation_grad,
    check_axis,
    check_slope,
)
from minidl.functional.contract import InputGrad


def _elementwise(fn, a):
    """``fn`` applied to every element of ``a`` as a Python float, into an array like ``a``."""
    out = np.empty_like(a)
    for i in np.ndindex(a.shape):
        out[i] = fn(float(a[i]))
    return out


def relu_forward_naive(x):
    """Loop twin of :func:`relu_forward`: ``max(v, 0)`` element by element."""
    x = check_float_array(x, "relu x")
    return _elementwise(lambda v: v if v > 0 else 0.0, x), ActivationCache(x=x)


def relu_backward_naive(dy, cache):
    """Loop twin of :func:`relu_backward`: ``dy`` where ``x > 0``, else 0."""
    dy = check_activation_grad(dy, cache, "relu_backward")[0]
    dx = np.empty_like(dy)
    for i in np.ndindex(dy.shape):
        dx[i] = dy[i] if cache.x[i] > 0 else 0.0
    return InputGrad(dx)


def leaky_relu_forward_naive(x, negative_slope=0.01):
    """Loop twin of :func:`leaky_relu_forward`."""
    x = check_float_array(x, "leaky_relu x")
    a = check_slope(negative_slope)
    return _elementwise(lambda v: v if v > 0 else a * v, x), ActivationCache(x=x, negative_slope=a)


def leaky_relu_backward_naive(dy, cache):
    """Loop twin of :func:`leaky_relu_backward`: ``dy`` where ``x > 0``, else ``a dy``."""
    dy = check_activation_grad(dy, cache, "leaky_relu_backward")[0]
    dx = np.empty_like(dy)
    for i in np.ndindex(dy.shape):
        dx[i] = dy[i] if cache.x[i] > 0 else cache.negative_slope * dy[i]
    return InputGrad(dx)


def _sigmoid(v):
    z = math.exp(-abs(v))  # the same piecewise form as the vectorized sigmoid
    return 1.0 / (1.0 + z) if v >= 0 else z / (1.0 + z)


def sigmoid_forward_naive(x):
    """Loop twin of :func:`sigmoid_forward` with ``math.exp``."""
    y = _elementwise(_sigmoid, check_float_array(x, "sigmoid x"))
    return y, ActivationCache(y=y)


def sigmoid_backward_naive(dy, cache):
    """Loop twin of :func:`sigmoid_backward`: ``dy y (1 - y)`` element by element."""
    dy, y = check_activation_grad(dy, cache, "sigmoid_backward")[0], cache.y
    dx = np.empty_like(dy)
    for i in np.ndindex(dy.shape):
        dx[i] = dy[i] * y[i] * (1.0 - y[i])
    return InputGrad(dx)


def tanh_forward_naive(x):
    """Loop twin of :func:`tanh_forward` with ``math.tanh``."""
    y = _elementwise(math.tanh, check_float_array(x, "tanh x"))
    return y, ActivationCache(y=y)


def tanh_backward_naive(dy, cache):
    """Loop twin of :func:`tanh_backward`: ``dy (1 - y^2)`` element by element."""
    dy, y = check_activation_grad(dy, cache, "tanh_backward")[0], cache.y
    dx = np.empty_like(dy)
    for i in np.ndindex(dy.shape):
        dx[i] = dy[i] * (1.0 - y[i] * y[i])
    return InputGrad(dx)


def _vectors(shape, axis):
    """Index tuples selecting each 1-D slice of an array of ``shape`` along ``axis``."""
    other = [s for d, s in enumerate(shape) if d != axis]
    for idx in np.ndindex(*other):
        full = list(idx)
        full.insert(axis, slice(None))
        yield tuple(full)


def _vectorwise(x, axis, name, fn):
    """``fn`` applied to each 1-D slice of ``x`` along ``axis``, as a list of Python floats."""
    x = check_float_array(x, f"{name} x")
    axis = check_axis(x, axis, name)
    y = np.empty_like(x)
    for sl in _vectors(x.shape, axis):
        y[sl] = fn([float(t) for t in x[sl]])
    return y, ActivationCache(y=y, axis=axis)


def _jacobian_product(dy, cache, name, jacobian):
    r""":math:`dx = J^\top dy` for each vector, ``J = jacobian(y)`` from its cached output."""
    dy = check_activation_grad(dy, cache, name)[0]
    dx = np.empty_like(dy)
    for sl in _vectors(dy.shape, cache.axis):
        dx[sl] = jacobian(cache.y[sl].astype(np.float64)).T @ dy[sl]
    return InputGrad(dx)


def _softmax(v):
    m = max(v)
    e = [math.exp(t - m) for t in v]
    total = sum(e)
    return [t / total for t in e]


def _log_softmax(v):
    m = max(v)
    lse = m + math.log(sum(math.exp(t - m) for t in v))  # log-sum-exp
    return [t - lse for t in v]


def softmax_forward_naive(x, axis=1):
    """Loop twin of :func:`softmax_forward`: one vector at a time, one ``math.exp`` per element."""
    return _vectorwise(x, axis, "softmax", _softmax)


def softmax_backward_naive(dy, cache):
    r"""Loop twin of :func:`softmax_backward` through the explicit Jacobian
    :math:`J = \operatorname{diag}(s) - s s^\top` (:math:`J_{jk} = \partial s_j / \partial x_k`)."""
    return _jacobian_product(dy, cache, "softmax_backward", lambda s: np.diag(s) - np.outer(s, s))


def log_softmax_forward_naive(x, axis=1):
    """Loop twin of :func:`log_softmax_forward` with an explicit log-sum-exp per vector."""
    return _vectorwise(x, axis, "log_softmax", _log_softmax)


def log_softmax_backward_naive(dy, cache):
    r"""Loop twin of :func:`log_softmax_backward` through the explicit Jacobian
    :math:`J = I - \mathbf 1 s^\top` (:math:`J_{jk} = \delta_{jk} - s_k`), :math:`s = e^y`."""
    return _jacobian_product(
        dy, cache, "log_softmax_backward", lambda y: np.eye(y.size) - np.exp(y)[None, :]
    )
