r"""Loop twins of :mod:`minidl.functional.pool`: each pooling formula as plain Python loops.

For every output element ``(n, c, o)`` the window's positions inside ``x`` are walked in raster
order (the others are padding: ``-inf`` for max, 0 for average). Max keeps the first largest
value and the raster index of its kernel offset, average divides the in-``x`` sum by the
window size counting zero padding but not the ceil-mode overhang past :math:`L + p`
(PyTorch's ``count_include_pad=True``). Slow on purpose: they exist so tests can hold the
vectorized tiers to the formulas (float64, ~1e-12). Same arguments, same caches and gradients as
the other tiers, so a cache from one tier can be handed to another's backward.
"""

import itertools
import math

import numpy as np

from minidl.functional.contract import InputGrad
from minidl.functional.pool import PoolCache, check_dy, check_global_pool_input, check_pool_input


def _outputs(x_shape, out):
    """(n, c, o) for every output element."""
    return itertools.product(
        range(x_shape[0]), range(x_shape[1]), itertools.product(*map(range, out))
    )


def _start(o, win):
    """Input position of window ``o``'s first tap, ``o s - p`` per axis."""
    return [oi * s - lo for oi, s, (lo, _) in zip(o, win.stride, win.pads, strict=True)]


def _positions(o, win):
    """Input positions of window ``o`` that lie inside x, in raster order (the other taps are
    padding, or past it in ceil mode)."""
    ranges = (
        range(max(a, 0), min(a + k, n))
        for a, k, n in zip(_start(o, win), win.kernel, win.in_sizes, strict=True)
    )
    return itertools.product(*ranges)


def _offset_index(t, o, win):
    """Raster index of position ``t``'s kernel offset ``t - start`` in window ``o``."""
    index = 0
    for ti, a, k in zip(t, _start(o, win), win.kernel, strict=True):
        index = index * k + (ti - a)
    return index


def _divisor(o, win):
    """Window size counting padding but not the ceil-mode overhang past L + p (PyTorch)."""
    size = 1
    for oi, k, s, (p, _), n in zip(o, win.kernel, win.stride, win.pads, win.in_sizes, strict=True):
        size *= min(oi * s - p + k, n + p) - (oi * s - p)
    return size


def max_pool_forward_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Loop twin of :func:`max_pool_forward`: the first largest value of each window, and the
    raster index of its offset."""
    x, win = check_pool_input(x, kernel_size, stride, padding, ceil_mode, "max_pool")
    y = np.empty(x.shape[:2] + win.out, dtype=x.dtype)
    argmax = np.zeros(y.shape, dtype=np.min_scalar_type(math.prod(win.kernel) - 1))
    for n, c, o in _outputs(x.shape, win.out):
        best, first = -math.inf, None
        for t in _positions(o, win):
            if x[(n, c) + t] > best:
                best, first = x[(n, c) + t], t
        y[(n, c) + o] = best
        argmax[(n, c) + o] = _offset_index(first, o, win)
    return y, PoolCache(x.shape, x.dtype, win, argmax)


def max_pool_backward_naive(dy, cache):
    """Loop twin of :func:`max_pool_backward`: ``dx[first max of window o] += dy[o]``."""
    dy, win = check_dy(dy, cache, "max_pool_backward"), cache.windows
    dx = np.zeros(cache.x_shape, dtype=cache.dtype)
    for n, c, o in _outputs(cache.x_shape, win.out):
        p = np.unravel_index(cache.argmax[(n, c) + o], win.kernel)  # the first max's offset
        t = tuple(a + q for a, q in zip(_start(o, win), p, strict=True))
        dx[(n, c) + t] += dy[(n, c) + o]
    return InputGrad(dx)


def avg_pool_forward_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Loop twin of :func:`avg_pool_forward`: the sum over each window inside x over its
    divisor."""
    x, win = check_pool_input(x, kernel_size, stride, padding, ceil_mode, "avg_pool")
    y = np.empty(x.shape[:2] + win.out, dtype=x.dtype)
    for n, c, o in _outputs(x.shape, win.out):
        total = 0.0
        for t in _positions(o, win):
            total += x[(n, c) + t]
        y[(n, c) + o] = total / _divisor(o, win)
    return y, PoolCache(x.shape, x.dtype, win)


def avg_pool_backward_naive(dy, cache):
    """Loop twin of :func:`avg_pool_backward`: ``dx[t] += dy[o] / divisor(o)`` for t in window
    o."""
    dy, win = check_dy(dy, cache, "avg_pool_backward"), cache.windows
    dx = np.zeros(cache.x_shape, dtype=cache.dtype)
    for n, c, o in _outputs(cache.x_shape, win.out):
        share = dy[(n, c) + o] / _divisor(o, win)
        for t in _positions(o, win):
            dx[(n, c) + t] += share
    return InputGrad(dx)


def global_avg_pool_forward_naive(x):
    """Loop twin of :func:`global_avg_pool_forward`."""
    x = check_global_pool_input(x)
    y = np.empty(x.shape[:2], dtype=x.dtype)
    positions = list(np.ndindex(*x.shape[2:]))
    for n, c in np.ndindex(*x.shape[:2]):
        total = 0.0
        for t in positions:
            total += x[(n, c) + t]
        y[n, c] = total / len(positions)
    return y, PoolCache(x.shape, x.dtype, None)


def global_avg_pool_backward_naive(dy, cache):
    """Loop twin of :func:`global_avg_pool_backward`."""
    dy, shape = check_dy(dy, cache, "global_avg_pool_backward"), cache.x_shape
    dx = np.zeros(shape, dtype=cache.dtype)
    positions = list(np.ndindex(*shape[2:]))
    for n, c in np.ndindex(*shape[:2]):
        for t in positions:
            dx[(n, c) + t] = dy[n, c] / len(positions)
    return InputGrad(dx)
