r"""Depthwise convolution, one kernel offset at a time (private; behind ``conv_nd_forward``).

With ``groups == C_in == C_out`` each output channel sees one input channel, and (3.4) is

.. math:: y[n, c, \mathbf{i}] = b[c] + \sum_{\mathbf{p}} x[n, c, \mathbf{s i} + \mathbf{d p}]\,
          w[c, 0, \mathbf{p}].

im2col would copy every window (prod(k) times the input) to multiply it by a 1 x prod(k) matrix
per channel: C GEMMs too thin to run fast (3-8x PyTorch in benchmarks/bench_sweep.py). Here the
sum runs over the kernel offsets instead: for each offset ``p`` the strided slice of the padded
input that holds ``p`` of every window (``Windows.offsets``, as the pooling does) is multiplied
by ``w[:, 0, p]`` and added into ``y``. The backward mirrors it: ``dw[c, 0, p]`` is the sum of
``dy`` times that slice (a batch of dot products, no product array written), and
``dy * w[:, 0, p]`` is added back into that slice of a zero canvas. The batch is cut into chunks
of at most ``CHUNK_BYTES`` of input (``THREADED_CHUNK_BYTES`` on the workers), so that the
prod(k) passes over a chunk stay in cache, and the chunks run on the worker threads of
:mod:`minidl.functional._threads` (each writes its own images; ``dw`` sums the chunks' shares
in their order, the same bits on every run).

With stride 1 the slices become long contiguous runs (:class:`FlatRuns`). Flatten each image's
padded canvas, channels included: (C, *S) -> C L, L = prod(S). Offset ``p`` of the window at
flat position ``t`` of channel ``c`` is element ``c L + t + f(p)``, so for all channels at
once it is the run ``[f(p), f(p) + C L)``, if the output is kept on the canvas' own grid
(``t`` = 0 .. L - 1 per channel, the output positions a sub-grid of it, the rest computed and
dropped, 15% more work for 3x3 'same' on 28 x 28). Runs that cross into the next channel only
feed dropped positions, where dy is zero; since 0 x inf is NaN, the weight gradient's dots stop
at each channel's last output position and weights with an inf or NaN take the strided slices,
so that a non-finite value stays in its channel. A run is multiplied by its channels' weights
as a (C, 1) column broadcast along each channel's L values, with NumPy's ufunc buffer made
small (:mod:`minidl.functional._ufunc_buffer`): with the default buffer NumPy copied such
rows through it and ran at a third of its speed, which is why the weights were tiled to the
runs' length once per call before (``w[c, 0, p]`` repeated L times, prod(k) times the
canvas of one image: 15.5 MB for 128 channels of 56 x 56, read again by every pass). The
broadcast took 8 x 128 x 56 x 56 from 16.0-17.3 to 9.2-9.5 ms forward and from 22.8-25.6 to
15.2-15.7 backward; 32 x 64 x 28 x 28 6.4-6.9 -> 6.4 and 10.6-11.3 -> 10.4-10.8 (AMD EPYC, one
thread, fresh processes alternating, four runs, December 2026). The runs are cut into channel
blocks of ``BLOCK_BYTES`` (``THREADED_BLOCK_BYTES`` on the workers) so that a block's canvas,
accumulator and product stay in cache through the prod(k) passes; the weight gradient's dot
products run over the whole chunk (per block they were too short to pay for their calls).
Against the wide output grid's per-channel runs (rows of one channel: the (C, 1) broadcast)
this took a 3x3 depthwise conv of 32 x 64 x 28 x 28 from 14.0 to 8.4 ms forward and from 24.4
to 14.1 backward, 128 x 32 x 28 x 28 from 27.6 to 16.3 and 47 to 26.6, 8 x 128 x 56 x 56 from
21.1 to 19.7 and 40.9 to 31.3 (Intel Xeon, one thread, two alternating runs, December 2026).
The passes stay memory-bound (about 5 G elements a second): 18 per direction over the input
where a compiled kernel makes one.
"""

import functools
import math

import numpy as np

from minidl.functional import _conv_blocked, _conv_wide, _scratch, _threads
from minidl.functional._ufunc_buffer import with_rows_in_place
from minidl.functional.windows import pad_array, padded_shape

