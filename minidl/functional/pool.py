r"""Max and average pooling over 1-D, 2-D and 3-D inputs from one N-d core.

Layout is channels first: ``x`` is ``(N, C, *spatial)`` with 1, 2 or 3 spatial dims. Along each
spatial dim of length :math:`L`, with kernel :math:`k`, stride :math:`s` and symmetric padding
:math:`p` (PyTorch's semantics, which require :math:`p \le k/2`), output position :math:`o` sees
the window :math:`[o s - p,\ o s - p + k)` of the input and

.. math::
    L_{out} = \left\lfloor \frac{L + 2p - k}{s} \right\rfloor + 1
    \quad(\lceil\cdot\rceil \text{ with ceil\_mode, minus 1 if the last window would start
    beyond } L + p - 1)

    \text{max:}\ y[n, c, o] = \max_{t \in \text{window}(o)} x[n, c, t]
    \qquad
    \text{avg:}\ y[n, c, o] = \frac{1}{|\text{window}(o) \cap [-p, L + p)|}
    \sum_{t \in \text{window}(o) \cap [0, L)} x[n, c, t]

The size formula is chapter 03's (3.8) with dilation 1 and chapter 04's (4.2) with :math:`p = 0`
(``chapters/04_cnn_optimization.ipynb``). Max pooling pads with :math:`-\infty` (padding never
wins); average pooling counts the zero padding in the divisor (PyTorch's default
``count_include_pad=True``) but not the part of a ceil-mode window that hangs past the right
padding, exactly as PyTorch does.

Backward: max sends :math:`\partial L/\partial y` to the *first* maximum of each window in
raster order (PyTorch's rule, so ties give identical gradients); average spreads it evenly,
:math:`\partial L/\partial x_t = \sum_{o \ni t} \partial L/\partial y_o / \text{divisor}_o`.

How it is computed: for each of the :math:`k_1 \cdots k_d` kernel offsets, the strided slice
``xp[..., a::s, b::s]`` of the padded input is a view holding that offset of every window (the
same array ``as_strided``/``sliding_window_view`` would give as ``windows[..., a, b]``), so the
forward is :math:`k^d` ``maximum``/``add`` calls and the backward :math:`k^d` slice additions into a
zero array -- no ``np.add.at``, no copy of all windows -- each over a chunk of images small
enough to stay in cache across the :math:`k^d` passes (``CHUNK_BYTES``). When stride equals the
kernel and there is no padding the windows tile the input: ``x.reshape(N, C, H/k, k, W/k, k)``,
so the backward writes each offset's share straight into its slice of that view, with no
additions. Max pooling caches the raster index of each window's first maximum (one small
unsigned int per output, counted as the number of offsets before the first that equals the
max). The window geometry (output sizes, argument checks, the padded canvas, the
strided slices, the tile view) is in :mod:`minidl.functional.pool_windows`; the ``*_naive`` loop
twins of every function here, the same formulas as plain loops, are in
:mod:`minidl.functional.pool_naive` (both re-exported here).

Every forward returns ``y``, or ``(y, cache)`` with ``return_cache=True`` (the convention of
:mod:`minidl.functional.conv`); the matching ``*_backward(dy, cache)`` returns ``dx``.
"""

import math

import numpy as np

from minidl._validation import check_float_array

# The loop twins are re-exported so `from minidl.functional.pool import max_pool_naive` keeps
# working; so are the geometry helpers, for code that imports them from here.
from minidl.functional.pool_naive import (  # noqa: F401
    _first_max,
    _naive_loops,
    _naive_setup,
    _window_divisor,
    _window_positions,
    avg_pool_backward_naive,
    avg_pool_naive,
    global_avg_pool_backward_naive,
    global_avg_pool_naive,
    max_pool_backward_naive,
    max_pool_naive,
)
from minidl.functional.pool_windows import (  # noqa: F401
    _canvas,
    _canvas_shape,
    _check_args,
    _check_dy,
    _crop,
    _divisor,
    _is_tiling,
    _tile_expand,
    _tile_offsets,
    _tiles,
    _window_slices,
    pool_output_shape,
    pool_output_size,
)

# Both paths read x (or its padded canvas) once per kernel offset, through strided views that
# touch every cache line: k^d passes over memory. So they work on chunks of whole images of at
# most CHUNK_BYTES of input, which stay in cache across the k^d passes (measured 2x faster for
# a 3x3 stride-2 pool on 64x32x50x50 than one 22 MB canvas for the whole batch).
CHUNK_BYTES = 2**20


