"""Activation layers: ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, ELU, GELU, Softplus (no
parameters).

Thin stateful wrappers over :mod:`minidl.functional.activations` and
:mod:`minidl.functional.activations_smooth`, where the formulas, the stability arguments and
the loop twins live. They keep the input's dtype (float32 or
float64) and cache what the functional forward returns: the input for ReLU/LeakyReLU, the
output for the others.
"""

import numpy as np

from minidl.functional import activations as F
from minidl.functional import activations_smooth as S
from minidl.layers.base import Layer, elementwise_cost


class _Activation(Layer):
    """Shared plumbing: the op's forward and backward, FLOPs per element for ``cost``."""

    _forward = _backward = None  # the functional op's pair, set by each subclass
    _flops_per_element = 1

    def _args(self):
        return ()

    def forward(self, x):
        y, self._cache = self._forward(self._check_input(x), *self._args())
        return y

    def backward(self, dy):
        cache = self._cache
        y = getattr(cache, "y", None)  # the smooth activations keep x only
        saved = None if cache is None else (cache.x if y is None else y)
        dy = self._check_grad(dy, None if saved is None else saved.shape)
        return self._backward(dy, cache).dx

    def cost(self, input_shape, dtype=np.float32):
        """``_flops_per_element`` per value (one function evaluation = 1 FLOP); one array of
        the input's size cached (the input or the output)."""
        return elementwise_cost(input_shape, dtype, self._flops_per_element)


class ReLU(_Activation):
    r""":math:`y = \max(x, 0)`; :math:`dx = dy\,[x > 0]`."""

    _forward, _backward = staticmethod(F.relu_forward), staticmethod(F.relu_backward)


class LeakyReLU(_Activation):
    r""":math:`y = x` for :math:`x > 0`, else :math:`a x`, with ``a = negative_slope``."""

    _forward = staticmethod(F.leaky_relu_forward)
    _backward = staticmethod(F.leaky_relu_backward)

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = F.check_slope(negative_slope)

    def _args(self):
        return (self.negative_slope,)

    def get_config(self):
        return {"negative_slope": self.negative_slope}


class Sigmoid(_Activation):
    r""":math:`y = 1/(1 + e^{-x})` (overflow-free form); :math:`dx = dy\,y(1-y)`."""

    _forward, _backward = staticmethod(F.sigmoid_forward), staticmethod(F.sigmoid_backward)


class Tanh(_Activation):
    r""":math:`y = \tanh x`; :math:`dx = dy\,(1 - y^2)`."""

    _forward, _backward = staticmethod(F.tanh_forward), staticmethod(F.tanh_backward)


class Softmax(_Activation):
    r""":math:`y_k = e^{x_k} / \sum_j e^{x_j}` along ``axis`` (default 1, the class axis).

    For training a classifier use ``CrossEntropyLoss`` on the logits instead: it fuses
    log-softmax and the loss, which is both stabler and cheaper.
    """

    _forward, _backward = staticmethod(F.softmax_forward), staticmethod(F.softmax_backward)
    _flops_per_element = 3  # exp, add to the sum, divide

    def __init__(self, axis=1):
        super().__init__()
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"axis must be an int, got {axis!r}")
        self.axis = axis

    def _args(self):
        return (self.axis,)

    def get_config(self):
        return {"axis": self.axis}


class ELU(_Activation):
    r""":math:`y = x` for :math:`x > 0`, else :math:`\alpha (e^x - 1)` (PyTorch's ``nn.ELU``)."""

    _forward, _backward = staticmethod(S.elu_forward), staticmethod(S.elu_backward)

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = S.check_real(alpha, "alpha")

    def _args(self):
        return (self.alpha,)

    def get_config(self):
        return {"alpha": self.alpha}


class GELU(_Activation):
    r""":math:`y = x\,\Phi(x)`; ``approximate='tanh'``: PyTorch's tanh form (``nn.GELU``)."""

    _forward, _backward = staticmethod(S.gelu_forward), staticmethod(S.gelu_backward)

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = S.check_approximate(approximate)

    def _args(self):
        return (self.approximate,)

    def get_config(self):
        return {"approximate": self.approximate}


class Softplus(_Activation):
    r""":math:`y = \log(1 + e^{\beta x}) / \beta`, or ``x`` where :math:`\beta x >` threshold
    (PyTorch's ``nn.Softplus``)."""

    _forward, _backward = staticmethod(S.softplus_forward), staticmethod(S.softplus_backward)

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = S.check_real(beta, "beta", positive=True)
        self.threshold = S.check_real(threshold, "threshold")

    def _args(self):
        return (self.beta, self.threshold)

    def get_config(self):
        return {"beta": self.beta, "threshold": self.threshold}