# At most CHUNK_BYTES of input per chunk of images (at least one image) where the op runs on
# one thread: the prod(k) passes read the chunk's canvas again and again, so it should stay in
# a core's L2 (1 MiB on the AMD EPYC: a 3x3 depthwise conv of 32 x 64 x 28 x 28 took 10.6 ms
# forward with 1 MiB chunks, 16 ms with 256 KiB or 4 MiB, 17 ms for the whole batch). On the
# Intel Xeon half that, with blocks of 256 KiB, ran faster on larger images (3x3 layer,
# forward + backward, fresh processes, old and new alternating, three runs: 8 x 128 x 56 x 56
# 44.3-44.8 -> 40.5-41.3 ms, 128 x 32 x 28 x 28 35.0-38.2 -> 31.5-31.8; 32 x 64 x 28 x 28
# unchanged, 17.5-17.8 and 17.6-17.7; December 2026).
CHUNK_BYTES = 2**19
# ...and THREADED_CHUNK_BYTES where the chunks run on the worker threads: each chunk is a hand-
# off, and each NumPy call of a chunk takes Python's lock back, so fewer, larger chunks win
# there (two threads, the same runs, 1 MiB -> 4 MiB chunks, 512 KiB blocks both: 32 x 64 x 28
# x 28 15.4-15.8 -> 13.4-13.6 ms, 8 x 128 x 56 x 56 35.0-35.2 -> 32.7-32.8, 128 x 32 x 28 x 28
# 29.7-30.6 -> 26.2-27.2; 256 KiB blocks lost 10-20% there).
THREADED_CHUNK_BYTES = 4 * 2**20


def _sizes(nbytes):
    """``(chunk bytes, block bytes)`` for an op on ``nbytes`` of input: ``CHUNK_BYTES`` and
    ``BLOCK_BYTES`` where it runs on one thread, the ``THREADED_`` ones on the workers."""
    if _threads.count(nbytes) > 1:
        return THREADED_CHUNK_BYTES, THREADED_BLOCK_BYTES
    return CHUNK_BYTES, BLOCK_BYTES


def is_depthwise(x_shape, weight_shape, groups):
    """One input channel and one output channel per group."""
    return groups > 1 and groups == x_shape[1] == weight_shape[0]


# At most BLOCK_BYTES of the chunk's canvas per channel block of the flat runs on one thread,
# THREADED_BLOCK_BYTES on the workers: a block's canvas, accumulator and product then sit in
# a core's L2. Smaller blocks cost more calls than they save (32 x 32 x 14 x 14, 3x3:
# forward 1.2 ms with 512 KiB, 2.1 with 128 KiB; Intel Xeon, one thread, December 2026; and
# see CHUNK_BYTES).
BLOCK_BYTES = 256 * 2**10
THREADED_BLOCK_BYTES = 512 * 2**10