def _image_chunks(x_shape, itemsize):
    """Slices of the batch axis, each of at most CHUNK_BYTES of input (at least one image)."""
    step = max(1, CHUNK_BYTES // (math.prod(x_shape[1:]) * itemsize))
    for a in range(0, x_shape[0], step):
        yield slice(a, min(a + step, x_shape[0]))


def _offset_views(a, k, s, out, tiling):
    """One strided view of ``a`` per kernel offset (raster order), each holding that offset of
    every window: ``a`` is x (or dx) reshaped (N, C, o1, k1, ...) when the windows tile it,
    else the padded canvas. The forwards read these views, the backwards write into them."""
    if tiling:
        at = _tiles(a, k, out)
        return [at[idx] for idx in _tile_offsets(k)]
    return [a[sl] for sl in _window_slices(k, s, out)]


def _zero_canvas(n, cache):
    """A zero canvas for ``n`` images: where a backward adds the shares of overlapping windows
    that reach into the padding (the tiling path writes into dx itself)."""
    return np.zeros((n,) + cache["canvas_shape"], dtype=cache["dtype"])


def _new_cache(x, k, s, p, out):
    """What both backwards need: shapes, and the canvas shape of one image off the tiling path
    (absent on it, which is how the backwards tell the two paths apart)."""
    cache = {"x_shape": x.shape, "dtype": x.dtype, "kernel": k, "stride": s, "padding": p}
    cache["out"] = out
    if not _is_tiling(x.shape, k, s, p, out):
        cache["canvas_shape"] = _canvas_shape(x.shape, k, s, p, out)[1:]  # (C, *padded)
    return cache


# ---------------------------------------------------------------------------- max pooling


def max_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_cache=False):
    r"""Max pooling over the 1, 2 or 3 spatial dims of ``x`` (N, C, *spatial).

    .. math:: y[n, c, o] = \max_{t \in [o s - p,\ o s - p + k)} x_{-\infty\text{-padded}}[n, c, t]

    Returns ``y`` (N, C, *out), or ``(y, cache)`` with ``return_cache=True`` for
    :func:`max_pool_backward`. The cache holds no copy of ``x``: only the raster index of each
    window's first maximum (``uint8`` when the kernel has <= 256 taps), which is not computed
    without ``return_cache``. ``stride`` defaults to ``kernel_size``; ``padding`` must be at
    most half the kernel.

    The loop twin is :func:`minidl.functional.pool_naive.max_pool_naive`.
    """
    x = check_float_array(x, "x")
    k, s, p, out = _check_args(x.shape, kernel_size, stride, padding, ceil_mode, where="max_pool")
    cache = _new_cache(x, k, s, p, out)
    tiling = "canvas_shape" not in cache
    y = np.empty(x.shape[:2] + out, dtype=x.dtype)
    arg = np.empty(y.shape, dtype=np.min_scalar_type(math.prod(k) - 1)) if return_cache else None
    for b in _image_chunks(x.shape, x.itemsize):
        a = x[b] if tiling else _canvas(x[b], k, s, p, out, -np.inf)  # padded with -np.inf
        views = _offset_views(a, k, s, out, tiling)
        np.copyto(y[b], views[0])
        for v in views[1:]:
            np.maximum(y[b], v, out=y[b])
        if arg is not None:
            _first_max_offset(views, y[b], out=arg[b])
    if not return_cache:
        return y
    cache["arg"] = arg
    return y, cache


def _first_max_offset(views, y, out):
    """Raster index of each window's first maximum, into ``out`` (an unsigned int array): the
    number of offsets before the first one that equals the max,
    ``arg = sum_i prod_{j <= i} [v_j != y]`` (a running "not found yet" flag, added up)."""
    out[...] = 0
    not_yet, differs = np.ones(y.shape, dtype=bool), np.empty(y.shape, dtype=bool)
    for v in views[:-1]:  # the last offset is the max whenever no earlier one is
        np.not_equal(v, y, out=differs)
        not_yet &= differs
        out += not_yet


def max_pool_backward(dy, cache):
    r"""Gradient of :func:`max_pool`: each ``dy[n, c, o]`` goes to its window's first maximum.

    .. math:: \frac{\partial L}{\partial x_t} = \sum_{o:\ t = \text{argmax}_1(o)}
              \frac{\partial L}{\partial y_o}

    Each offset's share (``dy`` where that offset was the first max, else 0) is added into its
    strided slice of a zero canvas, image chunk by image chunk; when the windows tile ``x`` the
    slices do not overlap and the shares are written straight into ``dx``.
    The loop twin is :func:`minidl.functional.pool_naive.max_pool_backward_naive`.
    """
    dy = _check_dy(dy, cache)
    k, s, p, out, shape = (cache[n] for n in ("kernel", "stride", "padding", "out", "x_shape"))
    dx = np.zeros(shape, dtype=cache["dtype"])
    tiling = "canvas_shape" not in cache
    for b in _image_chunks(shape, dx.itemsize):
        arg, g = cache["arg"][b], dy[b]
        hit, share = np.empty(g.shape, dtype=bool), np.empty(g.shape, dtype=dx.dtype)
        target = dx[b] if tiling else _zero_canvas(len(g), cache)
        for i, view in enumerate(_offset_views(target, k, s, out, tiling)):
            np.equal(arg, i, out=hit)
            # dy where offset i was the first max, else 0; tiles do not overlap: write it there
            np.multiply(g, hit, out=view if tiling else share)
            if not tiling:
                view += share
        if not tiling:
            dx[b] = _crop(target, p, shape[2:])
    return dx


