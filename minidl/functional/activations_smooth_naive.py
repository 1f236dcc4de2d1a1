r"""Loop twins of :mod:`minidl.functional.activations_smooth`: one element at a time with
:mod:`math`, the formulas written as in the docstrings there (same arguments, caches, grads)."""

import math

import numpy as np

from minidl._validation import check_float_array
from minidl.functional.activations_smooth import (
    GELU_TANH_CUBIC,
    GELU_TANH_SCALE,
    SmoothCache,
    check_approximate,
    check_real,
    check_smooth_grad,
)
from minidl.functional.contract import InputGrad


def _map(fn, a):
    out = np.empty_like(a)
    for i in np.ndindex(a.shape):
        out[i] = fn(float(a[i]))
    return out


def _times(dy, x, slope):
    dx = np.empty_like(dy)
    for i in np.ndindex(dy.shape):
        dx[i] = dy[i] * slope(float(x[i]))
    return InputGrad(dx)


def elu_forward_naive(x, alpha=1.0):
    """Loop twin of :func:`elu_forward`: ``v`` or ``alpha (e^v - 1)``."""
    x = check_float_array(x, "elu x")
    a = check_real(alpha, "alpha")
    return _map(lambda v: v if v > 0 else a * math.expm1(v), x), SmoothCache(x, alpha=a)


def elu_backward_naive(dy, cache):
    """Loop twin of :func:`elu_backward`: slope 1 or ``alpha e^v``."""
    dy = check_smooth_grad(dy, cache, "elu_backward")[0]
    return _times(dy, cache.x, lambda v: 1.0 if v > 0 else cache.alpha * math.exp(v))


def _gelu(v, approximate):
    if approximate == "tanh":
        return 0.5 * v * (1 + math.tanh(GELU_TANH_SCALE * (v + GELU_TANH_CUBIC * v**3)))
    return 0.5 * v * (1 + math.erf(v / math.sqrt(2)))


def _gelu_slope(v, approximate):
    if approximate == "tanh":
        t = math.tanh(GELU_TANH_SCALE * (v + GELU_TANH_CUBIC * v**3))
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_TANH_SCALE * (
            1 + 3 * GELU_TANH_CUBIC * v * v
        )
    phi = math.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)  # the normal density
    return 0.5 * (1 + math.erf(v / math.sqrt(2))) + v * phi


def gelu_forward_naive(x, approximate="none"):
    """Loop twin of :func:`gelu_forward`."""
    x = check_float_array(x, "gelu x")
    form = check_approximate(approximate)
    return _map(lambda v: _gelu(v, form), x), SmoothCache(x, approximate=form)


def gelu_backward_naive(dy, cache):
    """Loop twin of :func:`gelu_backward`."""
    dy = check_smooth_grad(dy, cache, "gelu_backward")[0]
    return _times(dy, cache.x, lambda v: _gelu_slope(v, cache.approximate))


def softplus_forward_naive(x, beta=1.0, threshold=20.0):
    """Loop twin of :func:`softplus_forward`: ``log(1 + e^(b v)) / b`` or ``v``."""
    x = check_float_array(x, "softplus x")
    b = check_real(beta, "beta", positive=True)
    t = check_real(threshold, "threshold")

    def value(v):
        z = b * v
        return v if z > t else (max(z, 0.0) + math.log1p(math.exp(-abs(z)))) / b

    return _map(value, x), SmoothCache(x, beta=b, threshold=t)


def softplus_backward_naive(dy, cache):
    """Loop twin of :func:`softplus_backward`: slope ``sigmoid(b v)`` or 1."""
    dy = check_smooth_grad(dy, cache, "softplus_backward")[0]
    b, t = cache.beta, cache.threshold
    return _times(dy, cache.x, lambda v: 1.0 if b * v > t else _sigmoid(b * v))


def _sigmoid(z):
    e = math.exp(-abs(z))  # never overflows
    return 1 / (1 + e) if z >= 0 else e / (1 + e)
