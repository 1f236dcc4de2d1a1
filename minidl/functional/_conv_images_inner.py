r"""Convolution by im2col with the chunk's images innermost (private; behind
``conv_nd_forward``): for small images, where an output row is a few values.

The sums are those of :mod:`minidl.functional.conv` computed as im2col does, block by block of
images (the chunk loops of :mod:`minidl.functional._conv_blocked`), with one change of column
order. Plain im2col orders a chunk's columns (image, position): offset ``p`` of the windows is
then a copy of one output row at a time (7 values for a 7x7 output), and col2im adds them back
one row at a time, so on small images both run at the per-row cost of NumPy's loops, not at
memory speed (32 x 256 x 7 x 7 -> 256, 3x3: col2im 7.2 ms of a 33 ms backward whose two GEMMs
take 22). Here the columns are ordered (position, image): the chunk's canvas is first turned
to (C, *S, m), images last, so that offset ``p`` reads, for output row ``i``, the run

.. math:: t[c, \mathbf{i} + \mathbf{d p}, :], \quad \text{all } m \text{ images: } m \cdot
          out_{D-1} \text{ contiguous values along the last two axes,}

and col2im adds runs that long into the turned gradient, turned back at the end. The price is
those two turns of the chunk's canvas (a few hundred KiB) and the copies of ``y`` and ``dy``
between the GEMMs' (C_out, positions, images) and their (images, C_out, positions) layout,
whose innermost reads are strided: small next to the columns for small images, not for large
ones, hence :func:`applies`. Stride 1 only: a stride ``s`` breaks the runs to ``m`` values.
"""

import functools
import math

import numpy as np

from minidl.functional import _conv_blocked, _scratch

# The output rows at most this long (the last spatial axis) take this layout, from MIN_IMAGES
# images on. Per chunk of 8 images, 256 channels, 3x3 (Intel Xeon, one thread, December 2026):
# on 7x7 outputs the gather took 0.23 ms against 0.52 and col2im 0.67 against 1.68; on 14x14
# (4 images) 0.50 against 0.51 and 1.12 against 1.64; on 28x28 (6 images, 64 channels) 0.64
# against 0.55 and 1.41 against 1.67, where the wide grid's runs are faster still. Whole
# layers, forward + backward, against the path they took before: 32 x 256 x 7 x 7 -> 256
# 38.7-39.0 ms against 45.4-47.7 (one thread), 21.2-21.4 against 24.7-24.9 (two);
# 128 x 64 x 9 x 9 -> 64 25.6-25.9 against 28.9-29.1 and 14.6-14.8 against 15.7-15.8;
# LeNet-5's second conv at batch 32 1.16-1.19 against 1.59-1.60 (one thread), 1.41-1.53
# against 1.37-1.42 (two); on 14x14 outputs two threads lost (32 x 16 x 14 x 14 -> 32: 2.39-2.41
# against 2.13-2.31), and two images of 7 x 7 lost (0.45-0.53 against 0.37-0.38, one thread).
MAX_ROW = 13
MIN_IMAGES = 4


@functools.lru_cache(maxsize=256)  # a layer asks with the same shapes at every call
def applies(x_shape, weight_shape, win):
    """Stride 1, short output rows, ``MIN_IMAGES`` images to put innermost, and a window larger
    than a first layer's (whose passes ``_conv_blocked`` runs image by image) and than 1x1 (a
    product on x itself, ``_conv_wide``)."""
    window = weight_shape[1] * math.prod(win.kernel)
    return (x_shape[0] >= MIN_IMAGES and all(s == 1 for s in win.stride) and win.out[-1] <= MAX_ROW
            and math.prod(win.kernel) > 1
            and window > _conv_blocked.FIRST_LAYER_WINDOW)  # fmt: skip


