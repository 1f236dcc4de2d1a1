r"""Smooth activations as PyTorch defines them: ELU, GELU (exact and tanh form), softplus.

Each keeps its input ``x`` for the backward (the derivatives are functions of ``x``); the loop
twins are in :mod:`minidl.functional.activations_smooth_naive`.

.. math::

    \mathrm{elu}(x) = x \ (x > 0), \qquad \alpha (e^{x} - 1) \ (x \le 0)

    \mathrm{gelu}(x) = x\, \Phi(x) = \tfrac12 x \big(1 + \operatorname{erf}(x / \sqrt 2)\big)

    \mathrm{gelu}_{\tanh}(x) = \tfrac12 x \big(1 + \tanh(\sqrt{2/\pi}\,(x + 0.044715\, x^3))\big)

    \mathrm{softplus}(x) = \tfrac1\beta \log(1 + e^{\beta x}) \ (\beta x \le t), \qquad
    x \ (\beta x > t)

Stability: ELU evaluates :math:`e^{x} - 1` as ``expm1`` on :math:`\min(x, 0)` (no overflow for
large positive ``x``, no cancellation near 0); softplus writes
:math:`\log(1 + e^{z}) = \max(z, 0) + \log(1 + e^{-|z|})` so no exponent is positive.
NumPy has no vectorized erf: :func:`erf` applies the C library's ``math.erf`` element by
element (correctly rounded to ~1 ulp, about 60 ns per value).
"""

import math
import numbers
from dataclasses import dataclass

import numpy as np

from minidl._validation import check_float_array
from minidl.functional.activations import sigmoid
from minidl.functional.contract import InputGrad, check_cache, check_grad

GELU_TANH_SCALE = math.sqrt(2.0 / math.pi)  # PyTorch's kBeta
GELU_TANH_CUBIC = 0.044715  # PyTorch's kKappa
_ERF = np.frompyfunc(math.erf, 1, 1)


@dataclass(frozen=True)
class SmoothCache:
    """The input ``x`` and the op's own arguments."""

    x: np.ndarray
    alpha: float = 1.0
    approximate: str = "none"
    beta: float = 1.0
    threshold: float = 20.0


def check_smooth_grad(dy, cache, fn):
    """``(dy, x)``: the cache checked, ``dy`` of the saved ``x``'s shape in its dtype (the
    contract's shared checks)."""
    cache = check_cache(cache, SmoothCache, fn)
    return check_grad(dy, cache.x.shape, cache.x.dtype, fn), cache.x


def erf(x):
    """The error function element by element (``math.erf``), in ``x``'s dtype."""
    return _ERF(x).astype(x.dtype) if x.size else np.empty_like(x)


def check_real(value, name, positive=False):
    """``value`` as a finite float (positive if asked), or a TypeError/ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be a finite{' positive' if positive else ''} number, "
                         f"got {value}")  # fmt: skip
    return value


def check_approximate(approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate


# ---------------------------------------------------------------- ELU
def elu(x, alpha=1.0):
    r""":math:`\mathrm{elu}(x) = x` for :math:`x > 0`, else :math:`\alpha(e^x - 1)`."""
    return elu_forward(x, alpha)[0]


def elu_forward(x, alpha=1.0):
    r""":math:`y = x [x > 0] + \alpha\, \mathrm{expm1}(\min(x, 0)) [x \le 0]`; caches ``x``."""
    x = check_float_array(x, "elu x")
    alpha = check_real(alpha, "alpha")
    negative = x.dtype.type(alpha) * np.expm1(np.minimum(x, 0))
    return np.where(x > 0, x, negative), SmoothCache(x, alpha=alpha)


def elu_backward(dy, cache):
    r""":math:`dx = dy` where :math:`x > 0`, else :math:`dy\, \alpha e^{x}` (PyTorch's
    subgradient at 0: the left one, :math:`\alpha`)."""
    dy, x = check_smooth_grad(dy, cache, "elu_backward")
    slope = np.where(x > 0, 1, x.dtype.type(cache.alpha) * np.exp(np.minimum(x, 0)))
    return InputGrad(dy * slope.astype(x.dtype, copy=False))


# ---------------------------------------------------------------- GELU
def gelu(x, approximate="none"):
    r""":math:`x\,\Phi(x) = \tfrac12 x (1 + \operatorname{erf}(x/\sqrt2))`; with
    ``approximate='tanh'`` the tanh form :math:`\tfrac12 x (1 + \tanh(\sqrt{2/\pi}(x +
    0.044715 x^3)))` (``torch.nn.functional.gelu``)."""
    return gelu_forward(x, approximate)[0]


def gelu_forward(x, approximate="none"):
    """:func:`gelu` and its cache (``x`` and the form)."""
    x = check_float_array(x, "gelu x")
    approximate = check_approximate(approximate)
    if approximate == "tanh":
        inner = GELU_TANH_SCALE * (x + GELU_TANH_CUBIC * x * x * x)
        y = 0.5 * x * (1 + np.tanh(inner))
    else:
        y = 0.5 * x * (1 + erf(x * (1 / math.sqrt(2.0))))
    return y.astype(x.dtype, copy=False), SmoothCache(x, approximate=approximate)


def gelu_backward(dy, cache):
    r"""Exact: :math:`\frac{d}{dx} x\Phi(x) = \Phi(x) + x\,\varphi(x)`,
    :math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}`. Tanh form, with :math:`u = \sqrt{2/\pi}(x +
    0.044715 x^3)`: :math:`\tfrac12(1 + \tanh u) + \tfrac12 x (1 - \tanh^2 u)\,
    \sqrt{2/\pi}(1 + 3 \cdot 0.044715\, x^2)`."""
    dy, x = check_smooth_grad(dy, cache, "gelu_backward")
    if cache.approximate == "tanh":
        t = np.tanh(GELU_TANH_SCALE * (x + GELU_TANH_CUBIC * x * x * x))
        du = GELU_TANH_SCALE * (1 + 3 * GELU_TANH_CUBIC * x * x)
        slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
    else:
        cdf = 0.5 * (1 + erf(x * (1 / math.sqrt(2.0))))
        slope = cdf + x * np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
    return InputGrad((dy * slope).astype(x.dtype, copy=False))


# ---------------------------------------------------------------- softplus
def softplus(x, beta=1.0, threshold=20.0):
    r""":math:`\tfrac1\beta \log(1 + e^{\beta x})`, or ``x`` where :math:`\beta x >` ``threshold``
    (``torch.nn.functional.softplus``: there the two differ by less than :math:`e^{-t}/\beta`)."""
    return softplus_forward(x, beta, threshold)[0]


def softplus_forward(x, beta=1.0, threshold=20.0):
    r""":math:`z = \beta x`; :math:`y = (\max(z, 0) + \log(1 + e^{-|z|})) / \beta` where
    :math:`z \le t`, else :math:`y = x`. Caches ``x``."""
    x = check_float_array(x, "softplus x")
    beta = check_real(beta, "beta", positive=True)
    threshold = check_real(threshold, "threshold")
    z = x * x.dtype.type(beta)
    smooth = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / x.dtype.type(beta)
    y = np.where(z > threshold, x, smooth)
    return y, SmoothCache(x, beta=beta, threshold=threshold)


def softplus_backward(dy, cache):
    r""":math:`dx = dy\, \sigma(\beta x)` where :math:`\beta x \le t`, else :math:`dx = dy`."""
    dy, x = check_smooth_grad(dy, cache, "softplus_backward")
    z = x * x.dtype.type(cache.beta)
    return InputGrad(dy * np.where(z > cache.threshold, 1, sigmoid(z)).astype(x.dtype))
