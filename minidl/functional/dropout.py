r"""Inverted dropout: zero each activation with probability ``p`` and rescale the survivors.

At training time, with a mask :math:`m_i \sim \mathrm{Bernoulli}(1 - p)` drawn from an
explicit generator,

.. math:: y_i = \frac{m_i}{1 - p}\, x_i, \qquad
          \mathbb{E}[y_i] = \frac{(1 - p)\, x_i}{1 - p} = x_i,

so the expected activation is unchanged and evaluation is the identity, :math:`y = x`: no
rescaling is needed at test time ("inverted" dropout, as PyTorch and Keras; the original
paper scaled the weights by :math:`1 - p` at test time instead). The backward multiplies by
the same scaled mask, :math:`dx_i = dy_i\, m_i / (1 - p)`.
"""

from dataclasses import dataclass

import numpy as np

from minidl._rng import get_rng
from minidl._validation import check_float_array, check_fraction
from minidl.functional.contract import InputGrad, check_cache, check_grad


@dataclass(frozen=True)
class DropoutCache:
    """The scaled mask :math:`m / (1 - p)` the forward applied (None: nothing was dropped) and
    the input's shape."""

    mask: np.ndarray | None
    shape: tuple


def _uniforms(x, p, training, rng):
    """Check the arguments; the uniform draws ``u`` (one per element) when anything is dropped,
    else None. Keeping an element means ``u >= p``."""
    x = check_float_array(x, "dropout x")
    p = check_fraction(p, "p", high_open=True)
    if not training or p == 0.0:
        return x, p, None
    return x, p, get_rng(rng).random(x.shape, dtype=x.dtype.type)


def dropout(x, p=0.5, training=True, rng=None):
    r"""Inverted dropout; ``training=False`` returns ``x`` unchanged.

    Shape: x (any) -> y (the same)
    """
    return dropout_forward(x, p, training, rng)[0]


def dropout_forward(x, p=0.5, training=True, rng=None):
    r""":math:`y = x \cdot m / (1 - p)`, :math:`m_i \sim \mathrm{Bernoulli}(1 - p)`; returns
    ``(y, cache)`` with the scaled mask.

    Parameters
    ----------
    x : ndarray, float32 or float64
    p : float in [0, 1)
        Probability of zeroing an element (``p = 1`` would divide by zero and is rejected).
    training : bool
        ``False`` (evaluation) returns ``x`` unchanged: :math:`y = x`.
    rng : numpy.random.Generator, int seed or None
        Where the mask comes from; the same seed gives the same mask.
    """
    x, p, u = _uniforms(x, p, training, rng)
    if u is None:
        return x, DropoutCache(None, x.shape)
    mask = (u >= p).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return x * mask, DropoutCache(mask, x.shape)


def _check_dy(dy, cache):
    """The contract's checks of a backward's arguments (cache type, dy's dtype and shape)."""
    cache = check_cache(cache, DropoutCache, "dropout_backward")
    dtype = None if cache.mask is None else cache.mask.dtype  # no mask: keep dy's dtype
    return check_grad(dy, cache.shape, dtype, "dropout_backward")


def dropout_backward(dy, cache):
    r"""``InputGrad(dx)``: :math:`dx = dy \cdot m / (1 - p)` (the identity when nothing was
    dropped)."""
    dy = _check_dy(dy, cache)
    return InputGrad(dy if cache.mask is None else dy * cache.mask)


def dropout_forward_naive(x, p=0.5, training=True, rng=None):
    """Loop twin of :func:`dropout_forward`: each element kept (and scaled by 1/(1 - p)) when
    its uniform draw is at least ``p``; the same draws as the vectorized version."""
    x, p, u = _uniforms(x, p, training, rng)
    if u is None:
        return x, DropoutCache(None, x.shape)
    y, mask = np.empty_like(x), np.empty_like(x)
    for i in np.ndindex(x.shape):
        mask[i] = 1.0 / (1.0 - p) if u[i] >= p else 0.0
        y[i] = x[i] * mask[i]
    return y, DropoutCache(mask, x.shape)


def dropout_backward_naive(dy, cache):
    """Loop twin of :func:`dropout_backward`."""
    dy = _check_dy(dy, cache)
    if cache.mask is None:
        return InputGrad(dy)
    dx = np.empty_like(dy)
    for i in np.ndindex(dy.shape):
        dx[i] = dy[i] * cache.mask[i]
    return InputGrad(dx)


# ---------------------------------------------------------------- the mask given
def _scaled_mask(x, mask, p):
    """Check ``x``, the 0/1 ``mask`` of x's shape and ``p``; the scaled mask m / (1 - p)."""
    x = check_float_array(x, "dropout_masked x")
    p = check_fraction(p, "p", high_open=True)
    mask = np.asarray(mask)
    if mask.shape != x.shape:
        raise ValueError(f"dropout_masked mask must have x's shape {x.shape}, got {mask.shape}")
    if mask.dtype.kind not in "biuf" or not np.all((mask == 0) | (mask == 1)):
        raise ValueError("dropout_masked mask must hold only 0 (drop) and 1 (keep)")
    return x, mask.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))


def dropout_masked(x, mask, p=0.5):
    r"""Inverted dropout with the keep mask given: :math:`y = x \cdot m / (1 - p)`.

    ``mask`` holds 1 where an element is kept and 0 where it is dropped (a draw of
    :math:`\mathrm{Bernoulli}(1 - p)`, made by the caller), so a course's dropout can be
    checked deterministically. Shape: x (any), mask (x's shape) -> y (x's shape)
    """
    return dropout_masked_forward(x, mask, p)[0]


def dropout_masked_forward(x, mask, p=0.5):
    r""":math:`y = x \cdot m / (1 - p)`; returns ``(y, cache)`` with the scaled mask."""
    x, scaled = _scaled_mask(x, mask, p)
    return x * scaled, DropoutCache(scaled, x.shape)


def dropout_masked_backward(dy, cache):
    r"""``InputGrad(dx)``: :math:`dx = dy \cdot m / (1 - p)` (the mask gets no gradient)."""
    return dropout_backward(dy, cache)


def dropout_masked_forward_naive(x, mask, p=0.5):
    """Loop twin of :func:`dropout_masked_forward`: each element times 1/(1 - p) or 0."""
    x = check_float_array(x, "dropout_masked x")
    p = check_fraction(p, "p", high_open=True)
    _scaled_mask(x, mask, p)  # the same argument checks
    y, scaled = np.empty_like(x), np.empty_like(x)
    for i in np.ndindex(x.shape):
        scaled[i] = 1.0 / (1.0 - p) if mask[i] else 0.0
        y[i] = x[i] * scaled[i]
    return y, DropoutCache(scaled, x.shape)


def dropout_masked_backward_naive(dy, cache):
    """Loop twin of :func:`dropout_masked_backward`."""
    return dropout_backward_naive(dy, cache)
