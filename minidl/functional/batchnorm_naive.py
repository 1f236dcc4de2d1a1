r"""Loop twins of :mod:`minidl.functional.batchnorm`: one channel at a time, sums written out.

The forward twin computes the statistics (4.10) and the running estimates (4.11) with Python
sums; the backward twin follows the step-by-step chain rule through :math:`v` and :math:`\mu`
(training) rather than the compact formula of ``batch_norm_backward``, so the two are
independent. Same arguments, same cache and gradients as the vectorized versions.
"""

import math

import numpy as np

from minidl.functional.batchnorm import (
    BatchNormCache,
    check_batch_norm_args,
    check_dy,
    empty_batch,
    empty_batch_grads,
)
from minidl.functional.contract import ParamGrads


def batch_norm_forward_naive(
    x, weight=None, bias=None, running_mean=None, running_var=None, training=True, momentum=0.1,
    eps=1e-5,
):  # fmt: skip
    """Loop twin of :func:`batch_norm_forward`: one channel at a time."""
    x, n, momentum, eps = check_batch_norm_args(
        x, weight, bias, running_mean, running_var, training, momentum, eps
    )
    if x.size == 0:  # no values: nothing to loop over, the running estimates stay
        return empty_batch(x, weight, training, eps)
    y = np.empty_like(x)
    c_count = x.shape[1]
    mean, invstd = np.empty(c_count, dtype=x.dtype), np.empty(c_count, dtype=x.dtype)
    for c in range(c_count):
        values = [float(v) for v in x[:, c].ravel()]
        if training:
            mu = sum(values) / n
            v = sum((t - mu) ** 2 for t in values) / n
            if running_mean is not None:
                running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mu
                running_var[c] = (1 - momentum) * running_var[c] + momentum * v * n / (n - 1)
        else:
            mu, v = float(running_mean[c]), float(running_var[c])
        g = 1.0 if weight is None else float(weight[c])
        b = 0.0 if bias is None else float(bias[c])
        mean[c], invstd[c] = mu, 1.0 / math.sqrt(v + eps)
        y[:, c] = np.reshape([g * (t - mu) / math.sqrt(v + eps) + b for t in values], y[:, c].shape)
    return y, BatchNormCache(x, mean, invstd, weight, training, eps)


def batch_norm_backward_naive(dy, cache):
    r"""Loop twin of :func:`batch_norm_backward`, one channel at a time.

    Training, by the chain rule with :math:`d\hat x = \gamma\, dy`:
    :math:`dv = \sum d\hat x_i (x_i - \mu) \cdot (-\tfrac12)(v + \epsilon)^{-3/2}`,
    :math:`d\mu = -\sum d\hat x_i / \sigma + dv \cdot (-\tfrac2n) \sum (x_i - \mu)`,
    :math:`dx_i = d\hat x_i / \sigma + dv \cdot 2 (x_i - \mu)/n + d\mu / n`, with
    :math:`\mu`, :math:`v` recomputed from ``x``. Evaluation: :math:`dx_i = \gamma\, dy_i /
    \sigma` with the cached running statistics.
    """
    dy, x = check_dy(dy, cache), cache.x
    if x.size == 0:
        return empty_batch_grads(cache)
    n = x.size // x.shape[1]
    dx = np.empty_like(x)
    dweight, dbias = np.zeros(x.shape[1], dtype=x.dtype), np.zeros(x.shape[1], dtype=x.dtype)
    for c in range(x.shape[1]):
        xs = [float(v) for v in x[:, c].ravel()]
        ds = [float(v) for v in dy[:, c].ravel()]
        g = 1.0 if cache.weight is None else float(cache.weight[c])
        if cache.training:
            mu = sum(xs) / n
            sigma = math.sqrt(sum((t - mu) ** 2 for t in xs) / n + cache.eps)
        else:
            mu, sigma = float(cache.mean[c]), 1.0 / float(cache.invstd[c])
        dxhat = [g * d for d in ds]
        col = [a / sigma for a in dxhat]
        if cache.training:
            dv = sum(a * (t - mu) for a, t in zip(dxhat, xs, strict=True)) * -0.5 * sigma**-3
            dmu = -sum(dxhat) / sigma + dv * (-2.0 / n) * sum(t - mu for t in xs)
            col = [d + dv * 2 * (t - mu) / n + dmu / n for d, t in zip(col, xs, strict=True)]
        dx[:, c] = np.reshape(col, dx[:, c].shape)
        dweight[c] = sum(d * (t - mu) / sigma for d, t in zip(ds, xs, strict=True))
        dbias[c] = sum(ds)
    if cache.weight is None:
        return ParamGrads(dx, None, None)
    return ParamGrads(dx, dweight, dbias)
