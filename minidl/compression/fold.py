r"""Fold an eval-mode BatchNorm into the Conv or Dense layer before it.

In evaluation BatchNorm is an affine map per channel :math:`c`,
:math:`y = \gamma_c (z - \mu_c) / \sqrt{\sigma^2_c + \epsilon} + \beta_c`, applied to
:math:`z = W x + b`; so with :math:`k_c = \gamma_c / \sqrt{\sigma^2_c + \epsilon}`

.. math:: W'_{c,\dots} = k_c W_{c,\dots}, \qquad b'_c = k_c (b_c - \mu_c) + \beta_c

gives one layer computing the same thing (``torch.nn.utils.fusion.fuse_conv_bn_eval`` /
``fuse_linear_bn_eval``). The scale is computed in float64 and rounded once, so the folded
layer matches to float precision. Only valid with running statistics (eval mode): in training
BatchNorm uses each batch's own statistics, which no fixed weight can reproduce.
"""

import copy

import numpy as np

from minidl.layers.batchnorm import BatchNorm
from minidl.layers.conv import ConvND
from minidl.layers.dense import Dense


def fold_batchnorm(layer, bn):
    """A new Conv/Dense layer equal to ``bn(layer(x))`` in eval mode (always with a bias)."""
    if not isinstance(layer, (Dense, ConvND)):
        raise TypeError(f"layer must be a Dense or Conv layer, got {type(layer).__name__}")
    if not isinstance(bn, BatchNorm):
        raise TypeError(f"bn must be a BatchNorm layer, got {type(bn).__name__}")
    out = layer.params["weight"].shape[0]
    if bn.num_features != out:
        raise ValueError(f"bn has num_features={bn.num_features}, the layer has {out} outputs")
    if not bn.track_running_stats:
        raise ValueError(
            "bn has no running statistics (track_running_stats=False): it "
            "normalizes with batch statistics even in eval mode, cannot be folded"
        )
    w = layer.params["weight"].astype(np.float64)
    b = layer.params["bias"].astype(np.float64) if layer.use_bias else np.zeros(out)
    mean = bn.buffers["running_mean"].astype(np.float64)
    var = bn.buffers["running_var"].astype(np.float64)
    gamma = bn.params["weight"].astype(np.float64) if bn.affine else np.ones(out)
    beta = bn.params["bias"].astype(np.float64) if bn.affine else np.zeros(out)
    k = gamma / np.sqrt(var + bn.eps)
    cfg = dict(layer.get_config(), bias=True)
    folded = type(layer)(**cfg, rng=np.random.default_rng(0))
    dtype = layer.params["weight"].dtype
    folded.params["weight"][...] = (w * k.reshape((-1,) + (1,) * (w.ndim - 1))).astype(dtype)
    folded.params["bias"][...] = (k * (b - mean) + beta).astype(dtype)
    folded.training = False
    return folded


def fold_model(model):
    """A new Sequential (eval mode) with every BatchNorm right after a Conv/Dense folded in.

    Other BatchNorm layers (after a pooling or activation, say) are kept as they are.
    """
    from minidl.nn.model import Sequential

    layers, i = [], 0
    src = model.layers
    while i < len(src):
        layer = src[i]
        nxt = src[i + 1] if i + 1 < len(src) else None
        if isinstance(layer, (Dense, ConvND)) and isinstance(nxt, BatchNorm):
            layers.append(fold_batchnorm(layer, nxt))
            i += 2
        else:
            layers.append(copy.deepcopy(layer))
            i += 1
    return Sequential(layers).eval()
