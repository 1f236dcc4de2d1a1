r"""Pooling layers: the public base ``Pool``, ``MaxPool1D/2D/3D``, ``AvgPool1D/2D/3D`` on it,
and ``GlobalAvgPool``.

Thin stateful wrappers over :mod:`minidl.functional.pool`, where the formulas, the first-maximum
rule of the max-pool backward and PyTorch's ``ceil_mode`` / ``count_include_pad`` rules are
written out, and which checks the arguments for both. No parameters; the arguments are stored as
attributes of the same names, per dimension as tuples (``stride=None`` becomes the kernel
size), so ``complexity`` and model files can read them.
"""

import math

import numpy as np

from minidl.functional.pool import (
    avg_pool_backward,
    avg_pool_forward,
    check_pool_args,
    global_avg_pool_backward,
    global_avg_pool_forward,
    max_pool_backward,
    max_pool_forward,
    pool_output_shape,
)
from minidl.layers.base import Cost, Layer, per_sample


class Pool(Layer, register=False):
    """Max or average pooling over ``nd`` spatial axes; a subclass sets ``nd`` and the op."""

    nd = None
    _forward = _backward = None  # the functional op's pair, set by each subclass

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = check_pool_args(
            self.nd, kernel_size, stride, padding, ceil_mode, where=type(self).__name__
        )
        self.ceil_mode = bool(ceil_mode)

    def _args(self):
        return self.kernel_size, self.stride, self.padding, self.ceil_mode

    def forward(self, x):
        """Pool ``x`` (N, C, *spatial); caches the shapes and, for max, the first-max index."""
        y, self._cache = self._forward(self._check_input(x, ndim=self.nd + 2), *self._args())
        return y

    def backward(self, dy):
        """Route ``dy`` back (first maximum / even share); see the functional docstrings."""
        c = self._cache
        dy = self._check_grad(dy, None if c is None else c.x_shape[:2] + c.windows.out)
        dx = self._backward(dy, c).dx
        # The max mask is as large as the output: let it go once used, as an autograd graph
        # frees its buffers (a second backward needs a new forward).
        self._cache = None
        return dx

    def output_shape(self, input_shape):
        if len(input_shape) != self.nd + 2:
            raise ValueError(
                f"{type(self).__name__} expected input_shape (N, C, {self.nd} spatial dims), "
                f"got {tuple(input_shape)}"
            )
        return pool_output_shape(input_shape, *self._args())

    def get_config(self):
        return {
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "ceil_mode": self.ceil_mode,
        }


class _MaxPool(Pool, register=False):
    _forward, _backward = staticmethod(max_pool_forward), staticmethod(max_pool_backward)

    def cost(self, input_shape, dtype=np.float32):
        """``prod(k) - 1`` comparisons per output; caches the first-max offset per output."""
        taps, n_out = math.prod(self.kernel_size), per_sample(self.output_shape(input_shape))
        return Cost(0, (taps - 1) * n_out, n_out * np.min_scalar_type(taps - 1).itemsize)


class _AvgPool(Pool, register=False):
    _forward, _backward = staticmethod(avg_pool_forward), staticmethod(avg_pool_backward)

    def cost(self, input_shape, dtype=np.float32):
        """``prod(k)`` per output (``prod(k) - 1`` adds and a divide); nothing cached."""
        n_out = per_sample(self.output_shape(input_shape))
        return Cost(0, math.prod(self.kernel_size) * n_out, 0)


class MaxPool1D(_MaxPool):
    """Max pooling over L of (N, C, L); padding counts as -inf (PyTorch ``MaxPool1d``)."""

    nd = 1


class MaxPool2D(_MaxPool):
    """Max pooling over (H, W) of (N, C, H, W); padding counts as -inf (``MaxPool2d``)."""

    nd = 2


class MaxPool3D(_MaxPool):
    """Max pooling over (D, H, W) of (N, C, D, H, W) (``MaxPool3d``)."""

    nd = 3


class AvgPool1D(_AvgPool):
    """Average pooling over L; zero padding counted in the divisor (PyTorch ``AvgPool1d``)."""

    nd = 1


class AvgPool2D(_AvgPool):
    """Average pooling over (H, W); zero padding counted in the divisor (``AvgPool2d``)."""

    nd = 2


class AvgPool3D(_AvgPool):
    """Average pooling over (D, H, W); zero padding counted in the divisor (``AvgPool3d``)."""

    nd = 3


class GlobalAvgPool(Layer):
    r"""Mean over every spatial dim: (N, C, *spatial) -> (N, C), for 1-D, 2-D or 3-D input.

    Keras's ``GlobalAveragePooling``; PyTorch's ``AdaptiveAvgPool(1)`` followed by a flatten.
    """

    def forward(self, x):
        y, self._cache = global_avg_pool_forward(self._check_input(x, ndim=(3, 4, 5)))
        return y

    def backward(self, dy):
        c = self._cache
        dy = self._check_grad(dy, None if c is None else c.x_shape[:2])
        return global_avg_pool_backward(dy, c).dx

    def output_shape(self, input_shape):
        if len(input_shape) not in (3, 4, 5):
            raise ValueError(
                f"GlobalAvgPool expected input_shape (N, C, 1 to 3 spatial dims), "
                f"got {tuple(input_shape)}"
            )
        return tuple(input_shape[:2])

    def cost(self, input_shape, dtype=np.float32):
        """One add (or the divide) per input value; nothing cached."""
        self.output_shape(input_shape)
        return Cost(0, per_sample(input_shape), 0)
