"""``Dropout(p)``: inverted dropout in training, the identity in evaluation.

The formula is in :mod:`minidl.functional.dropout`. The layer owns one generator, drawn once
at construction, so a seeded layer gives a reproducible *sequence* of masks (an int seed is not
re-seeded at every call, which would repeat one mask forever); ``rng=None`` uses the package
generator that ``minidl.seed`` resets.
"""

import numpy as np

from minidl._rng import get_rng
from minidl._validation import check_fraction
from minidl.functional.dropout import dropout_backward, dropout_forward
from minidl.layers.base import Layer, elementwise_cost


class Dropout(Layer):
    r"""Zero each element with probability ``p`` and scale the rest by :math:`1/(1-p)`.

    Parameters
    ----------
    p : float in [0, 1)
    rng : numpy.random.Generator, int seed or None
    """

    samples_apart = False  # one generator draws every mask in order (Layer.samples_apart)

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        self.p = check_fraction(p, "p", high_open=True)
        # resolve an int seed once; None stays None so minidl.seed() keeps working
        self.rng = None if rng is None else get_rng(rng)

    def forward(self, x):
        y, self._cache = dropout_forward(self._check_input(x), self.p, self.training, self.rng)
        return y

    def backward(self, dy):
        dy = self._check_grad(dy, None if self._cache is None else self._cache.shape)
        return dropout_backward(dy, self._cache).dx

    def cost(self, input_shape, dtype=np.float32):
        """No arithmetic counted (the identity at inference); the mask is cached when p > 0."""
        return elementwise_cost(input_shape, dtype, 0, cached=self.p > 0)

    def get_config(self):
        return {"p": self.p}
