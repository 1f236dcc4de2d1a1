r"""Dense (affine, fully connected) layer: forward and backward, vectorized and as loops.

Shapes follow PyTorch's ``F.linear``: ``x`` is ``(N, in_features)``, ``weight`` is
``(out_features, in_features)``, ``bias`` is ``(out_features,)``.

.. math::

    y_{nj} = b_j + \sum_i x_{ni} W_{ji}                              \qquad y = x W^\top + b

For a scalar loss :math:`L` with upstream gradient :math:`dy = \partial L / \partial y`,

.. math::

    \frac{\partial L}{\partial x_{ni}} = \sum_j dy_{nj} W_{ji}        \qquad dx = dy\, W

    \frac{\partial L}{\partial W_{ji}} = \sum_n dy_{nj} x_{ni}        \qquad dW = dy^\top x

    \frac{\partial L}{\partial b_j} = \sum_n dy_{nj}                  \qquad db = \sum_n dy

The vectorized versions are three matrix products (one GEMM each, as PyTorch does); the
``_naive`` twins are the index sums above as Python loops, and the tests hold them equal.
"""

from dataclasses import dataclass

import numpy as np

from minidl._validation import check_float_array
from minidl.functional import _threads
from minidl.functional.contract import ParamGrads, check_cache, check_grad


@dataclass(frozen=True)
class DenseCache:
    """What the backward needs: the input, the weight, whether there was a bias."""

    x: np.ndarray
    weight: np.ndarray
    has_bias: bool


def _check(x, weight, bias, fn):
    x = check_float_array(x, f"{fn} x", ndim=2)
    weight = check_float_array(weight, f"{fn} weight", ndim=2)
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"{fn}: x must have in_features={weight.shape[1]} columns to match weight "
            f"{weight.shape} (out_features, in_features), got x of shape {x.shape}"
        )
    if x.dtype != weight.dtype:
        raise TypeError(f"{fn}: x has dtype {x.dtype} but weight has {weight.dtype}; cast first")
    if bias is not None:
        bias = check_float_array(bias, f"{fn} bias", ndim=1)
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"{fn}: bias must have shape ({weight.shape[0]},) = (out_features,), "
                f"got {bias.shape}"
            )
    return x, weight, bias, DenseCache(x, weight, bias is not None)


def _check_dy(dy, cache, fn):
    """The contract's checks: ``cache`` a DenseCache (``dense_backward(dy, cache)`` has no bias
    argument: the cache records whether there was one), ``dy`` of shape (N, out_features)."""
    cache = check_cache(cache, DenseCache, fn)
    return check_grad(dy, (cache.x.shape[0], cache.weight.shape[0]), cache.x.dtype, fn)


def dense(x, weight, bias=None):
    r"""Affine map :math:`y = x W^\top + b` (``torch.nn.functional.linear``).

    Shape: x (N, in_features), weight (out_features, in_features), bias (out_features,) or
    None -> y (N, out_features)
    """
    return dense_forward(x, weight, bias)[0]


def dense_forward(x, weight, bias=None):
    r""":math:`y = x W^\top + b` as one GEMM; returns ``(y, cache)``."""
    x, weight, bias, cache = _check(x, weight, bias, "dense")
    with _threads.gemm_held_for(x.shape[0], weight.size * x.shape[0]):
        y = _threads.matmul(x, weight.T)
    if bias is not None:
        y += bias  # in place: no second (N, out) array
    return y, cache


def dense_backward(dy, cache):
    r"""``ParamGrads(dx, dweight, dbias)``: :math:`dx = dy W`, :math:`dW = dy^\top x`,
    :math:`db = \sum_n dy_n` (None without a bias): three GEMM-sized steps."""
    dy = _check_dy(dy, cache, "dense_backward")
    dbias = dy.sum(axis=0) if cache.has_bias else None
    with _threads.gemm_held_for(dy.shape[0], cache.weight.size * dy.shape[0]):
        dx, dweight = _threads.matmul(dy, cache.weight), _threads.matmul(dy.T, cache.x)
    return ParamGrads(dx, dweight, dbias)


