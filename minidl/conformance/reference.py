"""minidl itself in each family's calling convention: the implementation the golden files hold.

``REFERENCE[family]`` is ``(forward, backward)`` in the form the NumPy adapter takes: the
forward has the family's signature and returns ``(y, cache)``; ``backward(dy, cache)`` returns
the gradients in the order of ``family.grad_wrt`` (``None`` where an input is absent, such as
a missing bias). Estimator and integer families have no backward (``None``); their "forward"
is the estimator class or the function itself. Nothing here computes anything: the ops'
``name_forward`` / ``name_backward`` pairs already have this form (the op contract of
:mod:`minidl.functional.contract`), and the rest only adapts a loss object's ``backward()`` or
a function's signature, so the golden data are exactly what minidl's own code gives.
"""

import functools
import importlib

import numpy as np

from minidl.compression.pruning import global_magnitude_masks, magnitude_mask
from minidl.compression.quantization import choose_qparams, dequantize, quantize
from minidl.decomposition import PCA
from minidl.functional import activations as act
from minidl.functional import activations_smooth as smooth
from minidl.functional import conv_ranks as conv
from minidl.functional import conv_transpose_ranks as convt
from minidl.functional import losses as loss_ops
from minidl.functional import normalization as norm
from minidl.functional import pool_ranks as pool
from minidl.functional.batchnorm import batch_norm_backward, batch_norm_forward
from minidl.functional.dense import dense_backward, dense_forward
from minidl.linear_model.lasso import Lasso
from minidl.linear_model.linear import Ridge
from minidl.nn.losses import CrossEntropyLoss, MSELoss
from minidl.optim.steps import adam_step, adamw_step, sgd_step


def _op(module, name):
    return getattr(module, f"{name}_forward"), getattr(module, f"{name}_backward")


def _loss_pair(cls):
    def forward(prediction, target, **kwargs):
        crit = cls(**kwargs)
        return np.asarray(crit(prediction, target), dtype=prediction.dtype), crit

    # the loss object returns dL/dz for L itself; the upstream gradient dy is a scalar
    return forward, lambda dy, crit: dy * crit.backward()


def _quantize_per_channel(x, scale, zero_point, axis, **kwargs):
    return quantize(x, scale, zero_point, axis=axis, **kwargs)


# by their full names: ``minidl.functional.dense`` the attribute is the function dense()
dense_ops = importlib.import_module("minidl.functional.dense")
dropout_ops = importlib.import_module("minidl.functional.dropout")
im2col_ops = importlib.import_module("minidl.functional.im2col")


def _adam(step_fn):
    def adam(param, grad, exp_avg=None, exp_avg_sq=None, **kwargs):
        """The family's three outputs (no AMSGrad maximum)."""
        return tuple(step_fn(param, grad, exp_avg, exp_avg_sq, **kwargs)[:3])

    return adam


def _global_magnitude_masks(weights, sparsity):
    """The list form of minidl's dict -> dict function (keys: the positions)."""
    masks = global_magnitude_masks({str(i): w for i, w in enumerate(weights)}, sparsity)
    return [masks[str(i)] for i in range(len(weights))]


REFERENCE = {
    **{f"conv{d}d": _op(conv, f"conv{d}d") for d in (1, 2, 3)},
    **{f"{k}_pool{d}d": _op(pool, f"{k}_pool{d}d") for k in ("max", "avg") for d in (1, 2, 3)},
    "batch_norm_train": (batch_norm_forward, batch_norm_backward),
    "batch_norm_eval": (batch_norm_forward, batch_norm_backward),
    "dense": (dense_forward, dense_backward),
    **{name: _op(act, name) for name in ("relu", "sigmoid", "tanh", "softmax", "log_softmax")},
    "leaky_relu": _op(act, "leaky_relu"),
    **{name: _op(smooth, name) for name in ("elu", "gelu", "softplus")},
    "dropout_masked": _op(dropout_ops, "dropout_masked"),
    "layer_norm": _op(norm, "layer_norm"),
    "group_norm": _op(norm, "group_norm"),
    "dense_flatten": _op(dense_ops, "dense_flatten"),
    **{f"conv_transpose{d}d": _op(convt, f"conv_transpose{d}d") for d in (1, 2, 3)},
    **{name: _op(loss_ops, name) for name in (
        "multi_margin_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
        "cross_entropy_probs", "cross_entropy_onehot")},
    "im2col": _op(im2col_ops, "im2col"),
    "col2im": _op(im2col_ops, "col2im"),
    "sgd_step": (sgd_step, None),
    "adam_step": (_adam(adam_step), None),
    "adamw_step": (_adam(adamw_step), None),
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
