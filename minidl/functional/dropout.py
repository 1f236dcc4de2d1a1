r"""Inverted dropout: zero each activation with probability ``p`` and rescale the survivors.

At training time, with a mask :math:`m_i \sim \mathrm{Bernoulli}(1 - p)` drawn from an
explicit generator,

.. math:: y_i = \frac{m_i}{1 - p}\, x_i, \qquad
          \mathbb{E}[y_i] = \frac{(1 - p)\, x_i}{1 - p} = x_i,

so the expected activation is unchanged and evaluation is the identity, :math:`y = x`: no
rescaling is needed at test time ("inverted" dropout, as PyTorch and Keras; the original
paper scaled the weights by :math:`1 - p` at test time instead). The backward multiplies by
the same scaled mask, :math:`dx_i = dy_i\, m_i / (1 - p)`.
"""

import numpy as np

from minidl._rng import get_rng
from minidl._validation import check_float_array, check_fraction


def dropout_mask(shape, p, dtype=np.float32, rng=None):
    r"""The scaled mask :math:`m / (1 - p)`: entries are 0 (probability ``p``) or
    :math:`1/(1-p)`. Keeping an element means its uniform draw :math:`u \ge p`."""
    p = check_fraction(p, "p", high_open=True)
    u = get_rng(rng).random(shape, dtype=np.dtype(dtype).type)
    return (u >= p).astype(dtype) * np.dtype(dtype).type(1.0 / (1.0 - p))


def dropout(x, p=0.5, training=True, rng=None):
    r"""Inverted dropout. Returns ``(y, mask)``; ``mask`` is None when nothing was dropped.

    Parameters
    ----------
    x : ndarray, float32 or float64
    p : float in [0, 1)
        Probability of zeroing an element (``p = 1`` would divide by zero and is rejected).
    training : bool
        ``False`` (evaluation) returns ``x`` unchanged: :math:`y = x`.
    rng : numpy.random.Generator, int seed or None
        Where the mask comes from; the same seed gives the same mask.
    """
    x = check_float_array(x, "dropout x")
    p = check_fraction(p, "p", high_open=True)
    if not training or p == 0.0:
        return x, None
    mask = dropout_mask(x.shape, p, dtype=x.dtype, rng=rng)
    return x * mask, mask


def dropout_backward(dy, mask):
    r""":math:`dx = dy \cdot m / (1 - p)`, with the mask the forward returned (None: identity)."""
    if mask is None:
        return dy
    if mask.shape != dy.shape:
        raise ValueError(
            f"dropout_backward: dy must have the mask's shape {mask.shape}, got {dy.shape}"
        )
    return dy * mask
