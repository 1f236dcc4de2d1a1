r"""Max and average pooling over 1, 2 or 3 spatial axes from one N-d core, in three tiers.

Layout is channels first: ``x`` is ``(N, C, *spatial)``. Along each spatial axis of length
:math:`L`, with kernel :math:`k`, stride :math:`s` and symmetric padding :math:`p` (PyTorch's
semantics, which require :math:`p \le k/2`; no dilation), output position :math:`o` sees the
window :math:`[o s - p,\ o s - p + k)` of the input, the output sizes are (3.8) of
:mod:`minidl.functional.windows` (with ``ceil_mode``, PyTorch's rule), and

.. math::
    \text{max:}\ y[n, c, o] = \max_{t \in \text{window}(o)} x[n, c, t]
    \qquad
    \text{avg:}\ y[n, c, o] = \frac{1}{D_o} \sum_{t \in \text{window}(o) \cap [0, L)} x[n, c, t],
    \quad D_o = |\text{window}(o) \cap [-p, L + p)|

Max pooling pads with :math:`-\infty` (padding never wins); average pooling counts the zero
padding in the divisor (PyTorch's default ``count_include_pad=True``) but not the part of a
ceil-mode window that hangs past the right padding, exactly as PyTorch does.

Backward: max sends :math:`\partial L/\partial y` to the *first* maximum of each window in
raster order (PyTorch's rule, so ties give identical gradients); average spreads it evenly,
:math:`\partial L/\partial x_t = \sum_{o \ni t} \partial L/\partial y_o / D_o`.

Three tiers, held equal by the tests: the loops (:mod:`minidl.functional.pool_naive`); the
window view and one reduction (``*_forward_vectorized`` here: read these); and the public
functions, which run the same reductions offset by offset on cache-sized chunks of images
(:mod:`minidl.functional._pool_chunked`). The fixed-rank ops ``max_pool1d`` ... ``avg_pool3d``
are in :mod:`minidl.functional.pool_ranks`.
"""

import math
from dataclasses import dataclass

import numpy as np

from minidl._validation import as_tuple, check_float_array
from minidl.functional import _pool_chunked
from minidl.functional.contract import InputGrad, check_cache, check_grad
from minidl.functional.windows import Windows, window_geometry


@dataclass(frozen=True)
class PoolCache:
    """What a pooling backward needs: shapes, the geometry and, for max pooling, the raster
    index of each window's first maximum (``uint8`` up to 256 taps); never a copy of ``x``."""

    x_shape: tuple
    dtype: np.dtype
    windows: Windows
    argmax: np.ndarray | None = None


def check_pool_args(nd, kernel_size, stride=None, padding=0, ceil_mode=False, where="pool"):
    """``(kernel, stride, padding)`` as ``nd``-tuples, with PyTorch's pooling rules checked:
    ``stride`` defaults to the kernel, ``padding`` is an int or a tuple (no ``'same'``) of at
    most half the kernel, ``ceil_mode`` a bool. The pooling layers check with it too."""
    kernel = as_tuple(kernel_size, nd, "kernel_size")
    stride = kernel if stride is None else as_tuple(stride, nd, "stride")
    if isinstance(padding, str):
        raise TypeError(
            f"{where} padding must be an int or a tuple of {nd} ints for pooling, got {padding!r}"
        )
    padding = as_tuple(padding, nd, "padding", minimum=0)
    if any(2 * p > k for p, k in zip(padding, kernel, strict=True)):
        raise ValueError(
            f"{where} padding must be at most half the kernel_size {kernel}, got padding {padding}"
        )
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{where} ceil_mode must be a bool, got {ceil_mode!r}")
    return kernel, stride, padding


def check_pool_input(x, kernel_size, stride, padding, ceil_mode, where):
    """Validate ``x`` and the arguments; return ``(x, windows)``."""
    x = check_float_array(x, "x")
    if x.ndim not in (3, 4, 5):
        raise ValueError(
            f"{where}: x must be 3-, 4- or 5-dimensional (N, C, 1 to 3 spatial dims), "
            f"got shape {x.shape} ({x.ndim}-D)"
        )
    _check_channels(x, where)
    k, s, p = check_pool_args(x.ndim - 2, kernel_size, stride, padding, ceil_mode, where)
    return x, window_geometry(x.shape[2:], k, s, p, 1, bool(ceil_mode))


