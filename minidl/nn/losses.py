r"""Losses: a scalar from the network's raw outputs, and its gradient with respect to them.

Every loss here is an object used in two steps, like a layer with no parameters::

    crit = CrossEntropyLoss()
    loss = crit(logits, target)     # a Python float: the mean over the batch
    dlogits = crit.backward()       # d loss / d logits, already divided by N

All three take *raw* outputs (logits), never probabilities: fusing the softmax or sigmoid into
the loss is what makes it stable (log-sum-exp, no ``log(0)``, no overflow at logits of +-1000)
and gives the simple gradients ``softmax(z) - q`` and ``sigmoid(z) - y``. The reduction is
PyTorch's ``reduction='mean'``: over the batch for ``CrossEntropyLoss``, over every element
for ``MSELoss`` and ``BCEWithLogitsLoss``. ``cross_entropy_naive`` below is the cross entropy
as a plain loop over samples and classes; tests hold it equal to the vectorized version.
"""

import math
import numbers

import numpy as np

from minidl._validation import check_float_array, check_fraction

# log p = (z - m) - log sum_j exp(z_j - m), m the row maximum: every exponent <= 0, so nothing
# overflows, and the largest term is exactly 1, so the log never sees 0 (log-sum-exp)
from minidl.functional.activations import log_softmax
from minidl.functional.losses import (
    binary_cross_entropy_with_logits_backward,
    binary_cross_entropy_with_logits_forward,
)


def check_logits(z, name, cls, ndim=None):
    """Float, finite (a NaN would silently poison the mean) and non-empty (mean of nothing)."""
    z = check_float_array(z, f"{cls} {name}", ndim=ndim, finite=True)
    if z.size == 0:
        raise ValueError(f"{cls} {name} must not be empty, got shape {z.shape}")
    return z


