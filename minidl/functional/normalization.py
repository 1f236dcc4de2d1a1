r"""Layer normalization and group normalization, as ``torch.nn.functional.layer_norm`` /
``group_norm``: each sample normalized by its own statistics, no running buffers.

Both normalize *rows*: groups of :math:`M` values of one sample. Layer norm's row is a
sample's last ``len(normalized_shape)`` axes; group norm's row is one of the ``num_groups``
groups of :math:`C / G` consecutive channels of a sample, with all their positions. For a row
:math:`x_1..x_M` (biased variance, as batch norm's normalization):

.. math::

    \mu = \frac1M \sum_j x_j, \qquad \sigma^2 = \frac1M \sum_j (x_j - \mu)^2, \qquad
    \hat x_j = \frac{x_j - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad
    y_j = \gamma\, \hat x_j + \beta

with :math:`\gamma, \beta` of shape ``normalized_shape`` (layer norm: one per element of the
row) or ``(C,)`` (group norm: one per channel). The backward, with :math:`g_j = dy_j\,\gamma`:

.. math::

    dx_j = \frac{1}{\sqrt{\sigma^2 + \epsilon}} \Big(g_j - \frac1M \sum_k g_k
           - \hat x_j\, \frac1M \sum_k g_k \hat x_k\Big), \qquad
    d\gamma = \sum dy\, \hat x, \qquad d\beta = \sum dy

(sums over everything but :math:`\gamma`'s own axes). The loop twins, which multiply by the
explicit Jacobian :math:`\partial \hat x_k / \partial x_j`, are in
:mod:`minidl.functional.normalization_naive`.
"""

import math
from dataclasses import dataclass

import numpy as np

from minidl._validation import check_float_array, check_nonnegative, check_positive_int
from minidl.functional.contract import ParamGrads, check_cache, check_grad


@dataclass(frozen=True)
class NormCache:
    """What the backward needs: the normalized input, ``1/sqrt(var + eps)`` per row (R, 1),
    the weight (None: no affine scale), whether there was a bias, ``num_groups`` (None for
    layer norm) and the number of normalized trailing axes (layer norm; 0 for group norm)."""

    x_hat: np.ndarray
    inv_std: np.ndarray
    weight: np.ndarray | None
    has_bias: bool
    num_groups: int | None
    n_affine: int = 0


def affine_layout(shape, num_groups, n_affine):
    """``(rows, param_shape, sum_axes)``: the (R, M) view of an input of ``shape``, the shape
    ``gamma`` broadcasts to, and the axes its gradient sums over."""
    if num_groups is None:  # layer norm: the last n_affine axes
        lead = len(shape) - n_affine
        m = math.prod(shape[lead:])
        return (math.prod(shape[:lead]), m), shape[lead:], tuple(range(lead))
    m = math.prod(shape[1:]) // num_groups
    per_channel = (shape[1],) + (1,) * (len(shape) - 2)
    return (shape[0] * num_groups, m), per_channel, (0, *range(2, len(shape)))


def _check_affine(weight, bias, want, dtype, fn):
    out = []
    for name, a in (("weight", weight), ("bias", bias)):
        if a is not None:
            a = check_float_array(a, f"{fn} {name}")
            if a.shape != want or a.dtype != dtype:
                raise ValueError(f"{fn} {name} must have shape {want} and dtype {dtype}, "
                                 f"got {a.shape} {a.dtype}")  # fmt: skip
        out.append(a)
    return out


def check_layer_norm(x, normalized_shape, weight, bias, eps):
    """Validated ``(x, weight, bias, eps, n)``: ``n`` the number of normalized axes."""
    x = check_float_array(x, "layer_norm x")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    try:
        shape = tuple(check_positive_int(s, "normalized_shape") for s in shape)
    except TypeError:
        raise TypeError(
            f"normalized_shape must be an int or a tuple of ints, got {normalized_shape!r}"
        ) from None
    if not shape or x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ValueError(
            f"normalized_shape must be the last axes of x's shape {x.shape}, got {shape}"
        )
    weight, bias = _check_affine(weight, bias, shape, x.dtype, "layer_norm")
    return x, weight, bias, check_nonnegative(eps, "eps"), len(shape)


