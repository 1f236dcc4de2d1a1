r"""Loop twins of :mod:`minidl.functional.pool`: each pooling formula as plain Python loops.

For every output element ``(n, c, o)`` the window's positions inside ``x`` are enumerated in
raster order (:func:`_window_positions`); max takes the first largest value, average divides the
in-``x`` sum by the window size counting zero padding but not the ceil-mode overhang past
:math:`L + p` (:func:`_window_divisor`, PyTorch's ``count_include_pad=True``). Slow on purpose:
they exist so tests can hold the vectorized versions to the formulas (float64, ~1e-12). Same
signatures, same ``(y, cache)`` / ``*_backward(dy, cache)`` convention; the cache here keeps
``x`` itself.
"""

import itertools
import math

import numpy as np

from minidl._validation import check_float_array
from minidl.functional.pool_windows import _check_args, _check_dy


def _window_positions(o, kernel, stride, padding, spatial):
    """Input positions of window ``o`` that lie inside x, in raster order."""
    ranges = (
        range(max(oi * s - p, 0), min(oi * s - p + k, L))
        for oi, k, s, p, L in zip(o, kernel, stride, padding, spatial, strict=True)
    )
    return itertools.product(*ranges)


def _window_divisor(o, kernel, stride, padding, spatial):
    """Window size counting padding but not the ceil-mode overhang past L + p (PyTorch)."""
    size = 1
    for oi, k, s, p, L in zip(o, kernel, stride, padding, spatial, strict=True):
        size *= min(oi * s - p + k, L + p) - (oi * s - p)
    return size


def _naive_setup(x, kernel_size, stride, padding, ceil_mode, where):
    x = check_float_array(x, "x")
    k, s, p, out = _check_args(x.shape, kernel_size, stride, padding, ceil_mode, where=where)
    cache = {"x": x, "x_shape": x.shape, "kernel": k, "stride": s, "padding": p, "out": out}
    return x, cache


def _naive_loops(cache):
    """(n, c, o) for every output element."""
    n_, c_ = cache["x_shape"][:2]
    return itertools.product(range(n_), range(c_), itertools.product(*map(range, cache["out"])))


def _first_max(x, n, c, o, cache):
    """Position of the first (raster-order) maximum of window ``o`` and its value."""
    best, where = -math.inf, None
    for t in _window_positions(o, cache["kernel"], cache["stride"], cache["padding"], x.shape[2:]):
        if x[(n, c) + t] > best:
            best, where = x[(n, c) + t], t
    return where, best


def max_pool_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_cache=False):
    """Loop twin of :func:`max_pool`: the max over each window's positions inside x."""
    x, cache = _naive_setup(x, kernel_size, stride, padding, ceil_mode, "max_pool_naive")
    y = np.empty(x.shape[:2] + cache["out"], dtype=x.dtype)
    for n, c, o in _naive_loops(cache):
        y[(n, c) + o] = _first_max(x, n, c, o, cache)[1]
    return (y, cache) if return_cache else y


def max_pool_backward_naive(dy, cache):
    """Loop twin of :func:`max_pool_backward`: dx[first max of window o] += dy[o]."""
    dy = _check_dy(dy, cache)
    x = cache["x"]
    dx = np.zeros_like(x)
    for n, c, o in _naive_loops(cache):
        t = _first_max(x, n, c, o, cache)[0]
        dx[(n, c) + t] += dy[(n, c) + o]
    return dx


def avg_pool_naive(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_cache=False):
    """Loop twin of :func:`avg_pool`: the sum over each window inside x over its divisor."""
    x, cache = _naive_setup(x, kernel_size, stride, padding, ceil_mode, "avg_pool_naive")
    y = np.empty(x.shape[:2] + cache["out"], dtype=x.dtype)
    geometry = (cache["kernel"], cache["stride"], cache["padding"], x.shape[2:])
    for n, c, o in _naive_loops(cache):
        total = 0.0
        for t in _window_positions(o, *geometry):
            total += x[(n, c) + t]
        y[(n, c) + o] = total / _window_divisor(o, *geometry)
    return (y, cache) if return_cache else y


def avg_pool_backward_naive(dy, cache):
    """Loop twin of :func:`avg_pool_backward`: dx[t] += dy[o] / divisor(o) for t in window o."""
    dy = _check_dy(dy, cache)
    x = cache["x"]
    dx = np.zeros_like(x)
    geometry = (cache["kernel"], cache["stride"], cache["padding"], x.shape[2:])
    for n, c, o in _naive_loops(cache):
        share = dy[(n, c) + o] / _window_divisor(o, *geometry)
        for t in _window_positions(o, *geometry):
            dx[(n, c) + t] += share
    return dx


def global_avg_pool_naive(x, return_cache=False):
    """Loop twin of :func:`global_avg_pool`."""
    x = check_float_array(x, "x", ndim=(3, 4, 5))
    y = np.empty(x.shape[:2], dtype=x.dtype)
    positions = list(itertools.product(*map(range, x.shape[2:])))
    for n, c in itertools.product(*map(range, x.shape[:2])):
        total = 0.0
        for t in positions:
            total += x[(n, c) + t]
        y[n, c] = total / len(positions)
    cache = {"x_shape": x.shape, "dtype": x.dtype, "out": ()}
    return (y, cache) if return_cache else y


def global_avg_pool_backward_naive(dy, cache):
    """Loop twin of :func:`global_avg_pool_backward`."""
    dy = _check_dy(dy, cache)
    shape = cache["x_shape"]
    dx = np.zeros(shape, dtype=cache["dtype"])
    positions = list(itertools.product(*map(range, shape[2:])))
    for n, c in itertools.product(*map(range, shape[:2])):
        for t in positions:
            dx[(n, c) + t] = dy[n, c] / len(positions)
    return dx
