"""``Dropout(p)``: inverted dropout in training, the identity in evaluation.

The formula is in :mod:`minidl.functional.dropout`. The layer owns one generator, drawn once
at construction, so a seeded layer gives a reproducible *sequence* of masks (an int seed is not
re-seeded at every call, which would repeat one mask forever); ``rng=None`` uses the package
generator that ``minidl.seed`` resets.
"""

from minidl._rng import get_rng
from minidl._validation import check_fraction
from minidl.functional.dropout import dropout, dropout_backward
from minidl.layers.base import Layer


class Dropout(Layer):
    r"""Zero each element with probability ``p`` and scale the rest by :math:`1/(1-p)`.

    Parameters
    ----------
    p : float in [0, 1)
    rng : numpy.random.Generator, int seed or None
    """

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        self.p = check_fraction(p, "p", high_open=True)
        # resolve an int seed once; None stays None so minidl.seed() keeps working
        self.rng = None if rng is None else get_rng(rng)
        self._cache = None

    def forward(self, x):
        x = self._check_input(x)
        y, mask = dropout(x, self.p, training=self.training, rng=self.rng)
        self._cache = (x.shape, mask)
        return y

    def backward(self, dy):
        shape = None if self._cache is None else self._cache[0]
        dy = self._check_grad(dy, shape)
        return dropout_backward(dy, self._cache[1])

    def get_config(self):
        return {"p": self.p}
