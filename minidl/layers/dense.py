r"""``Dense``: the fully connected layer :math:`y = x W^\top + b` (PyTorch's ``nn.Linear``).

The weight has PyTorch's layout ``(out_features, in_features)`` and names ``weight`` /
``bias``, so ``nn.Linear.state_dict()`` arrays load as they are. The formulas and their loop
twins are in :mod:`minidl.functional.dense`.
"""

import numpy as np

from minidl._rng import get_rng
from minidl._validation import check_positive_int
from minidl.functional.dense import dense_backward, dense_forward
from minidl.layers.base import Cost, Layer, check_dtype, per_sample
from minidl.layers.init import check_init, reset_weight_and_bias, weight_and_bias


class Dense(Layer):
    r"""Fully connected layer, :math:`y = x W^\top + b`, input ``(N, in_features)``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Learn an additive bias (stored as ``use_bias``; ``params['bias']`` holds the array).
    init : str
        ``'pytorch'`` (PyTorch's default: weight and bias U(-1/sqrt(in), 1/sqrt(in))) or a
        name in :data:`minidl.layers.init.INITIALIZERS` (``'kaiming_uniform'``, ``'xavier_normal'``,
        ...) for the weight, with the bias set to zero.
    dtype : float32 (default) or float64
    rng : numpy.random.Generator, int seed or None
        Passed to :meth:`reset_parameters`.
    """

    def __init__(
        self, in_features, out_features, bias=True, init="pytorch", dtype=np.float32, rng=None
    ):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.use_bias = bool(bias)
        self.init = check_init(init)
        shape = (self.out_features, self.in_features)
        self.params = weight_and_bias(shape, self.use_bias, check_dtype(dtype))
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._initialize(rng)

    def reset_parameters(self, rng=None):
        """Draw ``weight`` (and ``bias``) by ``init`` from ``rng``, into the existing arrays."""
        reset_weight_and_bias(self.params, self.init, get_rng(rng))

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
        y, self._cache = dense_forward(x, self.params["weight"], self.params.get("bias"))
        return y

    def backward(self, dy):
        r""":math:`dx = dy W`; writes :math:`dW = dy^T x` and :math:`db = \sum_n dy_n`."""
        shape = None if self._cache is None else (self._cache.x.shape[0], self.out_features)
        grads = dense_backward(self._check_grad(dy, shape), self._cache)
        # into the existing arrays: a model's grads dict and an optimizer may hold them
        self.grads["weight"][...] = grads.dweight
        if self.use_bias:
            self.grads["bias"][...] = grads.dbias
        return grads.dx

    def output_shape(self, input_shape):
        if len(input_shape) != 2 or input_shape[1] != self.in_features:
            raise ValueError(
                f"Dense expected input_shape (N, {self.in_features}), got {tuple(input_shape)}"
            )
        return (input_shape[0], self.out_features)

    def cost(self, input_shape, dtype=np.float32):
        """``in x out`` MACs; FLOPs ``2 MACs + out`` (bias adds); the input is cached."""
        self.output_shape(input_shape)
        macs = self.in_features * self.out_features
        flops = 2 * macs + self.out_features * self.use_bias
        return Cost(macs, flops, per_sample(input_shape) * np.dtype(dtype).itemsize)

    def get_config(self):
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.use_bias,
            "init": self.init,
            "dtype": str(self.params["weight"].dtype),
        }
