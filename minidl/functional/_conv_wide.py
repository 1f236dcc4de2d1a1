r"""Stride-1 convolution on the "wide" output grid (private; behind ``conv_nd_forward``).

The sums are those of :mod:`minidl.functional.conv` computed as im2col does, with one change
of layout. Flatten each image's padded canvas (spatial sizes ``S``, row-major strides
``st``). With stride 1, output position ``i`` and kernel offset ``p`` read canvas element

.. math:: f(\mathbf{i} + \mathbf{d p}) = \sum_a (i_a + d_a p_a)\, st_a
          = t(\mathbf{i}) + f(\mathbf{d p}),

so offset ``p`` of *every* window is one contiguous run of the flattened canvas,
``canvas[f(d p) : f(d p) + T]``, if the output is indexed by ``t(i)`` on the "wide" grid
``t = 0 .. T - 1``, :math:`T = t(\mathbf{out} - 1) + 1`. The grid has a few more positions
than the output (the ends of rows, where a window would wrap into the next row: 136 instead of
100 for LeNet-5's second layer, 838 instead of 784 for a 3x3 'same' conv on 28x28); their
columns are computed and dropped. In exchange:

- im2col copies prod(k) runs of ``T`` contiguous values per channel and image, and col2im
  adds them back the same way, where the strided windows of ``Windows.view`` copy and add runs
  of one output row (10 values for LeNet-5: the per-row overhead made col2im 40% of its
  backward);
- in the backward, ``dy`` is zero on the extra positions, so ``dw = dy col^T`` and ``dcol =
  w^T dy`` need no mask: the wrapped windows contribute nothing.

The batch runs in chunks of whole images by the loops of :mod:`minidl.functional._conv_blocked`
(``forward_chunks`` / ``backward_chunks``), which this layout (:class:`WideLayout`) feeds.

The grid pays for its extra positions in all three GEMMs, so :func:`applies` takes it only
where that costs less than the strided gather it saves: when the extra positions times the
output channels per group stay below ``MAX_EXTRA_WORK`` (each extra position costs a GEMM
column of C_out/groups outputs; the gather it saves costs about ten per window element here).
A 1x1 kernel with no padding is the degenerate grid (T = positions, ``col`` is ``x`` itself):
one batched GEMM per pass, no gather at all.
"""

import functools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from minidl.functional import _conv_blocked, _scratch
from minidl.functional.windows import padded_shape

# Measured with benchmarks/bench_sweep.py at one thread (December 2026): 3x3 'same' convs with
# 16-128 output channels on 14-28 pixels (extra work 2-9) ran 1.1-2.1x faster on the grid; with
# 256 channels on 7-14 pixels (extra work 33-63) 1.2x slower (AMD EPYC). Between the two, on the
# Intel Xeon, forward + backward: article 003's second conv, 32 x 32 x 13 x 13 -> 64 (3x3,
# extra 10.6), 6.4 ms on the grid against 6.9; 32 x 64 x 9 x 9 -> 64 (12.6) 8.9 against 10.0;
# 32 x 64 x 7 x 7 -> 64 (15.7) 5.6 against 6.9; 32 x 128 x 14 x 14 -> 128 (17.0) 64.5 against
# 68.2; at 34 (8 x 256 x 14 x 14 -> 256) the grid lost there too, 56.3 against 52.8.
MAX_EXTRA_WORK = 20
# Below _conv_blocked.MIN_WINDOW window elements the GEMM is trivial and the row blocks, which
# write y in place, win (1 -> 32 channels, 3x3: 1.2 ms there against 1.8 on the grid); the
# forward of a first layer (_conv_blocked.first_layer) takes the row blocks up to 32.


@functools.lru_cache(maxsize=256)  # a layer asks with the same shapes at every call
def applies(x_shape, weight_shape, groups, win):
    """Stride 1 on every axis, and the grid's extra work small (module docstring)."""
    if any(s != 1 for s in win.stride):
        return False
    if _pointwise(win):
        return True
    T, _ = _grid(padded_shape(x_shape, win.canvas_pads), win)
    extra = (T / math.prod(win.out) - 1) * weight_shape[0] / groups
    window = weight_shape[1] * math.prod(win.kernel)
    return extra <= MAX_EXTRA_WORK and window >= _conv_blocked.MIN_WINDOW


def _pointwise(win):
    """A 1x1 kernel that reads x itself (no padding): y = w x per image."""
    return all(k == 1 for k in win.kernel) and all(p == (0, 0) for p in win.canvas_pads)


def _grid(canvas_shape, win):
    """``(T, steps)``: the wide grid's length and the flat step of each spatial axis."""
    steps = [math.prod(canvas_shape[2 + a + 1 :]) for a in range(len(win.out))]
    return sum((o - 1) * st for o, st in zip(win.out, steps, strict=True)) + 1, steps