def check_group_norm(x, num_groups, weight, bias, eps):
    """Validated ``(x, weight, bias, eps, num_groups)``."""
    x = check_float_array(x, "group_norm x")
    if x.ndim < 2:
        raise ValueError(f"group_norm x must be (N, C, ...), got shape {x.shape}")
    num_groups = check_positive_int(num_groups, "num_groups")
    if x.shape[1] % num_groups:
        raise ValueError(f"num_groups={num_groups} must divide the {x.shape[1]} channels of x")
    weight, bias = _check_affine(weight, bias, (x.shape[1],), x.dtype, "group_norm")
    return x, weight, bias, check_nonnegative(eps, "eps"), num_groups


def check_dy(dy, cache, fn):
    """``dy`` of the output's shape in its dtype, the cache a NormCache (the contract's
    shared checks)."""
    cache = check_cache(cache, NormCache, fn)
    return check_grad(dy, cache.x_hat.shape, cache.x_hat.dtype, fn)


# ---------------------------------------------------------------- the shared core
def _forward(x, weight, bias, eps, num_groups, n_affine):
    rows, param_shape, _ = affine_layout(x.shape, num_groups, n_affine)
    x2 = x.reshape(rows)
    centered = x2 - x2.mean(axis=1, keepdims=True)
    var = np.mean(centered * centered, axis=1, keepdims=True)  # biased: divide by M
    inv_std = 1 / np.sqrt(var + x.dtype.type(eps))
    x_hat = (centered * inv_std).reshape(x.shape)
    y = x_hat if weight is None else x_hat * weight.reshape(param_shape)
    y = y if bias is None else y + bias.reshape(param_shape)
    return y, NormCache(x_hat, inv_std, weight, bias is not None, num_groups, n_affine)


def _backward(dy, cache, fn):
    dy = check_dy(dy, cache, fn)
    x_hat, weight = cache.x_hat, cache.weight
    rows, param_shape, axes = affine_layout(x_hat.shape, cache.num_groups, cache.n_affine)
    g = (dy if weight is None else dy * weight.reshape(param_shape)).reshape(rows)
    xh = x_hat.reshape(rows)
    dx = cache.inv_std * (
        g - g.mean(axis=1, keepdims=True) - xh * np.mean(g * xh, axis=1, keepdims=True)
    )
    affine = param_shape if cache.num_groups is None else (x_hat.shape[1],)  # gamma's shape
    dweight = None if weight is None else (dy * x_hat).sum(axis=axes).reshape(affine)
    dbias = dy.sum(axis=axes).reshape(affine) if cache.has_bias else None
    return ParamGrads(dx.reshape(x_hat.shape), dweight, dbias)


# ---------------------------------------------------------------- layer norm
def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    r"""Normalize each sample over its last axes ``normalized_shape``:
    :math:`y = \gamma \hat x + \beta` (module docstring). Shape: x (..., *normalized_shape),
    weight and bias ``normalized_shape`` or None -> y like x."""
    return layer_norm_forward(x, normalized_shape, weight, bias, eps)[0]


def layer_norm_forward(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """:func:`layer_norm` and its cache; statistics of each row of the (R, M) view of ``x``."""
    x, weight, bias, eps, n = check_layer_norm(x, normalized_shape, weight, bias, eps)
    return _forward(x, weight, bias, eps, None, n)


def layer_norm_backward(dy, cache):
    r"""``ParamGrads(dx, dweight, dbias)`` by the module docstring's formulas (one reduction per
    row for dx; dweight, dbias summed over the leading axes)."""
    return _backward(dy, cache, "layer_norm_backward")


# ---------------------------------------------------------------- group norm
def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    r"""Normalize each sample's ``num_groups`` groups of :math:`C/G` channels (with all their
    positions), then :math:`y = \gamma_c \hat x + \beta_c` per channel. Shape: x (N, C, ...),
    weight and bias (C,) or None -> y like x. ``num_groups = 1`` is layer norm over (C, ...)
    with per-channel affine; ``num_groups = C`` is instance norm."""
    return group_norm_forward(x, num_groups, weight, bias, eps)[0]


def group_norm_forward(x, num_groups, weight=None, bias=None, eps=1e-5):
    """:func:`group_norm` and its cache; statistics of each (N G, C/G prod(spatial)) row."""
    x, weight, bias, eps, num_groups = check_group_norm(x, num_groups, weight, bias, eps)
    return _forward(x, weight, bias, eps, num_groups, 0)


def group_norm_backward(dy, cache):
    r"""``ParamGrads(dx, dweight, dbias)``: the same row formula as layer norm with
    :math:`g = dy\, \gamma_c`; dweight, dbias summed over N and the spatial axes."""
    return _backward(dy, cache, "group_norm_backward")