class Loss:
    """Base of the losses: ``crit(z, y)`` is ``crit.forward(z, y)``; backward needs a forward."""

    def __init__(self):
        self._cache = None

    def __call__(self, logits, target):
        return self.forward(logits, target)

    def _cached(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._cache

    def __repr__(self):
        return f"{type(self).__name__}()"


class CrossEntropyLoss(Loss):
    r"""Softmax cross entropy from logits, with integer class labels (PyTorch's definition).

    For logits :math:`z \in \mathbb{R}^{N \times K}`, labels :math:`y_i \in \{0..K-1\}` and
    label smoothing :math:`\varepsilon`, the target distribution is
    :math:`q_{ik} = (1 - \varepsilon)[k = y_i] + \varepsilon / K` and

    .. math::

        L = -\frac{1}{N} \sum_i \sum_k q_{ik} \log p_{ik}, \qquad
        p_{ik} = \frac{e^{z_{ik}}}{\sum_j e^{z_{ij}}}, \qquad
        \frac{\partial L}{\partial z_{ik}} = \frac{p_{ik} - q_{ik}}{N}.

    With :math:`\varepsilon = 0` this is :math:`-\frac{1}{N}\sum_i \log p_{i y_i}`. ``log p`` is
    computed by :func:`log_softmax` (log-sum-exp), so logits of +-1000 give finite values.

    Parameters
    ----------
    label_smoothing : float in [0, 1]
        :math:`\varepsilon` above, as ``torch.nn.CrossEntropyLoss(label_smoothing=...)``.
    """

    def __init__(self, label_smoothing=0.0):
        super().__init__()
        self.label_smoothing = check_fraction(label_smoothing, "label_smoothing")

    def forward(self, logits, target):
        """Mean cross entropy of ``logits`` (N, K) against integer labels ``target`` (N,)."""
        z = check_logits(logits, "logits", "CrossEntropyLoss", ndim=2)
        y = _check_labels(target, z.shape)
        n, k = z.shape
        logp = log_softmax(z)
        eps = self.label_smoothing
        q = np.full_like(z, eps / k)
        q[np.arange(n), y] += 1.0 - eps
        loss = -np.sum(q * logp) / n
        self._cache = (logp, q)
        return float(loss)

    def backward(self):
        """``dL/dz = (softmax(z) - q) / N``, in the dtype of the logits."""
        logp, q = self._cached()
        return (np.exp(logp) - q) / logp.shape[0]

    def __repr__(self):
        return f"CrossEntropyLoss(label_smoothing={self.label_smoothing})"


def _check_labels(target, logits_shape):
    """Integer labels of shape (N,), each in [0, K); float labels are a TypeError."""
    n, k = logits_shape
    if not isinstance(target, np.ndarray):
        if isinstance(target, (list, tuple, numbers.Number)):
            target = np.asarray(target)
        else:
            raise TypeError(
                f"CrossEntropyLoss target must be an integer ndarray, got {type(target).__name__}"
            )
    if target.dtype == bool or not np.issubdtype(target.dtype, np.integer):
        raise TypeError(
            f"CrossEntropyLoss target must hold integer class labels, got dtype {target.dtype}"
            " (class probabilities are not supported)"
        )
    if target.shape != (n,):
        raise ValueError(
            f"CrossEntropyLoss target must have shape ({n},) to match logits {logits_shape}, "
            f"got {target.shape}"
        )
    if n and (target.min() < 0 or target.max() >= k):
        bad = target[(target < 0) | (target >= k)][0]
        raise ValueError(f"CrossEntropyLoss target labels must be in [0, {k}), got {bad}")
    return target


def cross_entropy_naive(logits, target, label_smoothing=0.0):
    r"""The cross entropy of :class:`CrossEntropyLoss` as plain loops (a readable twin).

    :math:`L = -\frac1N \sum_i \sum_k q_{ik} (z_{ik} - m_i - \log\sum_j e^{z_{ij} - m_i})`.
    """
    n, k = logits.shape
    total = 0.0
    for i in range(n):
        m = max(float(v) for v in logits[i])
        lse = m + math.log(sum(math.exp(float(v) - m) for v in logits[i]))
        for c in range(k):
            q = (1.0 - label_smoothing) * (c == target[i]) + label_smoothing / k
            total -= q * (float(logits[i, c]) - lse)
    return total / n


class MSELoss(Loss):
    r"""Mean squared error over every element (PyTorch's ``reduction='mean'``).

    For :math:`x, y` with :math:`M` elements in total,

    .. math:: L = \frac{1}{M} \sum_j (x_j - y_j)^2, \qquad
              \frac{\partial L}{\partial x_j} = \frac{2 (x_j - y_j)}{M}.

    ``target`` must have the shape of the input; a target of the other float precision is cast
    to the input's dtype.
    """

    def forward(self, prediction, target):
        x = check_logits(prediction, "input", "MSELoss")
        y = _check_float_target(target, x, "MSELoss")
        diff = x - y
        self._cache = diff
        return float(np.mean(diff * diff))

    def backward(self):
        diff = self._cached()
        return 2.0 * diff / diff.size


class BCEWithLogitsLoss(Loss):
    r"""Binary cross entropy from logits, averaged over every element.

    With :math:`\sigma(z) = 1 / (1 + e^{-z})` and targets :math:`y \in [0, 1]`, the loss
    :math:`-[y \log\sigma(z) + (1 - y)\log(1 - \sigma(z))]` is rewritten without any
    :math:`\log 0` or overflowing exponential as

    .. math:: \ell(z, y) = \max(z, 0) - z y + \log(1 + e^{-|z|}), \qquad
              L = \frac{1}{M}\sum_j \ell(z_j, y_j), \qquad
              \frac{\partial L}{\partial z_j} = \frac{\sigma(z_j) - y_j}{M}.

    Both are :func:`minidl.functional.binary_cross_entropy_with_logits` (the op, with its loop
    twin); the sigmoid in the gradient never evaluates a positive exponent.
    """

    def forward(self, logits, target):
        z = check_logits(logits, "logits", "BCEWithLogitsLoss")
        y = _check_float_target(target, z, "BCEWithLogitsLoss")
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(
                f"BCEWithLogitsLoss target must lie in [0, 1], got values in [{y.min()}, {y.max()}]"
            )
        loss, self._cache = binary_cross_entropy_with_logits_forward(z, y)
        return float(loss)

    def backward(self):
        cache = self._cached()
        return binary_cross_entropy_with_logits_backward(np.ones((), cache.x.dtype), cache).dx


def _check_float_target(target, x, cls):
    y = check_float_array(target, f"{cls} target", finite=True)
    if y.shape != x.shape:
        raise ValueError(f"{cls} target must have the input's shape {x.shape}, got shape {y.shape}")
    return y.astype(x.dtype, copy=False)
