r"""``Dense``: the fully connected layer :math:`y = x W^\top + b` (PyTorch's ``nn.Linear``).

The weight has PyTorch's layout ``(out_features, in_features)`` and names ``weight`` /
``bias``, so ``nn.Linear.state_dict()`` arrays load as they are. The formulas and their loop
twins are in :mod:`minidl.functional.dense`.
"""

import numpy as np

from minidl._rng import get_rng
from minidl._validation import check_positive_int
from minidl.functional.dense import dense, dense_backward
from minidl.init import INITIALIZERS, pytorch_default
from minidl.layers.base import Layer, check_dtype


class Dense(Layer):
    r"""Fully connected layer, :math:`y = x W^\top + b`, input ``(N, in_features)``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Learn an additive bias (stored as ``use_bias``; ``params['bias']`` holds the array).
    init : str
        ``'pytorch'`` (PyTorch's default: weight and bias U(-1/sqrt(in), 1/sqrt(in))) or a
        name in :data:`minidl.init.INITIALIZERS` (``'kaiming_uniform'``, ``'xavier_normal'``,
        ...) for the weight, with the bias set to zero.
    dtype : float32 (default) or float64
    rng : numpy.random.Generator, int seed or None
    """

    def __init__(
        self, in_features, out_features, bias=True, init="pytorch", dtype=np.float32, rng=None
    ):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.use_bias = bool(bias)
        if init != "pytorch" and init not in INITIALIZERS:
            known = ", ".join(["'pytorch'"] + [repr(k) for k in INITIALIZERS])
            raise ValueError(f"init must be one of {known}, got {init!r}")
        self.init = init
        dt = check_dtype(dtype)
        rng = get_rng(rng)
        shape = (self.out_features, self.in_features)
        if init == "pytorch":
            weight, b = pytorch_default(shape, bias=self.use_bias, rng=rng, dtype=dt)
        else:
            weight = INITIALIZERS[init](shape, rng=rng, dtype=dt)
            b = np.zeros(self.out_features, dtype=dt) if self.use_bias else None
        self.params["weight"] = weight
        self.grads["weight"] = np.zeros_like(weight)
        if self.use_bias:
            self.params["bias"] = b
            self.grads["bias"] = np.zeros_like(b)
        self._cache = None

    def _check_features(self, x):
        x = self._check_input(x, ndim=2)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"Dense expected input with in_features={self.in_features} columns "
                f"(N, {self.in_features}), got shape {x.shape}"
            )
        return x

    def forward(self, x):
        """:math:`y = x W^T + b`; caches ``x`` for the weight gradient."""
        x = self._check_features(x)
        self._cache = x
        return dense(x, self.params["weight"], self.params.get("bias"))

    def backward(self, dy):
        r""":math:`dx = dy W`; writes :math:`dW = dy^T x` and :math:`db = \sum_n dy_n`."""
        dy = self._check_grad(dy, self._output_shape_cached())
        x = self._cache
        if dy.dtype != x.dtype:
            dy = dy.astype(x.dtype)
        # write into the existing arrays: Sequential's flat grads dict holds views of them
        out = (self.grads["weight"], self.grads.get("bias"))
        dx, _, _ = dense_backward(dy, x, self.params["weight"], bias=self.use_bias, out=out)
        return dx

    def _output_shape_cached(self):
        return None if self._cache is None else (self._cache.shape[0], self.out_features)

    def output_shape(self, input_shape):
        if len(input_shape) != 2 or input_shape[1] != self.in_features:
            raise ValueError(
                f"Dense expected input_shape (N, {self.in_features}), got {tuple(input_shape)}"
            )
        return (input_shape[0], self.out_features)

    def get_config(self):
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.use_bias,
            "init": self.init,
            "dtype": str(self.params["weight"].dtype),
        }