class FlatRuns:
    """Stride 1: each image's canvas flattened with its channels, (C L + ``tail``), ``tail`` zeros
    after the last channel so that every run stays inside. Offset ``p`` of every window of
    channels ``c0 .. c1`` is the run ``[c0 L + starts[p], c1 L + starts[p])``."""

    def __init__(self, canvas_shape, win):
        # within a channel the offsets' starts and the last output position are the wide grid's
        grid = _conv_wide._layout(canvas_shape, win)
        self.win, self.channels = win, canvas_shape[1]
        self.spatial, self.length = canvas_shape[2:], math.prod(canvas_shape[2:])
        self.starts, self.tail = grid.starts, max(grid.starts)
        # the output positions are t < positions: beyond, a run would read the next channel
        self.positions = grid.positions

    def blocks(self, images, itemsize, block_bytes):
        """``(c0, c1)`` of each channel block, at most ``block_bytes`` of the ``images``' canvas
        each."""
        per_block = max(1, block_bytes // (images * self.length * itemsize))
        return [(c0, min(c0 + per_block, self.channels))
                for c0 in range(0, self.channels, per_block)]  # fmt: skip

    def canvas(self, x):
        """``x`` (m, C, *in) padded into a flat scratch canvas (m, C L + tail), tail zero."""
        m, size = x.shape[0], self.channels * self.length
        flat = _scratch.scratch("canvas", (m, size + self.tail), x.dtype)
        grid = flat[:, :size].reshape(self._grid(m))
        if pad_array(x, self.win.canvas_pads, out=grid) is x:  # nothing to pad: not written
            np.copyto(grid, x)
        flat[:, size:] = 0
        return flat

    def zeros(self, name, m, dtype):
        """A zero flat canvas (m, C L + tail) in scratch buffer ``name``."""
        return _scratch.zeros(name, (m, self.channels * self.length + self.tail), dtype)

    def _grid(self, m):
        return (m, self.channels) + self.spatial

    def on_output(self, a):
        """The output positions of ``a`` (m, C L + ...) as a view (m, C, *out)."""
        m, size = a.shape[0], self.channels * self.length
        grid = a[:, :size].reshape(self._grid(m))
        return grid[(slice(None), slice(None)) + tuple(slice(0, o) for o in self.win.out)]

    def on_canvas(self, a):
        """The input positions of a flat canvas ``a`` as a view (m, C, *in)."""
        m, size = a.shape[0], self.channels * self.length
        return self.win.crop(a[:, :size].reshape(self._grid(m)))

def _flat_runs(x_shape, weight, win):
    """The :class:`FlatRuns` of a stride-1 depthwise conv, else None. Not for weights with an
    inf or NaN: the dropped positions' zero dy times an infinite weight would add NaN into the
    next channel's dx (the strided slices never cross channels)."""
    if any(s != 1 for s in win.stride) or not np.isfinite(weight).all():
        return None
    return _layout(padded_shape(x_shape, win.canvas_pads), win)


@functools.lru_cache(maxsize=256)  # a layer asks with the same shapes at every call
def _layout(canvas_shape, win):
    """The :class:`FlatRuns` of a canvas shape, made once per shape (it is read-only)."""
    return FlatRuns(canvas_shape, win)


def _flat_forward(x, weight, bias, runs):
    """y of a stride-1 depthwise conv by the flat runs: per channel block and offset ``p``,
    ``acc += run_p(canvas) * w[:, 0, p]`` (one weight per channel's run) for the chunk's
    images at once."""
    y = np.empty(x.shape[:2] + runs.win.out, dtype=x.dtype)
    w, L = _taps(weight, 1), runs.length  # per offset, (C, 1): along each channel's run
    chunk_bytes, block_bytes = _sizes(x.nbytes)

    @with_rows_in_place
    def one_chunk(b):
        canvas = runs.canvas(x[b])
        m = canvas.shape[0]
        acc = _scratch.scratch("y", (m, runs.channels * L), x.dtype)
        for c0, c1 in runs.blocks(m, x.itemsize, block_bytes):
            lo, hi, shape = c0 * L, c1 * L, (m, c1 - c0, L)
            block = acc[:, lo:hi]
            term = _scratch.scratch("term", block.shape, x.dtype)
            for j, f in enumerate(runs.starts):
                run = canvas[:, lo + f : hi + f].reshape(shape)
                np.multiply(run, w[j][c0:c1], out=(term if j else block).reshape(shape))
                if j:
                    block += term  # on rows of a block's channels: fewer, longer rows
        np.copyto(y[b], runs.on_output(acc))
        if bias is not None:
            y[b] += bias.reshape((-1,) + (1,) * len(runs.win.out))

    chunks = _threads.image_chunks(x.shape, x.itemsize, chunk_bytes)
    _threads.map_ordered(one_chunk, chunks, x.nbytes)
    return y


def _flat_backward(dy, x, weight, runs, input_grad, db, weight_grad):
    """``(dx, dw)`` of a stride-1 depthwise conv by the flat runs: ``dy`` on the canvas' grid
    (zero on the dropped positions, so the runs that cross channels add nothing), then per
    block and offset ``dw[c, p] = sum(dy * run_p(canvas))`` and ``run_p(dcanvas) += dy *
    w[:, 0, p]``."""
    dx = np.empty_like(x) if input_grad else None
    w, L, k = _taps(weight, 1), runs.length, len(runs.starts)
    chunk_bytes, block_bytes = _sizes(x.nbytes)

    @with_rows_in_place
    def one_chunk(b):
        m = b.stop - b.start
        db.add(b.start, m)
        g = runs.zeros("dy", m, x.dtype)[:, : runs.channels * L]
        np.copyto(runs.on_output(g), dy[b])
        dcanvas = runs.zeros("dcanvas", m, x.dtype) if input_grad else None
        size, T = runs.channels * L, runs.positions
        # each channel's dots stop at its last output position, so that an inf or NaN of the
        # next channel's x, under a dropped position's zero dy, cannot reach this one's dw
        g_channels = g.reshape(m, runs.channels, L)[..., :T]
        dw_chunk = np.empty((runs.channels, k), dtype=x.dtype) if weight_grad else None
        canvas = runs.canvas(x[b]) if weight_grad else None
        # over whole chunks: a block's dots are too short
        for j, f in enumerate(runs.starts if weight_grad else ()):
            run = canvas[:, f : f + size].reshape(m, runs.channels, L)[..., :T]
            dw_chunk[:, j] = _dot_per_channel(g_channels, run)
        if input_grad:
            for c0, c1 in runs.blocks(m, x.itemsize, block_bytes):
                lo, hi, shape = c0 * L, c1 * L, (m, c1 - c0, L)
                term = _scratch.scratch("term", (m, hi - lo), x.dtype)
                for j, f in enumerate(runs.starts):
                    np.multiply(g[:, lo:hi].reshape(shape), w[j][c0:c1], out=term.reshape(shape))
                    dcanvas[:, lo + f : hi + f] += term
            np.copyto(dx[b], runs.on_canvas(dcanvas))
        return dw_chunk

    chunks = _threads.image_chunks(x.shape, x.itemsize, chunk_bytes)
    return dx, _summed(_threads.map_ordered(one_chunk, chunks, x.nbytes), weight, weight_grad)


def _taps(weight, nd):
    """``w[:, 0, p]`` for each offset ``p`` (raster order), shaped to broadcast on (m, C, *out)."""
    w = weight.reshape(weight.shape[0], -1)
    return [w[:, j].reshape((-1,) + (1,) * nd) for j in range(w.shape[1])]


def forward(x, weight, bias, win):
    """``y`` (N, C, *out): for each offset, y += slice_p(x) * w[:, 0, p], by the flat runs for
    stride 1, else by strided slices; the chunks of images shared out among the worker threads
    (:mod:`minidl.functional._threads`), each writing its own images of ``y``."""
    runs = _flat_runs(x.shape, weight, win)
    if runs is not None:
        return _flat_forward(x, weight, bias, runs)
    nd = len(win.out)
    y = np.empty(x.shape[:2] + win.out, dtype=x.dtype)
    taps = _taps(weight, nd)
    chunk_bytes = _sizes(x.nbytes)[0]

    @with_rows_in_place
    def one_chunk(b):
        xp = _conv_blocked._canvas(x[b], win)
        acc = y[b]
        term = _scratch.scratch("term", acc.shape, x.dtype)
        for j, index in enumerate(win.offsets()):
            np.multiply(xp[index], taps[j], out=term if j else acc)
            if j:
                acc += term
        if bias is not None:
            acc += bias.reshape((-1,) + (1,) * nd)

    chunks = _threads.image_chunks(x.shape, x.itemsize, chunk_bytes)
    _threads.map_ordered(one_chunk, chunks, x.nbytes)
    return y


def _dot_per_channel(a, b):
    """``sum(a * b)`` over every axis but the channels (axis 1) of two (m, C, ...) arrays, as
    a batch of dot products along the last axis (one matmul of (..., 1, L) by (..., L, 1)),
    then a sum of the m x C x ... results: no product array is written (a 56 x 56 image of
    128 channels, per kernel offset: 0.05 ms against 0.19 for multiply-then-sum)."""
    dots = np.matmul(a[..., None, :], b[..., :, None])[..., 0, 0]  # (m, C, ...) without L
    return dots.sum(axis=(0, *range(2, dots.ndim)))


def backward(dy, x, weight, has_bias, win, input_grad, weight_grad=True):
    """``(dx, dweight, dbias)``: per offset, dw[:, 0, p] = sum(dy * slice_p(x)) and
    slice_p(dx) += dy * w[:, 0, p]. Each chunk of images (on the worker threads) writes its own
    images of dx and returns its share of dw; the shares are summed in the chunks' order.
    ``weight_grad=False`` skips dw (None)."""
    db = _threads.BiasGrad(dy, has_bias)
    runs = _flat_runs(x.shape, weight, win)
    if runs is not None:
        return (*_flat_backward(dy, x, weight, runs, input_grad, db, weight_grad), db.result())
    nd = len(win.out)
    dx = np.empty_like(x) if input_grad else None
    taps = _taps(weight, nd)
    chunk_bytes = _sizes(x.nbytes)[0]

    @with_rows_in_place
    def one_chunk(b):
        xp = _conv_blocked._canvas(x[b], win)
        g = dy[b]
        db.add(b.start, g.shape[0])
        term = _scratch.scratch("term", g.shape, x.dtype)
        dxp = _scratch.zeros("dcanvas", xp.shape, x.dtype) if input_grad else None
        dw_chunk = np.empty((weight.shape[0], len(taps)), dtype=x.dtype) if weight_grad else None
        for j, index in enumerate(win.offsets()):
            if weight_grad:
                dw_chunk[:, j] = _dot_per_channel(g, xp[index])
            if dxp is not None:
                np.multiply(g, taps[j], out=term)
                dxp[index] += term
        if dx is not None:
            dx[b] = win.crop(dxp)
        return dw_chunk

    chunks = _threads.image_chunks(x.shape, x.itemsize, chunk_bytes)
    shares = _threads.map_ordered(one_chunk, chunks, x.nbytes)
    return dx, _summed(shares, weight, weight_grad), db.result()


def _summed(shares, weight, weight_grad):
    """dw from the chunks' shares (C, prod(k)) (``_threads.summed``); None without
    ``weight_grad``."""
    return _threads.summed(shares).reshape(weight.shape) if weight_grad else None
