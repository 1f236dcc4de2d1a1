r"""Loop twins of :mod:`minidl.functional.losses`: each sum over samples and classes written out
with :mod:`math` (same arguments, caches and gradients)."""

import math

import numpy as np

from minidl._validation import check_nonnegative
from minidl.functional.contract import InputGrad
from minidl.functional.losses import (
    BCE_EPSILON,
    LOG_CLAMP,
    LossCache,
    _check_probs,
    check_float_target,
    check_labels,
    check_prediction,
    check_scalar_dy,
    check_unit_interval,
)


def multi_margin_loss_forward_naive(x, target, margin=1.0):
    """Loop twin of :func:`multi_margin_loss_forward`."""
    x = check_prediction(x, "multi_margin_loss", ndim=2)
    target = check_labels(target, x, "multi_margin_loss")
    margin = check_nonnegative(margin, "margin")
    n, c = x.shape
    total = 0.0
    for i in range(n):
        y = target[i]
        for j in range(c):
            if j != y:
                total += max(0.0, margin - float(x[i, y]) + float(x[i, j]))
    return np.asarray(total / (n * c), dtype=x.dtype), LossCache(x, target, margin)


def multi_margin_loss_backward_naive(dy, cache):
    """Loop twin of :func:`multi_margin_loss_backward`: each active hinge term sends
    ``+dy/(NC)`` to its class and ``-dy/(NC)`` to the true class."""
    dy = check_scalar_dy(dy, cache, "multi_margin_loss_backward")
    x, target = cache.x, cache.target
    n, c = x.shape
    dx = np.zeros_like(x)
    for i in range(n):
        y = target[i]
        for j in range(c):
            if j != y and cache.margin - x[i, y] + x[i, j] > 0:
                dx[i, j] += dy / (n * c)
                dx[i, y] -= dy / (n * c)
    return InputGrad(dx)


def _clamped_log(v):
    return LOG_CLAMP if v <= 0 else max(math.log(v), LOG_CLAMP)


def binary_cross_entropy_forward_naive(x, target):
    """Loop twin of :func:`binary_cross_entropy_forward`."""
    x = check_unit_interval(check_prediction(x, "binary_cross_entropy"), "binary_cross_entropy")
    t = check_float_target(target, x, "binary_cross_entropy")
    total = 0.0
    for i in np.ndindex(x.shape):
        p, ti = float(x[i]), float(t[i])
        total -= ti * _clamped_log(p) + (1 - ti) * _clamped_log(1 - p)
    return np.asarray(total / x.size, dtype=x.dtype), LossCache(x, t)


def binary_cross_entropy_backward_naive(dy, cache):
    """Loop twin of :func:`binary_cross_entropy_backward`."""
    dy = check_scalar_dy(dy, cache, "binary_cross_entropy_backward")
    p, t = cache.x, cache.target
    dx = np.empty_like(p)
    for i in np.ndindex(p.shape):
        dx[i] = dy * (p[i] - t[i]) / (max(p[i] * (1 - p[i]), BCE_EPSILON) * p.size)
    return InputGrad(dx)


def binary_cross_entropy_with_logits_forward_naive(x, target):
    """Loop twin of :func:`binary_cross_entropy_with_logits_forward`."""
    x = check_prediction(x, "binary_cross_entropy_with_logits")
    t = check_float_target(target, x, "binary_cross_entropy_with_logits")
    total = 0.0
    for i in np.ndindex(x.shape):
        z = float(x[i])
        total += max(z, 0.0) - z * float(t[i]) + math.log1p(math.exp(-abs(z)))
    return np.asarray(total / x.size, dtype=x.dtype), LossCache(x, t)


def binary_cross_entropy_with_logits_backward_naive(dy, cache):
    """Loop twin of :func:`binary_cross_entropy_with_logits_backward`."""
    dy = check_scalar_dy(dy, cache, "binary_cross_entropy_with_logits_backward")
    dx = np.empty_like(cache.x)
    for i in np.ndindex(dx.shape):
        z = float(cache.x[i])
        e = math.exp(-abs(z))
        sig = 1 / (1 + e) if z >= 0 else e / (1 + e)
        dx[i] = dy * (sig - cache.target[i]) / dx.size
    return InputGrad(dx)


def cross_entropy_probs_forward_naive(x, target):
    """Loop twin of :func:`cross_entropy_probs_forward`."""
    x, target = _check_probs(x, target)
    n = x.shape[0]
    total = 0.0
    for i in range(n):
        p = float(x[i, target[i]])
        total -= math.log(p) if p > 0 else -math.inf
    return np.asarray(total / n, dtype=x.dtype), LossCache(x, target)


def cross_entropy_probs_backward_naive(dy, cache):
    """Loop twin of :func:`cross_entropy_probs_backward`."""
    dy = check_scalar_dy(dy, cache, "cross_entropy_probs_backward")
    p, target = cache.x, cache.target
    n, k = p.shape
    dx = np.zeros_like(p)
    for i in range(n):
        for c in range(k):
            if c == target[i]:
                dx[i, c] = -dy / (n * p[i, c]) if p[i, c] > 0 else -math.inf * dy
    return InputGrad(dx)


def cross_entropy_onehot_forward_naive(x, target):
    """Loop twin of :func:`cross_entropy_onehot_forward`, one log-sum-exp per row."""
    x = check_prediction(x, "cross_entropy_onehot", ndim=2)
    t = check_float_target(target, x, "cross_entropy_onehot")
    n, k = x.shape
    logp = np.empty_like(x)
    total = 0.0
    for i in range(n):
        m = max(float(v) for v in x[i])
        lse = m + math.log(sum(math.exp(float(v) - m) for v in x[i]))
        for c in range(k):
            logp[i, c] = float(x[i, c]) - lse
            total -= float(t[i, c]) * logp[i, c]
    return np.asarray(total / n, dtype=x.dtype), LossCache(logp, t)


def cross_entropy_onehot_backward_naive(dy, cache):
    """Loop twin of :func:`cross_entropy_onehot_backward`."""
    dy = check_scalar_dy(dy, cache, "cross_entropy_onehot_backward")
    logp, t = cache.x, cache.target
    n, k = logp.shape
    dx = np.empty_like(logp)
    for i in range(n):
        mass = sum(float(v) for v in t[i])
        for c in range(k):
            dx[i, c] = dy * (math.exp(logp[i, c]) * mass - t[i, c]) / n
    return InputGrad(dx)
