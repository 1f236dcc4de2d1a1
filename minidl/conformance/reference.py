"""minidl itself in each family's calling convention: the implementation the golden files hold.

``REFERENCE[family]`` is ``(forward, backward)`` in the form the NumPy adapter takes: the
forward has the family's signature and returns ``(y, cache)``; ``backward(dy, cache)`` returns
the gradients in the order of ``family.grad_wrt`` (``None`` where an input is absent, such as
a missing bias). Estimator and integer families have no backward (``None``); their "forward"
is the estimator class or the function itself. Nothing here computes anything: each entry only
adapts a minidl function's return convention (``return_cache=True``, a loss object's
``backward()``) to that form, so the golden data are exactly what minidl's own code gives.
"""

import functools

import numpy as np

from minidl.compression.pruning import global_magnitude_masks, magnitude_mask
from minidl.compression.quantization import choose_qparams, dequantize, quantize
from minidl.decomposition import PCA
from minidl.functional import activations as act
from minidl.functional.batchnorm import batch_norm_backward, batch_norm_forward
from minidl.functional.conv import conv1d, conv2d, conv3d, conv_nd_backward
from minidl.functional.dense import dense, dense_backward
from minidl.functional.pool import (
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    avg_pool_backward,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_pool_backward,
)
from minidl.lasso import Lasso
from minidl.linear import Ridge
from minidl.losses import CrossEntropyLoss, MSELoss


def _with_cache(fn):
    return functools.partial(fn, return_cache=True)


def _dense(x, weight, bias=None):
    return dense(x, weight, bias), (x, weight, bias is not None)


def _dense_backward(dy, cache):
    return dense_backward(dy, *cache)


def _keep_input(fn):
    """Forward whose backward needs the input (ReLU)."""
    return lambda x: (fn(x), x)


def _keep_output(fn):
    """Forward whose backward needs the output (sigmoid, tanh)."""

    def forward(x):
        y = fn(x)
        return y, y

    return forward


def _softmax_pair(fn, fn_backward):
    def forward(x, axis):
        y = fn(x, axis)
        return y, (y, axis)

    return forward, lambda dy, cache: fn_backward(dy, cache[0], cache[1])


def _loss_pair(cls):
    def forward(prediction, target, **kwargs):
        crit = cls(**kwargs)
        return np.asarray(crit(prediction, target), dtype=prediction.dtype), crit

    # the loss object returns dL/dz for L itself; the upstream gradient dy is a scalar
    return forward, lambda dy, crit: dy * crit.backward()


def _quantize_per_channel(x, scale, zero_point, axis, **kwargs):
    return quantize(x, scale, zero_point, axis=axis, **kwargs)


def _global_magnitude_masks(weights, sparsity):
    """The list form of minidl's dict -> dict function (keys: the positions)."""
    masks = global_magnitude_masks({str(i): w for i, w in enumerate(weights)}, sparsity)
    return [masks[str(i)] for i in range(len(weights))]


REFERENCE = {
    "conv1d": (_with_cache(conv1d), conv_nd_backward),
    "conv2d": (_with_cache(conv2d), conv_nd_backward),
    "conv3d": (_with_cache(conv3d), conv_nd_backward),
    "max_pool1d": (_with_cache(max_pool1d), max_pool_backward),
    "max_pool2d": (_with_cache(max_pool2d), max_pool_backward),
    "max_pool3d": (_with_cache(max_pool3d), max_pool_backward),
    "avg_pool1d": (_with_cache(avg_pool1d), avg_pool_backward),
    "avg_pool2d": (_with_cache(avg_pool2d), avg_pool_backward),
    "avg_pool3d": (_with_cache(avg_pool3d), avg_pool_backward),
    "batch_norm_train": (batch_norm_forward, batch_norm_backward),
    "batch_norm_eval": (batch_norm_forward, batch_norm_backward),
    "dense": (_dense, _dense_backward),
    "relu": (_keep_input(act.relu), act.relu_backward),
    "sigmoid": (_keep_output(act.sigmoid), act.sigmoid_backward),
    "tanh": (_keep_output(act.tanh), act.tanh_backward),
    "softmax": _softmax_pair(act.softmax, act.softmax_backward),
    "log_softmax": _softmax_pair(act.log_softmax, act.log_softmax_backward),
    "cross_entropy": _loss_pair(CrossEntropyLoss),
    "mse": _loss_pair(MSELoss),
    "ridge": (Ridge, None),
    "lasso": (Lasso, None),
    "pca": (PCA, None),
    "quantize": (quantize, None),
    "quantize_per_channel": (_quantize_per_channel, None),
    "choose_qparams": (choose_qparams, None),
    "dequantize": (functools.partial(dequantize, dtype=np.float64), None),
    "magnitude_mask": (magnitude_mask, None),
    "global_magnitude_masks": (_global_magnitude_masks, None),
}
