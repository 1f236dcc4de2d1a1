r"""Losses as ops: a scalar (a 0-d array) from predictions and targets, and its gradient.

Each is the mean PyTorch's ``reduction='mean'`` takes; ``dy`` is the upstream gradient of the
scalar (a 0-d array, 1 for the loss itself). Loop twins in
:mod:`minidl.functional.losses_naive`.

- :func:`multi_margin_loss`: the multiclass hinge (SVM) loss of CS231n, divided by the number
  of classes C as ``torch.nn.functional.multi_margin_loss`` divides it (CS231n's is C times it);
- :func:`binary_cross_entropy`: on probabilities, with PyTorch's log clamped at -100;
- :func:`binary_cross_entropy_with_logits`: on logits, never :math:`\log 0` nor an overflow;
- :func:`cross_entropy_probs`: :math:`-\frac1N\sum_i \log p_{i y_i}` on probabilities (a course's
  softmax followed by a log; PyTorch: ``nll_loss(log(p), y)``);
- :func:`cross_entropy_onehot`: softmax cross entropy of logits against class-probability
  targets, one-hot in particular (PyTorch's ``cross_entropy`` with a float target).
"""

from dataclasses import dataclass

import numpy as np

from minidl._validation import check_float_array, check_nonnegative
from minidl.functional.activations import log_softmax, sigmoid
from minidl.functional.contract import InputGrad, check_cache, check_grad

LOG_CLAMP = -100.0  # PyTorch clamps binary_cross_entropy's logs at -100 (no inf for p = 0)
BCE_EPSILON = 1e-12  # and its backward's denominator p (1 - p) at 1e-12


@dataclass(frozen=True)
class LossCache:
    """The prediction, the target and the op's own argument."""

    x: np.ndarray
    target: np.ndarray
    margin: float = 1.0


def check_prediction(x, fn, ndim=None):
    x = check_float_array(x, f"{fn} x", ndim=ndim, finite=True)
    if x.size == 0:
        raise ValueError(f"{fn} x must not be empty, got shape {x.shape}")
    return x


def check_labels(target, x, fn):
    """Integer class labels (N,), each in [0, K) for ``x`` of shape (N, K)."""
    target = np.asarray(target)
    if target.dtype == bool or not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"{fn} target must hold integer class labels, got dtype {target.dtype}")
    if target.shape != x.shape[:1]:
        raise ValueError(f"{fn} target must have shape ({x.shape[0]},), got {target.shape}")
    if target.min() < 0 or target.max() >= x.shape[1]:
        raise ValueError(f"{fn} target labels must be in [0, {x.shape[1]}), got "
                         f"[{target.min()}, {target.max()}]")  # fmt: skip
    return target


def check_float_target(target, x, fn, unit=True):
    """A float target of x's shape (in [0, 1] if ``unit``), cast to x's dtype."""
    t = check_float_array(target, f"{fn} target", finite=True)
    if t.shape != x.shape:
        raise ValueError(f"{fn} target must have x's shape {x.shape}, got {t.shape}")
    if unit and (t.min() < 0 or t.max() > 1):
        raise ValueError(f"{fn} target must lie in [0, 1], got [{t.min()}, {t.max()}]")
    return t.astype(x.dtype, copy=False)


def check_scalar_dy(dy, cache, fn):
    """``dy`` as a scalar of the prediction's dtype: the loss's shape () exactly (the
    contract's shared checks), the cache a LossCache."""
    cache = check_cache(cache, LossCache, fn)
    return cache.x.dtype.type(check_grad(dy, (), None, fn))


def check_unit_interval(x, fn):
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"{fn} x must hold probabilities in [0, 1], got [{x.min()}, {x.max()}]")
    return x


def _scalar(value, x):
    return np.asarray(value, dtype=x.dtype)


# ---------------------------------------------------------------- multiclass hinge
def multi_margin_loss(x, target, margin=1.0):
    r""":math:`L = \frac1N \sum_i \frac1C \sum_{j \ne y_i} \max(0, \Delta - x_{i y_i} + x_{ij})`.

    Shape: x (N, C) scores, target (N,) integer labels -> a scalar.
    """
    return multi_margin_loss_forward(x, target, margin)[0]


def multi_margin_loss_forward(x, target, margin=1.0):
    """:func:`multi_margin_loss` and its cache."""
    x = check_prediction(x, "multi_margin_loss", ndim=2)
    target = check_labels(target, x, "multi_margin_loss")
    margin = check_nonnegative(margin, "margin")
    n, c = x.shape
    hinge = np.maximum(0, margin - x[np.arange(n), target][:, None] + x)
    hinge[np.arange(n), target] = 0  # j = y_i is not a term
    return _scalar(hinge.sum() / (n * c), x), LossCache(x, target, margin)


def multi_margin_loss_backward(dy, cache):
    r"""With :math:`h_{ij} = [\Delta - x_{iy_i} + x_{ij} > 0]` (:math:`j \ne y_i`):
    :math:`dx_{ij} = dy\, h_{ij} / (NC)` and
    :math:`dx_{iy_i} = -dy \sum_{j \ne y_i} h_{ij} / (NC)`."""
    dy = check_scalar_dy(dy, cache, "multi_margin_loss_backward")
    x, target = cache.x, cache.target
    n, c = x.shape
    rows = np.arange(n)
    active = (cache.margin - x[rows, target][:, None] + x > 0).astype(x.dtype)
    active[rows, target] = 0
    active[rows, target] = -active.sum(axis=1)
    return InputGrad(active * (dy / (n * c)))


