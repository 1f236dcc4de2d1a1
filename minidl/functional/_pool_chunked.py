r"""The chunked pooling behind :mod:`minidl.functional.pool`'s public functions (private).

The formulas are those of :mod:`minidl.functional.pool`, whose plain version reduces the whole
window view at once. Here, for each of the :math:`k_1 \cdots k_d` kernel offsets, the strided
slice of the padded canvas holding that offset of every window (``Windows.offsets``) is read
in turn, so the forward is :math:`k^d` ``maximum``/``add`` calls and the backward :math:`k^d`
slice additions into a zero canvas, no copy of all windows; and the batch is cut into chunks of
whole images small enough to stay in cache across the :math:`k^d` passes (``CHUNK_BYTES``).
When stride equals the kernel and no window reaches outside ``x``, the windows tile the input:
``x.reshape(N, C, H/k, k, W/k, k)``, and the backward writes each offset's share straight into
its slice of that view, with no additions. Max pooling keeps the raster index of each window's
first maximum (one small unsigned int per output) for its backward. The chunks run on the worker
threads of :mod:`minidl.functional._threads` (as many as OPENBLAS_NUM_THREADS /
OMP_NUM_THREADS / the CPUs say, for inputs of at least ``_threads.MIN_BYTES``), each writing
only its own images: nothing is summed across chunks, so the result is the same bits whatever
the thread count.
"""

import itertools
import math

import numpy as np

from minidl.functional import _scratch, _threads
from minidl.functional.windows import padded_shape

# At most CHUNK_BYTES of input per chunk of images (at least one image). Both paths read x (or
# its canvas) once per kernel offset, through strided views that touch every cache line: k^d
# passes over memory, which stay in the 1 MiB L2 per core of the 2-core AMD EPYC minidl is
# developed on. Measured there with benchmarks/bench_pool.py (NumPy 2.4, November 2026): a
# 3x3 stride-2 max pool on 64x32x50x50 ran 2x faster than on one 22 MB canvas for the batch.
CHUNK_BYTES = 2**20


def is_tiling(win):
    """Stride == kernel and every window inside x: the reshape path applies."""
    return win.stride == win.kernel and all(p == (0, 0) for p in win.canvas_pads)


def _offset_views(a, win, tiling):
    """One strided view of ``a`` per kernel offset (raster order), each holding that offset of
    every window: ``a`` is x (or dx) reshaped (N, C, o1, k1, ...) when the windows tile it,
    else the canvas. The forwards read these views, the backwards write into them."""
    if not tiling:
        return [a[index] for index in win.offsets()]
    covered = a[
        (Ellipsis,) + tuple(slice(0, o * k) for o, k in zip(win.out, win.kernel, strict=True))
    ]
    pairs = tuple(v for o, k in zip(win.out, win.kernel, strict=True) for v in (o, k))
    tiles = covered.reshape(a.shape[:2] + pairs)  # (N, C, o1, k1, o2, k2, ...)
    return [
        tiles[(slice(None), slice(None)) + tuple(v for q in p for v in (slice(None), q))]
        for p in itertools.product(*(range(k) for k in win.kernel))
    ]


def max_forward(x, win, with_argmax):
    """``(y, argmax)``: each window's max, and (if asked) the raster index of its first max."""
    tiling = is_tiling(win)
    y = np.empty(x.shape[:2] + win.out, dtype=x.dtype)
    kind = np.min_scalar_type(math.prod(win.kernel) - 1)
    arg = np.empty(y.shape, dtype=kind) if with_argmax else None

    def one_chunk(b):
        views = _offset_views(x[b] if tiling else _canvas(x[b], win, -np.inf), win, tiling)
        np.copyto(y[b], views[0])
        for v in views[1:]:
            np.maximum(y[b], v, out=y[b])
        if arg is not None:
            _first_max_offset(views, y[b], out=arg[b])

    chunks = _threads.image_chunks(x.shape, x.itemsize, CHUNK_BYTES)
    _threads.map_ordered(one_chunk, chunks, x.nbytes)
    return y, arg


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


def max_backward(dy, argmax, x_shape, win):
    """Each ``dy`` to its window's first maximum: offset ``i``'s share is ``dy`` where
    ``argmax == i``, added into its slice of a zero canvas (written into dx when tiling)."""
    tiling = is_tiling(win)
    dx = np.zeros(x_shape, dtype=dy.dtype)

    def one_chunk(b):
        arg, g = argmax[b], dy[b]
        hit, share = np.empty(g.shape, dtype=bool), np.empty(g.shape, dtype=dx.dtype)
        target = dx[b] if tiling else _zero_canvas(dx[b], win)
        for i, view in enumerate(_offset_views(target, win, tiling)):
            np.equal(arg, i, out=hit)
            # tiles do not overlap: the share is written straight into its place
            np.multiply(g, hit, out=view if tiling else share)
            if not tiling:
                view += share
        if not tiling:
            dx[b] = win.crop(target)

    chunks = _threads.image_chunks(x_shape, dx.itemsize, CHUNK_BYTES)
    _threads.map_ordered(one_chunk, chunks, dx.nbytes)
    return dx


def _canvas(x, win, fill):
    """``win.canvas(x, fill)`` in a scratch buffer (see :mod:`minidl.functional._scratch`)."""
    return _scratch.padded("canvas", x, win.canvas_pads, fill)


def _zero_canvas(x, win):
    """Where a backward adds the shares of windows that overlap or reach into the padding (a
    scratch buffer, kept between calls: see :mod:`minidl.functional._scratch`)."""
    return _scratch.zeros("dcanvas", padded_shape(x.shape, win.canvas_pads), x.dtype)


def avg_forward(x, win, divisor):
    """Each window's sum (zero padding included) over ``divisor``."""
    tiling = is_tiling(win)
    y = np.empty(x.shape[:2] + win.out, dtype=x.dtype)

    def one_chunk(b):
        views = _offset_views(x[b] if tiling else _canvas(x[b], win, 0.0), win, tiling)
        np.copyto(y[b], views[0])
        for v in views[1:]:
            y[b] += v
        y[b] /= divisor

    chunks = _threads.image_chunks(x.shape, x.itemsize, CHUNK_BYTES)
    _threads.map_ordered(one_chunk, chunks, x.nbytes)
    return y


def avg_backward(dy, x_shape, win, divisor):
    """Every input of window ``o`` gets ``dy[o] / divisor[o]``: k^d slice additions."""
    tiling = is_tiling(win)
    g = (dy / divisor).astype(dy.dtype, copy=False)
    dx = np.zeros(x_shape, dtype=dy.dtype)

    def one_chunk(b):
        target = dx[b] if tiling else _zero_canvas(dx[b], win)
        for view in _offset_views(target, win, tiling):
            view += g[b]
        if not tiling:
            dx[b] = win.crop(target)

    chunks = _threads.image_chunks(x_shape, dx.itemsize, CHUNK_BYTES)
    _threads.map_ordered(one_chunk, chunks, dx.nbytes)
    return dx