class ImagesInnerLayout:
    """A chunk loop's column layout (``_conv_blocked.forward_chunks`` / ``backward_chunks``):
    row (c, p), column (i, n) of ``columns`` holds ``canvas[n, c, i + d p]``; ``images``
    views a product in that column order as (images, rows, *out)."""

    def __init__(self, win):
        self.win, self.positions = win, math.prod(win.out)
        self.runs = tuple(  # offset p's slice of a turned canvas: (C, i + d p, images)
            (slice(None),) + window[1:] + (slice(None),) for window in win.offsets()
        )

    def _turned(self, xp):
        """The chunk's canvas (m, C, *S) copied to (C, *S, m), in a scratch buffer."""
        turned = _scratch.scratch("canvas_t", xp.shape[1:] + xp.shape[:1], xp.dtype)
        np.copyto(turned, np.moveaxis(xp, 0, -1))
        return turned

    def columns(self, xp, ones=False):
        """col (C prod(k), prod(out) m): one copy of the turned canvas's windows; with
        ``ones``, a row of ones below (``_conv_blocked.column_matrix``)."""
        turned = self._turned(xp)
        c, m, win = xp.shape[1], xp.shape[0], self.win
        spatial = turned.strides[1:-1]
        strides = (turned.strides[0], *(st * d for st, d in zip(spatial, win.dilation,
                                                                 strict=True)),
                   *spatial, turned.strides[-1])  # fmt: skip
        shape = (c, *win.kernel, *win.out, m)
        out, col = _conv_blocked.column_matrix(shape, c * math.prod(win.kernel), ones, xp.dtype)
        np.copyto(out, np.ndarray(shape, xp.dtype, turned, 0, strides))
        return col

    def images(self, a, m):
        """``a`` (rows, prod(out) m), a chunk's product in this column order, as a view
        (m, rows, *out)."""
        return np.moveaxis(a.reshape((a.shape[0],) + self.win.out + (m,)), -1, 0)

    def add_columns(self, dxp, dcol):
        """col2im: ``dxp[n, c, i + d p] += dcol[(c, p), (i, n)]``, by :meth:`_turned_grad`."""
        dxp += np.moveaxis(self._turned_grad(dcol, dxp.shape), -1, 0)

    def input_grad(self, dcol, canvas_shape, out):
        """dx from ``dcol``: the turned gradient's (:meth:`_turned_grad`) part on x, turned
        back into ``out`` by one copy. Through a canvas-shaped gradient, as the other layouts
        go, it took three passes more (its zero fill, the addition of the turned one, the
        crop): LeNet-5's second conv at batch 128, 6 x 14 x 14 -> 16 (5x5), forward + backward
        4.78-4.95 ms -> 4.54-4.79 (Intel Xeon, one thread, December 2026)."""
        np.copyto(out, self.win.crop(np.moveaxis(self._turned_grad(dcol, canvas_shape), -1, 0)))

    def _turned_grad(self, dcol, canvas_shape):
        """The canvas' gradient turned, (C, *S, m): ``[c, i + d p, n] += dcol[(c, p), (i,
        n)]``, one addition of runs per kernel offset into zeros (scratch buffer)."""
        m, c = canvas_shape[:2]
        dturned = _scratch.zeros("dcanvas_t", tuple(canvas_shape[1:]) + (m,), dcol.dtype)
        runs = dcol.reshape((c, len(self.runs)) + self.win.out + (m,))
        for j, window in enumerate(self.runs):
            dturned[window] += runs[:, j]
        return dturned

    def canvas(self, x):
        return _conv_blocked._canvas(x, self.win)

    def to_input(self, dxp, out):
        np.copyto(out, self.win.crop(dxp))


@functools.lru_cache(maxsize=256)
def _layout(win):
    return ImagesInnerLayout(win)


def forward(x, weight, bias, groups, win):
    """y (N, C_out, *out) of (3.4), chunk by chunk of images, images innermost."""
    return _conv_blocked.forward_chunks(x, weight, bias, groups, _layout(win))


def backward(dy, x, weight, has_bias, groups, win, input_grad, weight_grad=True):
    """``(dx, dweight, dbias)`` of (3.4), chunk by chunk of images, images innermost."""
    return _conv_blocked.backward_chunks(dy, x, weight, has_bias, groups, _layout(win),
                                         input_grad, weight_grad)  # fmt: skip