# ---------------------------------------------------------------- binary cross entropy
def binary_cross_entropy(x, target):
    r""":math:`L = -\frac1M \sum_j [t_j \log p_j + (1 - t_j) \log(1 - p_j)]` on probabilities
    ``x`` = :math:`p`, each log clamped at -100 (PyTorch). Shape: x, target (any, equal)."""
    return binary_cross_entropy_forward(x, target)[0]


def binary_cross_entropy_forward(x, target):
    """:func:`binary_cross_entropy` and its cache."""
    x = check_unit_interval(check_prediction(x, "binary_cross_entropy"), "binary_cross_entropy")
    t = check_float_target(target, x, "binary_cross_entropy")
    with np.errstate(divide="ignore"):  # log(0) = -inf, then clamped
        log_p = np.maximum(np.log(x), LOG_CLAMP)
        log_q = np.maximum(np.log1p(-x), LOG_CLAMP)
    return _scalar(-np.mean(t * log_p + (1 - t) * log_q), x), LossCache(x, t)


def binary_cross_entropy_backward(dy, cache):
    r""":math:`dx_j = dy\, \frac{p_j - t_j}{\max(p_j (1 - p_j), 10^{-12})\, M}`
    (PyTorch's guard against a zero denominator)."""
    dy = check_scalar_dy(dy, cache, "binary_cross_entropy_backward")
    p, t = cache.x, cache.target
    return InputGrad(dy * (p - t) / (np.maximum(p * (1 - p), BCE_EPSILON) * p.size))


def binary_cross_entropy_with_logits(x, target):
    r""":math:`L = \frac1M \sum_j [\max(z_j, 0) - z_j t_j + \log(1 + e^{-|z_j|})]`, the binary
    cross entropy of :math:`\sigma(z)` rewritten without :math:`\log 0` or overflow."""
    return binary_cross_entropy_with_logits_forward(x, target)[0]


def binary_cross_entropy_with_logits_forward(x, target):
    """:func:`binary_cross_entropy_with_logits` and its cache."""
    x = check_prediction(x, "binary_cross_entropy_with_logits")
    t = check_float_target(target, x, "binary_cross_entropy_with_logits")
    loss = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
    return _scalar(np.mean(loss), x), LossCache(x, t)


def binary_cross_entropy_with_logits_backward(dy, cache):
    r""":math:`dx_j = dy\, (\sigma(z_j) - t_j) / M`."""
    dy = check_scalar_dy(dy, cache, "binary_cross_entropy_with_logits_backward")
    return InputGrad(dy * (sigmoid(cache.x) - cache.target) / cache.x.size)


# ---------------------------------------------------------------- cross entropy
def cross_entropy_probs(x, target):
    r""":math:`L = -\frac1N \sum_i \log p_{i y_i}` on probabilities ``x`` = :math:`p` (N, K)
    (a softmax's output) and integer labels (N,); :math:`\log 0 = -\infty` is not hidden."""
    return cross_entropy_probs_forward(x, target)[0]


def cross_entropy_probs_forward(x, target):
    """:func:`cross_entropy_probs` and its cache."""
    x, target = _check_probs(x, target)
    with np.errstate(divide="ignore"):
        picked = np.log(x[np.arange(x.shape[0]), target])
    return _scalar(-np.mean(picked), x), LossCache(x, target)


def _check_probs(x, target):
    """Only the picked probabilities must lie in [0, 1]: the others are never read (and a
    gradient check moves the tiny ones below 0)."""
    x = check_prediction(x, "cross_entropy_probs", ndim=2)
    target = check_labels(target, x, "cross_entropy_probs")
    check_unit_interval(x[np.arange(x.shape[0]), target], "cross_entropy_probs")
    return x, target


def cross_entropy_probs_backward(dy, cache):
    r""":math:`dp_{ik} = -dy\, [k = y_i] / (N p_{ik})`."""
    dy = check_scalar_dy(dy, cache, "cross_entropy_probs_backward")
    p, target = cache.x, cache.target
    n = p.shape[0]
    dx = np.zeros_like(p)
    with np.errstate(divide="ignore"):
        dx[np.arange(n), target] = -dy / (n * p[np.arange(n), target])
    return InputGrad(dx)


def cross_entropy_onehot(x, target):
    r""":math:`L = -\frac1N \sum_{i,k} t_{ik} \log \mathrm{softmax}(z_i)_k` for logits ``x`` =
    :math:`z` (N, K) and targets :math:`t` (N, K): one-hot rows, or any class probabilities."""
    return cross_entropy_onehot_forward(x, target)[0]


def cross_entropy_onehot_forward(x, target):
    """:func:`cross_entropy_onehot` and its cache (the log-softmax, log-sum-exp stable)."""
    x = check_prediction(x, "cross_entropy_onehot", ndim=2)
    t = check_float_target(target, x, "cross_entropy_onehot")
    logp = log_softmax(x, axis=1)
    return _scalar(-np.sum(t * logp) / x.shape[0], x), LossCache(logp, t)


def cross_entropy_onehot_backward(dy, cache):
    r""":math:`dz_{ik} = dy\, (p_{ik} \sum_m t_{im} - t_{ik}) / N` (:math:`p_{ik} - t_{ik}` for
    rows of t summing to 1); the cache holds :math:`\log p`."""
    dy = check_scalar_dy(dy, cache, "cross_entropy_onehot_backward")
    logp, t = cache.x, cache.target
    return InputGrad(dy * (np.exp(logp) * t.sum(axis=1, keepdims=True) - t) / logp.shape[0])
