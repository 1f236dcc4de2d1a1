r"""Pooling layers: ``MaxPool1D/2D/3D``, ``AvgPool1D/2D/3D`` and ``GlobalAvgPool``.

Thin stateful wrappers over :mod:`minidl.functional.pool`, where the formulas, the first-maximum
rule of the max-pool backward and PyTorch's ``ceil_mode`` / ``count_include_pad`` rules are
written out. No parameters; the arguments are stored as attributes of the same names, per
dimension as tuples (``stride=None`` becomes the kernel size), so ``complexity`` and model
files can read them.
"""

from minidl._validation import as_tuple
from minidl.functional.pool import (
    avg_pool,
    avg_pool_backward,
    global_avg_pool,
    global_avg_pool_backward,
    max_pool,
    max_pool_backward,
    pool_output_shape,
)
from minidl.layers.base import Layer


class _Pool(Layer):
    """Shared constructor, forward/backward and shape logic; subclasses set ``_d`` and ``_fn``."""

    _d = 2
    _fn = staticmethod(max_pool)
    _backward_fn = staticmethod(max_pool_backward)

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        name, d = type(self).__name__, self._d
        self.kernel_size = as_tuple(kernel_size, d, "kernel_size")
        self.stride = self.kernel_size if stride is None else as_tuple(stride, d, "stride")
        if isinstance(padding, str):
            raise TypeError(
                f"{name} padding must be an int or a tuple of {d} ints, got {padding!r}"
            )
        self.padding = as_tuple(padding, d, "padding", minimum=0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise ValueError(
                f"{name} padding must be at most half the kernel_size {self.kernel_size}, "
                f"got padding {self.padding}"
            )
        if not isinstance(ceil_mode, bool):
            raise TypeError(f"{name} ceil_mode must be a bool, got {ceil_mode!r}")
        self.ceil_mode = ceil_mode
        self._cache = None

    def _args(self):
        return self.kernel_size, self.stride, self.padding, self.ceil_mode

    def forward(self, x):
        """Pool ``x`` (N, C, *spatial); caches the shapes and, for max, the first-max index."""
        x = self._check_input(x, ndim=self._d + 2)
        y, self._cache = type(self)._fn(x, *self._args(), return_cache=True)
        return y

    def backward(self, dy):
        """Route ``dy`` back (first maximum / even share); see the functional docstrings."""
        c = self._cache
        expected = None if c is None else c["x_shape"][:2] + c["out"]
        dy = self._check_grad(dy, expected)
        if dy.dtype != c["dtype"]:
            dy = dy.astype(c["dtype"])
        dx = type(self)._backward_fn(dy, c)
        # The max mask is as large as the input: let it go once used, as an autograd graph
        # frees its buffers (a second backward needs a new forward).
        self._cache = None
        return dx

    def output_shape(self, input_shape):
        if len(input_shape) != self._d + 2:
            raise ValueError(
                f"{type(self).__name__} expected input_shape (N, C, {self._d} spatial dims), "
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


class MaxPool1D(_Pool):
    """Max pooling over L of (N, C, L); padding counts as -inf (PyTorch ``MaxPool1d``)."""

    _d = 1
    _fn = staticmethod(max_pool)
    _backward_fn = staticmethod(max_pool_backward)


class MaxPool2D(_Pool):
    """Max pooling over (H, W) of (N, C, H, W); padding counts as -inf (``MaxPool2d``)."""

    _d = 2
    _fn = staticmethod(max_pool)
    _backward_fn = staticmethod(max_pool_backward)


class MaxPool3D(_Pool):
    """Max pooling over (D, H, W) of (N, C, D, H, W) (``MaxPool3d``)."""

    _d = 3
    _fn = staticmethod(max_pool)
    _backward_fn = staticmethod(max_pool_backward)


class AvgPool1D(_Pool):
    """Average pooling over L; zero padding counted in the divisor (PyTorch ``AvgPool1d``)."""

    _d = 1
    _fn = staticmethod(avg_pool)
    _backward_fn = staticmethod(avg_pool_backward)


class AvgPool2D(_Pool):
    """Average pooling over (H, W); zero padding counted in the divisor (``AvgPool2d``)."""

    _d = 2
    _fn = staticmethod(avg_pool)
    _backward_fn = staticmethod(avg_pool_backward)


class AvgPool3D(_Pool):
    """Average pooling over (D, H, W); zero padding counted in the divisor (``AvgPool3d``)."""

    _d = 3
    _fn = staticmethod(avg_pool)
    _backward_fn = staticmethod(avg_pool_backward)


class GlobalAvgPool(Layer):
    r"""Mean over every spatial dim: (N, C, *spatial) -> (N, C), for 1-D, 2-D or 3-D input.

    Keras's ``GlobalAveragePooling``; PyTorch's ``AdaptiveAvgPool(1)`` followed by a flatten.
    """

    def __init__(self):
        super().__init__()
        self._cache = None

    def forward(self, x):
        x = self._check_input(x, ndim=(3, 4, 5))
        y, self._cache = global_avg_pool(x, return_cache=True)
        return y

    def backward(self, dy):
        c = self._cache
        dy = self._check_grad(dy, None if c is None else c["x_shape"][:2])
        if dy.dtype != c["dtype"]:
            dy = dy.astype(c["dtype"])
        return global_avg_pool_backward(dy, c)

    def output_shape(self, input_shape):
        if len(input_shape) not in (3, 4, 5):
            raise ValueError(
                f"GlobalAvgPool expected input_shape (N, C, 1 to 3 spatial dims), "
                f"got {tuple(input_shape)}"
            )
        return tuple(input_shape[:2])
