r"""Loop twins of :mod:`minidl.functional.normalization`: one row at a time with Python floats.

The backward multiplies by the explicit Jacobian of the normalization,

.. math:: \frac{\partial \hat x_k}{\partial x_j} = \frac{1}{\sqrt{\sigma^2 + \epsilon}}
          \Big(\delta_{jk} - \frac1M - \frac{\hat x_j \hat x_k}{M}\Big),

which the vectorized code never forms. Same arguments, caches and gradients as there.
"""

import math

import numpy as np

from minidl.functional.contract import ParamGrads
from minidl.functional.normalization import (
    NormCache,
    affine_layout,
    check_dy,
    check_group_norm,
    check_layer_norm,
)


def _param_index(shape, num_groups, m):
    """``index(r, j)``: the flat index into gamma/beta of element ``j`` of row ``r``."""
    if num_groups is None:
        return lambda r, j: j  # layer norm: gamma has the row's own shape
    per_group, spatial = shape[1] // num_groups, m // (shape[1] // num_groups)
    return lambda r, j: (r % num_groups) * per_group + j // spatial


def _forward(x, weight, bias, eps, num_groups, n_affine):
    (n_rows, m), _, _ = affine_layout(x.shape, num_groups, n_affine)
    index = _param_index(x.shape, num_groups, m)
    x2 = x.reshape(n_rows, m)
    w = None if weight is None else weight.reshape(-1)
    b = None if bias is None else bias.reshape(-1)
    y, x_hat = np.empty_like(x2), np.empty_like(x2)
    inv_std = np.empty((n_rows, 1), dtype=x.dtype)
    for r in range(n_rows):
        values = [float(v) for v in x2[r]]
        mean = sum(values) / m
        var = sum((v - mean) ** 2 for v in values) / m  # biased
        inv_std[r, 0] = 1 / math.sqrt(var + eps)
        for j, v in enumerate(values):
            x_hat[r, j] = (v - mean) * inv_std[r, 0]
            k = index(r, j)
            scaled = x_hat[r, j] * (1.0 if w is None else w[k])
            y[r, j] = scaled + (0.0 if b is None else b[k])
    cache = NormCache(x_hat.reshape(x.shape), inv_std, weight, bias is not None, num_groups,
                      n_affine)  # fmt: skip
    return y.reshape(x.shape), cache


def _backward(dy, cache, fn):
    dy = check_dy(dy, cache, fn)
    shape = cache.x_hat.shape
    (n_rows, m), _, _ = affine_layout(shape, cache.num_groups, cache.n_affine)
    index = _param_index(shape, cache.num_groups, m)
    xh, dy2 = cache.x_hat.reshape(n_rows, m), dy.reshape(n_rows, m)
    w = None if cache.weight is None else cache.weight.reshape(-1)
    n_params = shape[1] if cache.num_groups is not None else m
    dx = np.zeros_like(xh)
    dw = None if w is None else np.zeros(n_params, dtype=dy.dtype)
    db = np.zeros(n_params, dtype=dy.dtype) if cache.has_bias else None
    for r in range(n_rows):
        s = float(cache.inv_std[r, 0])
        for k in range(m):  # y_k = gamma x_hat_k + beta: send dy_k back through x_hat_k
            p = index(r, k)
            g = dy2[r, k] * (1.0 if w is None else w[p])
            for j in range(m):
                jac = s * ((j == k) - 1 / m - xh[r, j] * xh[r, k] / m)  # d x_hat_k / d x_j
                dx[r, j] += g * jac
            if dw is not None:
                dw[p] += dy2[r, k] * xh[r, k]
            if db is not None:
                db[p] += dy2[r, k]
    affine = (shape[1],) if cache.num_groups is not None else shape[len(shape) - cache.n_affine:]
    return ParamGrads(
        dx.reshape(shape),
        None if dw is None else dw.reshape(affine),
        None if db is None else db.reshape(affine),
    )


def layer_norm_forward_naive(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Loop twin of :func:`layer_norm_forward`."""
    x, weight, bias, eps, n = check_layer_norm(x, normalized_shape, weight, bias, eps)
    return _forward(x, weight, bias, eps, None, n)


def layer_norm_backward_naive(dy, cache):
    """Loop twin of :func:`layer_norm_backward` through the explicit Jacobian."""
    return _backward(dy, cache, "layer_norm_backward")


def group_norm_forward_naive(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Loop twin of :func:`group_norm_forward`."""
    x, weight, bias, eps, num_groups = check_group_norm(x, num_groups, weight, bias, eps)
    return _forward(x, weight, bias, eps, num_groups, 0)


def group_norm_backward_naive(dy, cache):
    """Loop twin of :func:`group_norm_backward` through the explicit Jacobian."""
    return _backward(dy, cache, "group_norm_backward")
