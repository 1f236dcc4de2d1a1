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

import numpy as np

from minidl._validation import check_float_array


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
    return x, weight, bias


def dense(x, weight, bias=None):
    r"""Affine map :math:`y = x W^\top + b`.

    Parameters
    ----------
    x : ndarray, shape (N, in_features), float32 or float64
    weight : ndarray, shape (out_features, in_features), same dtype as ``x``
    bias : ndarray, shape (out_features,), optional

    Returns
    -------
    y : ndarray, shape (N, out_features)
    """
    x, weight, bias = _check(x, weight, bias, "dense")
    y = x @ weight.T
    if bias is not None:
        y += bias  # in place: no second (N, out) array
    return y


def dense_backward(dy, x, weight, bias=True, out=None):
    r"""Gradients of :math:`y = x W^\top + b`: :math:`dx = dy W`, :math:`dW = dy^\top x`,
    :math:`db = \sum_n dy_n`.

    ``bias`` says whether the forward had a bias; with ``bias=False`` the third result is None.
    ``out`` optionally gives ``(dweight, dbias)`` arrays to write into (a layer's ``grads``),
    which saves a copy of the weight gradient. Returns ``(dx, dweight, dbias)``.
    """
    x, weight, _ = _check(x, weight, None, "dense_backward")
    dy = check_float_array(dy, "dense_backward dy", ndim=2)
    if dy.shape != (x.shape[0], weight.shape[0]):
        raise ValueError(
            f"dense_backward: dy must have shape (N, out_features) = "
            f"{(x.shape[0], weight.shape[0])}, got {dy.shape}"
        )
    dw_out, db_out = (None, None) if out is None else out
    dx = dy @ weight
    dweight = np.matmul(dy.T, x, out=dw_out)
    dbias = np.sum(dy, axis=0, out=db_out) if bias else None
    return dx, dweight, dbias


def dense_naive(x, weight, bias=None):
    r"""Loop twin of :func:`dense`: :math:`y_{nj} = b_j + \sum_i x_{ni} W_{ji}`."""
    x, weight, bias = _check(x, weight, bias, "dense_naive")
    n_batch, n_in = x.shape
    n_out = weight.shape[0]
    y = np.zeros((n_batch, n_out), dtype=x.dtype)
    for n in range(n_batch):
        for j in range(n_out):
            s = 0.0 if bias is None else bias[j]
            for i in range(n_in):
                s += x[n, i] * weight[j, i]
            y[n, j] = s
    return y


def dense_backward_naive(dy, x, weight, bias=True):
    r"""Loop twin of :func:`dense_backward`, each gradient as its index sum."""
    x, weight, _ = _check(x, weight, None, "dense_backward_naive")
    dy = check_float_array(dy, "dense_backward_naive dy", ndim=2)
    n_batch, n_in = x.shape
    n_out = weight.shape[0]
    dx = np.zeros_like(x)
    dweight = np.zeros_like(weight)
    dbias = np.zeros(n_out, dtype=dy.dtype) if bias else None
    for n in range(n_batch):
        for j in range(n_out):
            for i in range(n_in):
                dx[n, i] += dy[n, j] * weight[j, i]  # dL/dx_ni = sum_j dy_nj W_ji
                dweight[j, i] += dy[n, j] * x[n, i]  # dL/dW_ji = sum_n dy_nj x_ni
            if bias:
                dbias[j] += dy[n, j]  # dL/db_j = sum_n dy_nj
    return dx, dweight, dbias
