"""``LayerNorm`` and ``GroupNorm``: per-sample normalization layers with PyTorch's names.

Parameters ``weight`` (gamma, init 1) and ``bias`` (beta, init 0), of shape
``normalized_shape`` (LayerNorm) or ``(num_channels,)`` (GroupNorm), so ``nn.LayerNorm`` /
``nn.GroupNorm`` state dicts load as is. No running buffers: training and evaluation compute
the same thing. The formulas and loop twins are in :mod:`minidl.functional.normalization`.
"""

import numpy as np

from minidl._validation import check_nonnegative, check_positive_int
from minidl.functional.normalization import (
    group_norm_backward,
    group_norm_forward,
    layer_norm_backward,
    layer_norm_forward,
)
from minidl.layers.base import Layer, check_dtype, elementwise_cost

# FLOPs per value: the statistics (sum; centre, square, sum) and the normalization and affine
# map (subtract, multiply, multiply, add)
NORM_FLOPS = 8


class _Norm(Layer, register=False):
    """Shared plumbing: affine parameters of ``_param_shape``, forward/backward through the op."""

    _param_shape = ()

    def _allocate(self, affine, bias, dtype):
        self._dtype = check_dtype(dtype)
        if affine:
            self.params["weight"] = np.empty(self._param_shape, dtype=self._dtype)
        if affine and bias:
            self.params["bias"] = np.empty(self._param_shape, dtype=self._dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.reset_parameters()

    def reset_parameters(self, rng=None):
        """gamma = 1, beta = 0 (PyTorch's start; deterministic, ``rng`` is not used)."""
        for name, value in (("weight", 1), ("bias", 0)):
            if name in self.params:
                self.params[name][...] = value

    @property
    def dtype(self):
        return self._dtype

    def forward(self, x):
        x = self._check_input(x)
        self.output_shape(x.shape)
        y, self._cache = self._op_forward(x)
        return y

    def backward(self, dy):
        """``dx``; writes ``grads['weight']`` / ``grads['bias']`` in place."""
        shape = None if self._cache is None else self._cache.x_hat.shape
        grads = self._op_backward(self._check_grad(dy, shape), self._cache)
        for name, g in (("weight", grads.dweight), ("bias", grads.dbias)):
            if name in self.grads:
                self.grads[name][...] = g
        return grads.dx

    def cost(self, input_shape, dtype=np.float32):
        """``NORM_FLOPS`` (8) per value; the normalized input is cached for the backward."""
        self.output_shape(input_shape)
        return elementwise_cost(input_shape, dtype, NORM_FLOPS)


class LayerNorm(_Norm):
    r"""Normalize each sample over its last axes ``normalized_shape`` (PyTorch's
    ``nn.LayerNorm``): :math:`y = \gamma \hat x + \beta`, one gamma/beta per normalized element.

    Parameters
    ----------
    normalized_shape : int or tuple of ints
        The trailing shape of the input normalized together.
    eps : float >= 0
    elementwise_affine : bool
        Learn ``weight`` (and ``bias``, unless ``bias=False``).
    dtype : float32 (default) or float64
    """

    def __init__(
        self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=np.float32
    ):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        self.normalized_shape = tuple(check_positive_int(s, "normalized_shape") for s in shape)
        self.eps = check_nonnegative(eps, "eps")
        self.elementwise_affine, self.use_bias = bool(elementwise_affine), bool(bias)
        self._param_shape = self.normalized_shape
        self._allocate(self.elementwise_affine, self.use_bias, dtype)

    def _op_forward(self, x):
        p = self.params
        return layer_norm_forward(
            x, self.normalized_shape, p.get("weight"), p.get("bias"), self.eps
        )

    _op_backward = staticmethod(layer_norm_backward)

    def output_shape(self, input_shape):
        k = len(self.normalized_shape)
        if (
            tuple(input_shape[len(input_shape) - k :]) != self.normalized_shape
            or len(input_shape) <= k
        ):
            raise ValueError(
                f"LayerNorm expected input (N, ..., {self.normalized_shape}) ending "
                f"in normalized_shape, got shape {tuple(input_shape)}"
            )
        return tuple(input_shape)

    def get_config(self):
        return {
            "normalized_shape": list(self.normalized_shape),
            "eps": self.eps,
            "elementwise_affine": self.elementwise_affine,
            "bias": self.use_bias,
            "dtype": str(self._dtype),
        }


class GroupNorm(_Norm):
    r"""Normalize each sample's ``num_groups`` groups of channels (PyTorch's ``nn.GroupNorm``):
    :math:`y = \gamma_c \hat x + \beta_c`, one gamma/beta per channel.

    Parameters
    ----------
    num_groups : int
        Must divide ``num_channels``; 1 normalizes each sample as a whole, ``num_channels``
        is instance normalization.
    num_channels : int
    eps : float >= 0
    affine : bool
    dtype : float32 (default) or float64
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=np.float32):
        super().__init__()
        self.num_groups = check_positive_int(num_groups, "num_groups")
        self.num_channels = check_positive_int(num_channels, "num_channels")
        if self.num_channels % self.num_groups:
            raise ValueError(
                f"GroupNorm num_groups={self.num_groups} must divide "
                f"num_channels={self.num_channels}"
            )
        self.eps = check_nonnegative(eps, "eps")
        self.affine = bool(affine)
        self._param_shape = (self.num_channels,)
        self._allocate(self.affine, True, dtype)

    def _op_forward(self, x):
        p = self.params
        return group_norm_forward(x, self.num_groups, p.get("weight"), p.get("bias"), self.eps)

    _op_backward = staticmethod(group_norm_backward)

    def output_shape(self, input_shape):
        if len(input_shape) < 2 or input_shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm expected input (N, {self.num_channels}, ...), got shape "
                f"{tuple(input_shape)}"
            )
        return tuple(input_shape)

    def get_config(self):
        return {
            "num_groups": self.num_groups,
            "num_channels": self.num_channels,
            "eps": self.eps,
            "affine": self.affine,
            "dtype": str(self._dtype),
        }