class WideLayout:
    """The wide grid as a column layout for ``_conv_blocked``'s chunk loops: ``positions`` = T
    per image; offset ``p`` of every window is the run ``[starts[p], starts[p] + T)`` of each
    flattened (C-contiguous) canvas image."""

    def __init__(self, canvas_shape, win):
        self.win = win
        self.positions, self.steps = _grid(canvas_shape, win)
        self.starts = [sum(d * q * st for d, q, st in zip(win.dilation, p, self.steps, strict=True))
                       for p in np.ndindex(*win.kernel)]  # fmt: skip

    def columns(self, xp):
        """col (C prod(k), m T): row (c, p), column (n, t) holds canvas[n, c, f(d p) + t]."""
        m, c = xp.shape[:2]
        sn, sc, item = xp.strides[0], xp.strides[1], xp.itemsize
        offsets = tuple(d * st * item for d, st in zip(self.win.dilation, self.steps, strict=True))
        shape, strides = (c, *self.win.kernel, m, self.positions), (sc, *offsets, sn, item)
        runs = _strided(xp, shape, strides)
        col = _scratch.scratch("col", runs.shape, xp.dtype)
        np.copyto(col, runs)
        return col.reshape(c * math.prod(self.win.kernel), m * self.positions)

    def on_output(self, a):
        """The output positions of ``a`` (..., T) as a view (..., *out)."""
        strides = a.strides[:-1] + tuple(st * a.itemsize for st in self.steps)
        return _strided(a, a.shape[:-1] + self.win.out, strides)

    def add_columns(self, dxp, dcol):
        """col2im on the wide grid: canvas[n, c, f(d p) + t] += dcol[(c, p), (n, t)], one
        addition of contiguous runs per kernel offset ``p``."""
        m, c = dxp.shape[:2]
        flat = dxp.reshape(m, c, -1).swapaxes(0, 1)  # (C, m, L): the layout of dcol's rows
        runs = dcol.reshape((c, len(self.starts), m, self.positions))
        for j, start in enumerate(self.starts):
            flat[:, :, start : start + self.positions] += runs[:, j]


def _strided(a, shape, strides):
    """The view of ``a``'s memory with this shape and these byte strides: ``as_strided``
    without its Python wrapper (2.5 us a call against 0.3, four calls per forward + backward
    of a layer whose whole fixed cost is about 150 us), where ``a`` is C-contiguous; NumPy's
    constructor checks that the view stays inside ``a``. Elsewhere ``as_strided`` itself.
    Writeable, as ``on_output`` views are written through (``dy`` into its chunk's columns)."""
    if a.flags.c_contiguous:
        return np.ndarray(shape, a.dtype, a, 0, strides)
    return as_strided(a, shape, strides)


@functools.lru_cache(maxsize=256)
def _layout(canvas_shape, win):
    """The :class:`WideLayout` of a canvas shape, made once per shape (it is read-only)."""
    return WideLayout(canvas_shape, win)


def forward(x, weight, bias, groups, win):
    """y (N, C_out, *out) of (3.4) on the wide grid, chunk by chunk of images."""
    if _pointwise(win):
        return _pointwise_forward(x, weight, bias, groups, win)
    xp = _conv_blocked._canvas(x, win)
    return _conv_blocked.forward_chunks(xp, weight, bias, groups, _layout(xp.shape, win))


def backward(dy, x, weight, has_bias, groups, win, input_grad):
    """``(dx, dweight, dbias)`` of (3.4) on the wide grid, chunk by chunk of images."""
    if _pointwise(win):
        return _pointwise_backward(dy, x, weight, has_bias, groups, win, input_grad)
    xp = _conv_blocked._canvas(x, win)
    layout = _layout(xp.shape, win)
    return _conv_blocked.backward_chunks(dy, xp, weight, has_bias, groups, layout, input_grad)


def _pointwise_forward(x, weight, bias, groups, win):
    """1x1, unpadded: y[n, g] = w[g] x[n, g], one batched GEMM over images and groups."""
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    w3 = weight.reshape(groups, c_out // groups, c_in // groups)
    x4 = x.reshape(n, groups, c_in // groups, -1)
    y = np.matmul(w3, x4)  # (N, groups, C_out/groups, positions)
    if bias is not None:
        y += bias.reshape(groups, c_out // groups, 1)
    return y.reshape((n, c_out) + win.out)


def _pointwise_backward(dy, x, weight, has_bias, groups, win, input_grad):
    """1x1, unpadded: dw[g] = sum_n dy[n, g] x[n, g]^T and dx[n, g] = w[g]^T dy[n, g]."""
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    w3 = weight.reshape(groups, c_out // groups, c_in // groups)
    x4 = x.reshape(n, groups, c_in // groups, -1)
    dy4 = dy.reshape(n, groups, c_out // groups, -1)
    dw = np.matmul(dy4, x4.swapaxes(-1, -2)).sum(axis=0)  # per image, then summed
    db = dy.sum(axis=(0, *range(2, dy.ndim))) if has_bias else None
    dx = np.matmul(w3.swapaxes(-1, -2), dy4).reshape(x.shape) if input_grad else None
    return dx, dw.reshape(weight.shape), db
