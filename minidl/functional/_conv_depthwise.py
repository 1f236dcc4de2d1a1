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
of at most ``CHUNK_BYTES`` of input, so that the prod(k) passes over a chunk stay in cache, and
the chunks run on the worker threads of :mod:`minidl.functional._threads` (each writes its own
images; ``dw`` sums the chunks' shares in their order, the same bits on every run). With
stride 1 the slices are contiguous runs of the flattened canvas on the wide output grid of
:mod:`minidl.functional._conv_wide` (8 x 128 x 56 x 56, 3x3: 41 ms forward + backward against
54 with the strided slices, one thread).
"""

import math

import numpy as np

from minidl.functional import _conv_blocked, _conv_wide, _scratch, _threads

# At most CHUNK_BYTES of input per chunk of images (at least one image): the prod(k) passes read
# the chunk's canvas again and again, and 1 MiB sits in the L2 cache of a core of the 2-core
# AMD EPYC minidl is measured on (a 3x3 depthwise conv of 32 x 64 x 28 x 28: 10.6 ms forward
# with 1 MiB chunks, 16 ms with 256 KiB or 4 MiB, 17 ms for the whole batch; December 2026).
CHUNK_BYTES = 2**20


def is_depthwise(x_shape, weight_shape, groups):
    """One input channel and one output channel per group."""
    return groups > 1 and groups == x_shape[1] == weight_shape[0]


def _taps(weight, nd):
    """``w[:, 0, p]`` for each offset ``p`` (raster order), shaped to broadcast on (m, C, *out)."""
    w = weight.reshape(weight.shape[0], -1)
    return [w[:, j].reshape((-1,) + (1,) * nd) for j in range(w.shape[1])]


def _layout(xp, win):
    """``(source, slices, grid)``: where each offset of every window lies in the canvas ``xp``.

    With stride 1, the flattened canvas (m, C, L) and, per offset, the run ``[f, f + T)`` of the
    wide output grid (:mod:`minidl.functional._conv_wide`): contiguous runs, several times
    faster to multiply and add than the strided slices of output rows. ``grid`` is the
    :class:`~minidl.functional._conv_wide.WideLayout` then, else None and the slices are
    ``Windows.offsets``' strided ones."""
    if any(s != 1 for s in win.stride):
        return xp, list(win.offsets()), None
    grid = _conv_wide.WideLayout(xp.shape, win)
    flat = xp.reshape(xp.shape[0], xp.shape[1], -1)
    return flat, [(Ellipsis, slice(f, f + grid.positions)) for f in grid.starts], grid


def forward(x, weight, bias, win):
    """``y`` (N, C, *out): for each offset, y += slice_p(x) * w[:, 0, p]; the chunks of images
    shared out among the worker threads (:mod:`minidl.functional._threads`), each writing its
    own images of ``y``."""
    nd = len(win.out)
    y = np.empty(x.shape[:2] + win.out, dtype=x.dtype)

    def one_chunk(b):
        xp = _conv_blocked._canvas(x[b], win)
        source, slices, grid = _layout(xp, win)
        taps = _taps(weight, nd if grid is None else 1)
        wide = None if grid is None else xp.shape[:2] + (grid.positions,)
        acc = y[b] if grid is None else _scratch.scratch("y", wide, x.dtype)
        term = _scratch.scratch("term", acc.shape, x.dtype)
        for j, index in enumerate(slices):
            np.multiply(source[index], taps[j], out=acc if j == 0 else term)
            if j:
                acc += term
        if grid is not None:
            np.copyto(y[b], grid.on_output(acc))
        if bias is not None:
            y[b] += bias.reshape((-1,) + (1,) * nd)

    chunks = _threads.image_chunks(x.shape, x.itemsize, CHUNK_BYTES)
    _threads.map_ordered(one_chunk, chunks, x.nbytes)
    return y


def _dot_per_channel(a, b):
    """``sum(a * b)`` over every axis but the channels (axis 1) of two (m, C, ...) arrays, as
    a batch of dot products along the last axis (one matmul of (..., 1, L) by (..., L, 1)),
    then a sum of the m x C x ... results: no product array is written (a 56 x 56 image of
    128 channels, per kernel offset: 0.05 ms against 0.19 for multiply-then-sum)."""
    dots = np.matmul(a[..., None, :], b[..., :, None])[..., 0, 0]  # (m, C, ...) without L
    return dots.sum(axis=(0, *range(2, dots.ndim)))


def backward(dy, x, weight, has_bias, win, input_grad):
    """``(dx, dweight, dbias)``: per offset, dw[:, 0, p] = sum(dy * slice_p(x)) and
    slice_p(dx) += dy * w[:, 0, p]. Each chunk of images (on the worker threads) writes its own
    images of dx and returns its share of dw; the shares are summed in the chunks' order."""
    nd = len(win.out)
    dx = np.empty_like(x) if input_grad else None

    def one_chunk(b):
        xp = _conv_blocked._canvas(x[b], win)
        source, slices, grid = _layout(xp, win)
        taps = _taps(weight, nd if grid is None else 1)
        g = dy[b]
        if grid is not None:  # dy on the wide grid, zero on its extra positions
            g = _scratch.zeros("dy", xp.shape[:2] + (grid.positions,), x.dtype)
            np.copyto(grid.on_output(g), dy[b])
        term = _scratch.scratch("term", g.shape, x.dtype)
        dxp = _scratch.zeros("dcanvas", xp.shape, x.dtype) if input_grad else None
        target = None if dxp is None else dxp if grid is None else dxp.reshape(source.shape)
        dw_chunk = np.empty((weight.shape[0], len(slices)), dtype=x.dtype)
        for j, index in enumerate(slices):
            dw_chunk[:, j] = _dot_per_channel(g, source[index])
            if target is not None:
                np.multiply(g, taps[j], out=term)
                target[index] += term
        if dx is not None:
            dx[b] = win.crop(dxp)
        return dw_chunk

    dw = np.zeros((weight.shape[0], math.prod(win.kernel)), dtype=x.dtype)
    chunks = _threads.image_chunks(x.shape, x.itemsize, CHUNK_BYTES)
    for dw_chunk in _threads.map_ordered(one_chunk, chunks, x.nbytes):
        dw += dw_chunk  # in the chunks' order: the same sum on every run
    db = dy.sum(axis=(0, *range(2, dy.ndim))) if has_bias else None
    return dx, dw.reshape(weight.shape), db