def _check_channels(x, where):
    """Zero channels are refused (PyTorch refuses them too); N = 0 is an empty batch."""
    if x.shape[1] == 0:
        raise ValueError(f"{where}: x must have at least 1 channel (axis 1), got shape {x.shape}")


def check_global_pool_input(x, where="global_avg_pool"):
    """``x`` (N, C, *spatial) with C >= 1 and every spatial size >= 1: the mean over no
    positions is 0/0, so an empty spatial axis is refused rather than answered with NaN."""
    x = check_float_array(x, "x", ndim=(3, 4, 5))
    _check_channels(x, where)
    if 0 in x.shape[2:]:
        raise ValueError(
            f"{where}: x must have every spatial size >= 1 (the mean over no positions is "
            f"undefined), got shape {x.shape}"
        )
    return x


def pool_output_shape(input_shape, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Full output shape ``(N, C, *out)`` of max/avg pooling for ``input_shape``."""
    nd = len(input_shape) - 2
    k, s, p = check_pool_args(nd, kernel_size, stride, padding, ceil_mode)
    return tuple(input_shape[:2]) + window_geometry(input_shape[2:], k, s, p, 1, ceil_mode).out


def avg_divisor(win, dtype):
    """:math:`D_o` per output position: the window clipped to :math:`[-p, L + p)`, a product over
    the axes of ``min(o s - p + k, L + p) - (o s - p)``; ``prod(k)`` (a number) when every window
    is whole."""
    counts = []
    for n, k, s, (p, _), o in zip(
        win.in_sizes, win.kernel, win.stride, win.pads, win.out, strict=True
    ):
        start = np.arange(o) * s - p
        counts.append(np.minimum(start + k, n + p) - start)
    if all(np.all(c == k) for c, k in zip(counts, win.kernel, strict=True)):
        return math.prod(win.kernel)
    divisor = np.ones(win.out, dtype=dtype)
    for axis, c in enumerate(counts):
        divisor = divisor * c.reshape([-1 if a == axis else 1 for a in range(len(counts))])
    return divisor.astype(dtype)


def check_dy(dy, cache, name):
    """The contract's checks of a backward's arguments (cache type, dy's dtype and shape)."""
    cache = check_cache(cache, PoolCache, name)
    want = cache.x_shape[:2] + (cache.windows.out if cache.windows else ())
    return check_grad(dy, want, cache.dtype, name)


# ---------------------------------------------------------------------------- max pooling
def max_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max pooling of ``x`` (N, C, *spatial); returns ``y`` (no first-max index is kept)."""
    x, win = check_pool_input(x, kernel_size, stride, padding, ceil_mode, "max_pool")
    return _pool_chunked.max_forward(x, win, with_argmax=False)[0]


def max_pool_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    r"""Max pooling, :math:`y[n, c, o] = \max_{t \in [o s - p,\ o s - p + k)} x[n, c, t]` with
    ``x`` padded by :math:`-\infty`; returns ``(y, cache)``, the cache holding each window's
    first-maximum index."""
    x, win = check_pool_input(x, kernel_size, stride, padding, ceil_mode, "max_pool")
    y, argmax = _pool_chunked.max_forward(x, win, with_argmax=True)
    return y, PoolCache(x.shape, x.dtype, win, argmax)


def max_pool_backward(dy, cache):
    r"""``InputGrad(dx)``: each ``dy[n, c, o]`` goes to its window's first maximum,

    .. math:: \partial L / \partial x_t = \sum_{o:\ t = \text{argmax}_1(o)} \partial L/\partial y_o
    """
    dy = check_dy(dy, cache, "max_pool_backward")
    return InputGrad(_pool_chunked.max_backward(dy, cache.argmax, cache.x_shape, cache.windows))


def max_pool_forward_vectorized(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """The plain version of :func:`max_pool_forward`: a view of every window of the
    -inf-padded input, and ``argmax`` over the kernel axes (it returns the first maximum)."""
    x, win = check_pool_input(x, kernel_size, stride, padding, ceil_mode, "max_pool")
    windows = win.view(win.canvas(x, -np.inf))  # (N, C, *k, *out), no copy
    windows = windows.reshape(x.shape[:2] + (math.prod(win.kernel),) + win.out)  # a copy
    argmax = windows.argmax(axis=2)[:, :, None]
    y = np.take_along_axis(windows, argmax, axis=2)[:, :, 0]
    kind = np.min_scalar_type(math.prod(win.kernel) - 1)
    return y, PoolCache(x.shape, x.dtype, win, argmax[:, :, 0].astype(kind))


def max_pool_backward_vectorized(dy, cache):
    """The plain version of :func:`max_pool_backward`: ``dy`` placed at each window's first
    maximum in a zero window view, then every window added back onto a canvas."""
    dy, win = check_dy(dy, cache, "max_pool_backward"), cache.windows
    dview = np.zeros(dy.shape[:2] + (math.prod(win.kernel),) + win.out, dtype=dy.dtype)
    np.put_along_axis(dview, cache.argmax[:, :, None].astype(np.intp), dy[:, :, None], axis=2)
    dcanvas = win.canvas(np.zeros(cache.x_shape, dtype=dy.dtype))
    win.add_view(dcanvas, dview.reshape(dy.shape[:2] + win.kernel + win.out))
    return InputGrad(np.ascontiguousarray(win.crop(dcanvas)))


# ------------------------------------------------------------------------ average pooling
def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Average pooling (``count_include_pad=True``) of ``x`` (N, C, *spatial); returns ``y``."""
    return avg_pool_forward(x, kernel_size, stride, padding, ceil_mode)[0]


def avg_pool_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    r"""Average pooling, :math:`y[n, c, o] = \frac{1}{D_o} \sum_{t \in \text{window}(o)}
    x[n, c, t]` with ``x`` padded by zeros; returns ``(y, cache)`` (the cache holds only
    shapes)."""
    x, win = check_pool_input(x, kernel_size, stride, padding, ceil_mode, "avg_pool")
    y = _pool_chunked.avg_forward(x, win, avg_divisor(win, x.dtype))
    return y, PoolCache(x.shape, x.dtype, win)


def avg_pool_backward(dy, cache):
    r"""``InputGrad(dx)``: every input in window ``o`` gets ``dy[o] / D_o``."""
    dy, win = check_dy(dy, cache, "avg_pool_backward"), cache.windows
    return InputGrad(_pool_chunked.avg_backward(dy, cache.x_shape, win, avg_divisor(win, dy.dtype)))


def avg_pool_forward_vectorized(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """The plain version of :func:`avg_pool_forward`: the sum over a view of every window of
    the zero-padded input, divided by :math:`D_o`."""
    x, win = check_pool_input(x, kernel_size, stride, padding, ceil_mode, "avg_pool")
    kernel_axes = tuple(range(2, 2 + len(win.kernel)))
    y = win.view(win.canvas(x)).sum(axis=kernel_axes) / avg_divisor(win, x.dtype)
    return y.astype(x.dtype, copy=False), PoolCache(x.shape, x.dtype, win)


def avg_pool_backward_vectorized(dy, cache):
    """The plain version of :func:`avg_pool_backward`: ``dy / D_o`` repeated over a window view,
    every window added back onto a zero canvas."""
    dy, win = check_dy(dy, cache, "avg_pool_backward"), cache.windows
    g = (dy / avg_divisor(win, dy.dtype)).astype(dy.dtype, copy=False)
    dview = np.broadcast_to(g[(slice(None), slice(None)) + (None,) * len(win.kernel)],
                            dy.shape[:2] + win.kernel + win.out)  # fmt: skip
    dcanvas = win.canvas(np.zeros(cache.x_shape, dtype=dy.dtype))
    win.add_view(dcanvas, dview)
    return InputGrad(np.ascontiguousarray(win.crop(dcanvas)))


# ----------------------------------------------------------------- global average pooling
def global_avg_pool(x):
    r"""Mean over all spatial axes, :math:`y[n, c] = \frac{1}{M} \sum_t x[n, c, t]`,
    :math:`M = \prod_d L_d`: ``(N, C, *spatial) -> (N, C)``."""
    return global_avg_pool_forward(x)[0]


def global_avg_pool_forward(x):
    """:func:`global_avg_pool` and its cache (shapes only)."""
    x = check_global_pool_input(x)
    return x.mean(axis=tuple(range(2, x.ndim))), PoolCache(x.shape, x.dtype, None)


def global_avg_pool_backward(dy, cache):
    r""":math:`\partial L/\partial x[n, c, t] = dy[n, c] / M`, broadcast over the positions."""
    dy, shape = check_dy(dy, cache, "global_avg_pool_backward"), cache.x_shape
    g = (dy / math.prod(shape[2:])).astype(cache.dtype, copy=False)
    return InputGrad(
        np.ascontiguousarray(np.broadcast_to(g[(Ellipsis,) + (None,) * (len(shape) - 2)], shape))
    )
