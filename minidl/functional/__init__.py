"""Pure NumPy forward/backward pairs. Each vectorized op has a ``_naive`` loop twin beside it.

Forwards return ``y`` (or ``(y, cache)`` where the backward needs a cache); backwards take the
upstream gradient ``dy`` and return the gradients of the forward's array arguments.
"""

from minidl.functional.activations import (
    leaky_relu,
    leaky_relu_backward,
    log_softmax,
    log_softmax_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    tanh,
    tanh_backward,
)
from minidl.functional.batchnorm import batch_norm, batch_norm_backward, batch_norm_forward
from minidl.functional.conv import (
    conv1d,
    conv2d,
    conv3d,
    conv_nd,
    conv_nd_backward,
    conv_nd_backward_naive,
    conv_nd_naive,
)
from minidl.functional.conv2plus1d import conv2plus1d_mid_channels
from minidl.functional.dense import dense, dense_backward
from minidl.functional.dropout import dropout, dropout_backward
from minidl.functional.padding import resolve_padding
from minidl.functional.pool import (
    avg_pool,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    avg_pool_backward,
    global_avg_pool,
    global_avg_pool_backward,
    max_pool,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_pool_backward,
)

__all__ = [
    "avg_pool",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "avg_pool_backward",
    "batch_norm",
    "batch_norm_backward",
    "batch_norm_forward",
    "conv1d",
    "conv2d",
    "conv2plus1d_mid_channels",
    "conv3d",
    "conv_nd",
    "conv_nd_backward",
    "conv_nd_backward_naive",
    "conv_nd_naive",
    "dense",
    "dense_backward",
    "dropout",
    "dropout_backward",
    "global_avg_pool",
    "global_avg_pool_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "log_softmax",
    "log_softmax_backward",
    "max_pool",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool_backward",
    "relu",
    "relu_backward",
    "resolve_padding",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "tanh",
    "tanh_backward",
]
