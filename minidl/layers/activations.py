"""Activation layers: ReLU, LeakyReLU, Sigmoid, Tanh, Softmax (no parameters).

Thin stateful wrappers over :mod:`minidl.functional.activations`, where the formulas, the
stability arguments and the loop twins live. They keep the input's dtype (float32 or
float64) and cache what their backward needs: the input for ReLU/LeakyReLU, the output for
the others.
"""

from minidl.functional import activations as F
from minidl.layers.base import Layer


class _Activation(Layer):
    """Shared plumbing: validate, cache, check dy's shape against the cached array."""

    def forward(self, x):
        x = self._check_input(x)
        y = self._forward(x)
        self._cache = x if self._cache_input else y
        return y

    def backward(self, dy):
        cached = getattr(self, "_cache", None)
        dy = self._check_grad(dy, None if cached is None else cached.shape)
        if dy.dtype != cached.dtype:
            dy = dy.astype(cached.dtype)
        return self._backward(dy, cached)


class ReLU(_Activation):
    r""":math:`y = \max(x, 0)`; :math:`dx = dy\,[x > 0]`."""

    _cache_input = True

    def _forward(self, x):
        return F.relu(x)

    def _backward(self, dy, x):
        return F.relu_backward(dy, x)


class LeakyReLU(_Activation):
    r""":math:`y = x` for :math:`x > 0`, else :math:`a x`, with ``a = negative_slope``."""

    _cache_input = True

    def __init__(self, negative_slope=0.01):
        super().__init__()
        F._check_slope(negative_slope)
        self.negative_slope = float(negative_slope)

    def _forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def _backward(self, dy, x):
        return F.leaky_relu_backward(dy, x, self.negative_slope)

    def get_config(self):
        return {"negative_slope": self.negative_slope}


class Sigmoid(_Activation):
    r""":math:`y = 1/(1 + e^{-x})` (overflow-free form); :math:`dx = dy\,y(1-y)`."""

    _cache_input = False

    def _forward(self, x):
        return F.sigmoid(x)

    def _backward(self, dy, y):
        return F.sigmoid_backward(dy, y)


class Tanh(_Activation):
    r""":math:`y = \tanh x`; :math:`dx = dy\,(1 - y^2)`."""

    _cache_input = False

    def _forward(self, x):
        return F.tanh(x)

    def _backward(self, dy, y):
        return F.tanh_backward(dy, y)


class Softmax(_Activation):
    r""":math:`y_k = e^{x_k} / \sum_j e^{x_j}` along ``axis`` (default 1, the class axis).

    For training a classifier use ``CrossEntropyLoss`` on the logits instead: it fuses
    log-softmax and the loss, which is both stabler and cheaper.
    """

    _cache_input = False

    def __init__(self, axis=1):
        super().__init__()
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"axis must be an int, got {axis!r}")
        self.axis = axis

    def _forward(self, x):
        return F.softmax(x, axis=self.axis)

    def _backward(self, dy, y):
        return F.softmax_backward(dy, y, axis=self.axis)

    def get_config(self):
        return {"axis": self.axis}


# the shared base is plumbing, not a layer a model file should name
