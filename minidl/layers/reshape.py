"""``Flatten``: ``(N, d1, d2, ...)`` -> ``(N, d1 * d2 * ...)``, the bridge from conv to dense.

Flattening is a reshape in C order, which matches PyTorch's ``nn.Flatten`` (start_dim=1) on
channels-first data, so a Dense weight trained in PyTorch after a Flatten loads as is. The
backward is the inverse reshape: every element moves, none changes.
"""

import math

import numpy as np

from minidl.layers.base import Cost, Layer


class Flatten(Layer):
    """Keep the batch axis, merge all others: ``y = x.reshape(N, -1)``; ``dx = dy.reshape``."""

    def forward(self, x):
        x = self._check_input(x)
        if x.ndim < 2:
            raise ValueError(
                f"Flatten input x must be at least 2-dimensional (N, ...), got shape {x.shape}"
            )
        self._cache = x.shape
        # the size, not -1: numpy cannot infer -1 when N = 0 (an empty batch stays empty)
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def backward(self, dy):
        shape = self._cache
        expected = None if shape is None else (shape[0], math.prod(shape[1:]))
        dy = self._check_grad(dy, expected)
        return dy.reshape(shape)

    def output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Flatten expected input_shape (N, ...), got {tuple(input_shape)}")
        return (input_shape[0], math.prod(input_shape[1:]))

    def cost(self, input_shape, dtype=np.float32):
        """A reshape: no arithmetic, nothing cached."""
        self.output_shape(input_shape)
        return Cost(0, 0, 0)