def dense_forward_naive(x, weight, bias=None):
    r"""Loop twin of :func:`dense_forward`: :math:`y_{nj} = b_j + \sum_i x_{ni} W_{ji}`."""
    x, weight, bias, cache = _check(x, weight, bias, "dense")
    n_batch, n_in = x.shape
    n_out = weight.shape[0]
    y = np.zeros((n_batch, n_out), dtype=x.dtype)
    for n in range(n_batch):
        for j in range(n_out):
            s = 0.0 if bias is None else bias[j]
            for i in range(n_in):
                s += x[n, i] * weight[j, i]
            y[n, j] = s
    return y, cache


def dense_backward_naive(dy, cache):
    r"""Loop twin of :func:`dense_backward`, each gradient as its index sum."""
    dy = _check_dy(dy, cache, "dense_backward")
    x, weight = cache.x, cache.weight
    n_batch, n_in = x.shape
    n_out = weight.shape[0]
    dx = np.zeros_like(x)
    dweight = np.zeros_like(weight)
    dbias = np.zeros(n_out, dtype=dy.dtype) if cache.has_bias else None
    for n in range(n_batch):
        for j in range(n_out):
            for i in range(n_in):
                dx[n, i] += dy[n, j] * weight[j, i]  # dL/dx_ni = sum_j dy_nj W_ji
                dweight[j, i] += dy[n, j] * x[n, i]  # dL/dW_ji = sum_n dy_nj x_ni
            if dbias is not None:
                dbias[j] += dy[n, j]  # dL/db_j = sum_n dy_nj
    return ParamGrads(dx, dweight, dbias)


# ---------------------------------------------------------------- with flattening
@dataclass(frozen=True)
class FlatDenseCache:
    """The dense cache of the flattened input and the input's own shape (N, d1, ..., dk)."""

    dense: DenseCache
    x_shape: tuple


def _flatten(x):
    x = check_float_array(x, "dense_flatten x")
    if x.ndim < 2:
        raise ValueError(f"dense_flatten x must be (N, d1, ..., dk), got shape {x.shape}")
    return x.reshape(x.shape[0], -1), x.shape


def dense_flatten(x, weight, bias=None):
    r"""The textbook's Affine layer: :math:`y = \mathrm{flat}(x) W^\top + b`, where
    :math:`\mathrm{flat}` reshapes (N, d1, ..., dk) to (N, d1 ... dk) in C order (PyTorch's
    ``x.flatten(1)``). Shape: x (N, d1, ..., dk), weight (out, d1 ... dk) -> y (N, out)
    """
    return dense_flatten_forward(x, weight, bias)[0]


def dense_flatten_forward(x, weight, bias=None):
    """:func:`dense_forward` on the flattened input; the cache keeps x's shape."""
    flat, shape = _flatten(x)
    y, cache = dense_forward(flat, weight, bias)
    return y, FlatDenseCache(cache, shape)


def dense_flatten_backward(dy, cache):
    r"""``ParamGrads(dx, dweight, dbias)`` of :func:`dense_backward`, with
    :math:`dx = dy\, W` reshaped back to (N, d1, ..., dk)."""
    cache = check_cache(cache, FlatDenseCache, "dense_flatten_backward")
    dx, dweight, dbias = dense_backward(dy, cache.dense)
    return ParamGrads(dx.reshape(cache.x_shape), dweight, dbias)


def dense_flatten_forward_naive(x, weight, bias=None):
    """Loop twin of :func:`dense_flatten_forward` (the flattening, then the dense loops)."""
    flat, shape = _flatten(x)
    y, cache = dense_forward_naive(flat, weight, bias)
    return y, FlatDenseCache(cache, shape)


def dense_flatten_backward_naive(dy, cache):
    """Loop twin of :func:`dense_flatten_backward`."""
    cache = check_cache(cache, FlatDenseCache, "dense_flatten_backward")
    dx, dweight, dbias = dense_backward_naive(dy, cache.dense)
    return ParamGrads(dx.reshape(cache.x_shape), dweight, dbias)