# ------------------------------------------------------------------------ average pooling


def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_cache=False):
    r"""Average pooling (``count_include_pad=True``, PyTorch's default) of ``x`` (N, C, *spatial).

    .. math:: y[n, c, o] = \frac{1}{D_o} \sum_{t \in \text{window}(o)} x_{0\text{-padded}}[n, c, t],
              \quad D_o = \prod_d \big(\min(o_d s_d - p_d + k_d,\ L_d + p_d) - (o_d s_d - p_d)\big)

    Returns ``y``, or ``(y, cache)`` with ``return_cache=True``; the cache holds only shapes
    and the divisor. The loop twin is :func:`minidl.functional.pool_naive.avg_pool_naive`.
    """
    x = check_float_array(x, "x")
    k, s, p, out = _check_args(x.shape, kernel_size, stride, padding, ceil_mode, where="avg_pool")
    cache = _new_cache(x, k, s, p, out)
    tiling = "canvas_shape" not in cache
    y = np.empty(x.shape[:2] + out, dtype=x.dtype)
    for b in _image_chunks(x.shape, x.itemsize):
        a = x[b] if tiling else _canvas(x[b], k, s, p, out, 0.0)  # padded with 0.0
        views = _offset_views(a, k, s, out, tiling)
        np.copyto(y[b], views[0])
        for v in views[1:]:
            y[b] += v
    cache["divisor"] = None if tiling else _divisor(x.shape[2:], k, s, p, out, x.dtype)
    y /= math.prod(k) if tiling else cache["divisor"]
    return (y, cache) if return_cache else y


def avg_pool_backward(dy, cache):
    r"""Gradient of :func:`avg_pool`: every input in window ``o`` gets ``dy[o] / divisor[o]``.

    The loop twin is :func:`minidl.functional.pool_naive.avg_pool_backward_naive`.
    """
    dy = _check_dy(dy, cache)
    k, s, p, out, shape = (cache[n] for n in ("kernel", "stride", "padding", "out", "x_shape"))
    divisor = math.prod(k) if cache["divisor"] is None else cache["divisor"]
    g = (dy / divisor).astype(cache["dtype"], copy=False)
    tiling = "canvas_shape" not in cache
    dx = np.zeros(shape, dtype=cache["dtype"])
    for b in _image_chunks(shape, dx.itemsize):
        target = dx[b] if tiling else _zero_canvas(len(g[b]), cache)
        for view in _offset_views(target, k, s, out, tiling):
            view += g[b]
        if not tiling:
            dx[b] = _crop(target, p, shape[2:])
    return dx


def _fixed_rank(fn, d):
    def pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, return_cache=False):
        x = check_float_array(x, "x")
        _check_args(x.shape, kernel_size, stride, padding, ceil_mode, ndim=d, where=name)
        return fn(x, kernel_size, stride, padding, ceil_mode, return_cache)

    name = f"{fn.__name__}{d}d"
    pool.__name__ = pool.__qualname__ = name
    pool.__doc__ = (
        f"{fn.__name__} for x of shape (N, C, {d} spatial dims); see :func:`{fn.__name__}`."
    )
    return pool


max_pool1d, max_pool2d, max_pool3d = (_fixed_rank(max_pool, d) for d in (1, 2, 3))
avg_pool1d, avg_pool2d, avg_pool3d = (_fixed_rank(avg_pool, d) for d in (1, 2, 3))


# ----------------------------------------------------------------- global average pooling


def global_avg_pool(x, return_cache=False):
    r"""Mean over all spatial dims: ``(N, C, *spatial) -> (N, C)``.

    .. math:: y[n, c] = \frac{1}{M} \sum_t x[n, c, t], \qquad M = \prod_d L_d

    Returns ``y``, or ``(y, cache)`` with ``return_cache=True``; backward:
    :math:`\partial L/\partial x[n, c, t] = dy[n, c] / M`. The loop twin is
    :func:`minidl.functional.pool_naive.global_avg_pool_naive`.
    """
    x = check_float_array(x, "x", ndim=(3, 4, 5))
    y = x.mean(axis=tuple(range(2, x.ndim)))
    cache = {"x_shape": x.shape, "dtype": x.dtype, "out": ()}
    return (y, cache) if return_cache else y


def global_avg_pool_backward(dy, cache):
    """Gradient of :func:`global_avg_pool`: ``dy[n, c] / M`` broadcast over the positions.

    The loop twin is :func:`minidl.functional.pool_naive.global_avg_pool_backward_naive`.
    """
    dy = _check_dy(dy, cache)
    shape = cache["x_shape"]
    g = (dy / math.prod(shape[2:])).astype(cache["dtype"], copy=False)
    return np.ascontiguousarray(np.broadcast_to(g[(Ellipsis,) + (None,) * (len(shape) - 2)], shape))
