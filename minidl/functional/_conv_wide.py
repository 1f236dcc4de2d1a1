r"""Convolution on the "wide" output grid (private; behind ``conv_nd_forward``): stride 1 on
the padded canvas itself, larger strides on the canvas cut into the stride's phases
(:class:`PhasedLayout`, where each phase is a stride-1 plane).

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

import copy
import functools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from minidl.functional import _conv_blocked, _scratch, _threads
from minidl.functional._ufunc_buffer import with_rows_in_place
from minidl.functional.windows import padded_shape

# Measured with benchmarks/bench_sweep.py at one thread (December 2026): 3x3 'same' convs with
# 16-128 output channels on 14-28 pixels (extra work 2-9) ran 1.1-2.1x faster on the grid; with
# 256 channels on 7-14 pixels (extra work 33-63) 1.2x slower (AMD EPYC). Between the two, on the
# Intel Xeon, forward + backward: article 003's second conv, 32 x 32 x 13 x 13 -> 64 (3x3,
# extra 10.6), 6.4 ms on the grid against 6.9; 32 x 64 x 9 x 9 -> 64 (12.6) 8.9 against 10.0;
# 32 x 64 x 7 x 7 -> 64 (15.7) 5.6 against 6.9; 32 x 128 x 14 x 14 -> 128 (17.0) 64.5 against
# 68.2; at 34 (8 x 256 x 14 x 14 -> 256) the grid lost there too, 56.3 against 52.8.
MAX_EXTRA_WORK = 20
# At most this much of x per block of images when it is cut into (or dx put back from) the
# phases of a strided conv (PhasedLayout).
PHASE_BLOCK_BYTES = 256 * 2**10
# Below _conv_blocked.MIN_WINDOW window elements the GEMM is trivial and the row blocks, which
# write y in place, win (1 -> 32 channels, 3x3: 1.2 ms there against 1.8 on the grid); the
# forward of a first layer (_conv_blocked.first_layer) takes the row blocks up to 32.


@functools.lru_cache(maxsize=256)  # a layer asks with the same shapes at every call
def applies(x_shape, weight_shape, groups, win):
    """The grid's extra work small (module docstring), on the stride's phases if strided."""
    if _pointwise(win):
        return True
    T = layout_for(x_shape, win).positions
    extra = (T / math.prod(win.out) - 1) * weight_shape[0] / groups
    window = weight_shape[1] * math.prod(win.kernel)
    return extra <= MAX_EXTRA_WORK and window >= _conv_blocked.MIN_WINDOW


def _pointwise(win):
    """A 1x1 kernel, stride 1, that reads x itself (no padding): y = w x per image."""
    return (all(k == 1 for k in win.kernel) and all(s == 1 for s in win.stride)
            and all(p == (0, 0) for p in win.canvas_pads))  # fmt: skip


def _grid(canvas_shape, win):
    """``(T, steps)``: the wide grid's length and the flat step of each spatial axis."""
    steps = [math.prod(canvas_shape[2 + a + 1 :]) for a in range(len(win.out))]
    return sum((o - 1) * st for o, st in zip(win.out, steps, strict=True)) + 1, steps


class WideLayout(_conv_blocked.CanvasCol2im):
    """The wide grid as a column layout for ``_conv_blocked``'s chunk loops: ``positions`` = T
    per image; offset ``p`` of every window is the run ``[starts[p], starts[p] + T)`` of each
    flattened (C-contiguous) canvas image."""

    def __init__(self, canvas_shape, win):
        self.win, self.canvas_shape = win, canvas_shape[2:]
        self.positions, self.steps = _grid(canvas_shape, win)
        self.starts = [sum(d * q * st for d, q, st in zip(win.dilation, p, self.steps, strict=True))
                       for p in np.ndindex(*win.kernel)]  # fmt: skip
        # the output this layout's columns hold: all of it, from grid position 0 (see slab)
        self.out, self.t0 = win.out, 0

    def slab(self, r0, r1):
        """This layout cut to output rows ``r0 .. r1 - 1`` of the first spatial axis: the grid
        positions ``t0 = r0 st_0`` up to ``r1 st_0`` (up to T for the last rows), a contiguous
        part of every run. A chunk loop takes one image's slabs one after the other where the
        image's columns alone would not fit in a chunk (``_conv_blocked.slabs``)."""
        part = copy.copy(self)
        t1 = self.positions if r1 == self.out[0] else r1 * self.steps[0]
        part.t0 = r0 * self.steps[0]
        part.out, part.positions = (r1 - r0, *self.out[1:]), t1 - part.t0
        part.starts = [start + part.t0 for start in self.starts]
        return part

    def columns(self, xp, ones=False):
        """col (C prod(k), m T): row (c, p), column (n, t) holds canvas[n, c, f(d p) + t]; with
        ``ones``, a row of ones below (``_conv_blocked.column_matrix``)."""
        xp = xp[..., self.t0 :] if self.t0 else xp  # a slab's runs start at its first position
        m, c = xp.shape[:2]
        sn, sc, item = xp.strides[0], xp.strides[1], xp.itemsize
        offsets = tuple(d * st * item for d, st in zip(self.win.dilation, self.steps, strict=True))
        shape, strides = (c, *self.win.kernel, m, self.positions), (sc, *offsets, sn, item)
        runs = _strided(xp, shape, strides)
        out, col = _conv_blocked.column_matrix(shape, c * math.prod(self.win.kernel), ones,
                                               xp.dtype)  # fmt: skip
        np.copyto(out, runs)
        return col

    def canvas(self, x):
        """The flattened canvas the runs are read from: ``x`` padded, (N, C, L)."""
        xp = _conv_blocked._canvas(x, self.win)
        return xp.reshape(xp.shape[:2] + (-1,))

    def to_input(self, dcanvas, out):
        """dx from the gradient of the canvas: its part on ``x``, into ``out`` (a chunk's
        images of dx)."""
        np.copyto(out, self.win.crop(dcanvas.reshape(dcanvas.shape[:2] + self.canvas_shape)))

    def on_output(self, a):
        """The output positions of ``a`` (..., T) as a view (..., *out)."""
        strides = a.strides[:-1] + tuple(st * a.itemsize for st in self.steps)
        return _strided(a, a.shape[:-1] + self.out, strides)

    def images(self, a, m):
        """A chunk's product (rows, m T) as a view (m, rows, *out) of its output positions."""
        return _conv_blocked.images_first(self, a, m)

    def add_columns(self, dxp, dcol):
        """col2im on the wide grid: canvas[n, c, f(d p) + t] += dcol[(c, p), (n, t)], one
        addition of contiguous runs per kernel offset ``p``."""
        m, c = dxp.shape[:2]
        flat = dxp.reshape(m, c, -1).swapaxes(0, 1)  # (C, m, L): the layout of dcol's rows
        runs = dcol.reshape((c, len(self.starts), m, self.positions))
        for j, start in enumerate(self.starts):
            flat[:, :, start : start + self.positions] += runs[:, j]


class PhasedLayout(WideLayout):
    r"""The wide grid of a strided conv, on the canvas cut into its stride's phases.

    With stride ``s``, output position ``i`` and kernel offset ``p`` read canvas element
    :math:`s_a i_a + d_a p_a` on each axis ``a``. Write :math:`d_a p_a = s_a q_a + r_a`, with
    :math:`0 \le r_a < s_a`: the element is :math:`s_a (i_a + q_a) + r_a`, element
    :math:`\mathbf{i} + \mathbf{q}` of the phase :math:`\mathbf{r}`, the plane
    ``canvas[..., r_0::s_0, r_1::s_1]``. With the planes that some offset reads laid one after
    the other, each ``ceil(S_a / s_a)`` long on axis ``a`` (zeros past the canvas), offset ``p``
    of every window is again one run of ``T`` contiguous values: the wide grid of a stride-1
    conv on a plane, started at ``p``'s plane plus :math:`f(\mathbf{q})`. Building the planes
    is one strided copy of ``x`` per phase, and dx comes back from them the same way; in
    between, the gathers and col2im move contiguous runs instead of every ``s``-th value.
    """

    def __init__(self, canvas_shape, win):
        self.win, self.canvas_shape = win, canvas_shape[2:]
        self.plane = tuple(-(-size // s) for size, s in zip(canvas_shape[2:], win.stride,
                                                             strict=True))  # fmt: skip
        self.steps = [math.prod(self.plane[a + 1 :]) for a in range(len(self.plane))]
        self.positions = sum((o - 1) * st for o, st in zip(win.out, self.steps, strict=True)) + 1
        splits = [[divmod(d * q, s) for q, d, s in zip(p, win.dilation, win.stride, strict=True)]
                  for p in np.ndindex(*win.kernel)]  # fmt: skip
        self.phases = sorted({tuple(r for _, r in split) for split in splits})
        size = math.prod(self.plane)
        self.starts = [
            self.phases.index(tuple(r for _, r in split)) * size
            + sum(q * st for (q, _), st in zip(split, self.steps, strict=True))
            for split in splits
        ]
        self.pieces = [piece for piece in map(self._piece, self.phases) if piece is not None]
        self.out, self.t0 = win.out, 0

    def _piece(self, phase):
        """``(plane index, x index)`` of the elements of ``x`` that lie on phase ``phase``'s
        plane: plane element ``j`` is canvas element ``s j + r``, ``x`` element ``s j + r -
        before``. None when no element of ``x`` does (it lies in the padding)."""
        on_plane, on_x = [], []
        for r, s, (before, _), n in zip(phase, self.win.stride, self.win.canvas_pads,
                                        self.win.in_sizes, strict=True):  # fmt: skip
            j0 = max(0, -(-(before - r) // s))  # the first plane element on x
            x0 = s * j0 + r - before
            count = -(-(n - x0) // s) if x0 < n else 0
            if count <= 0:
                return None
            on_plane.append(slice(j0, j0 + count))
            on_x.append(slice(x0, x0 + s * (count - 1) + 1, s))
        return (self.phases.index(phase), *on_plane), (Ellipsis, *on_x)

    def canvas(self, x):
        """The planes, (N, C, phases x plane) flattened: zeros, then each phase's part of x."""
        planes = _scratch.zeros("canvas", x.shape[:2] + (len(self.phases),) + self.plane,
                                x.dtype)  # fmt: skip
        for images in _image_blocks(x):
            for on_plane, on_x in self.pieces:
                planes[(images, slice(None)) + on_plane] = x[images][on_x]
        return planes.reshape(x.shape[:2] + (-1,))

    def to_input(self, dcanvas, out):
        """dx from the planes' gradient: each phase's part copied back to its elements of x
        (zero where no window reads: a phase no offset falls on), into ``out``."""
        n, c = dcanvas.shape[:2]
        planes = dcanvas.reshape((n, c, len(self.phases)) + self.plane)
        if len(self.phases) < math.prod(self.win.stride):  # some elements of x no window reads
            out.fill(0)
        for images in _image_blocks(out):
            for on_plane, on_x in self.pieces:
                out[images][on_x] = planes[(images, slice(None)) + on_plane]

    def columns(self, planes, ones=False):
        """col (C prod(k), m T): row (c, p), column (n, t) holds planes[n, c, starts[p] + t],
        one copy of runs per kernel offset; with ``ones``, a row of ones below."""
        m, c = planes.shape[:2]
        shape = (c, len(self.starts), m, self.positions)
        out, col = _conv_blocked.column_matrix(shape, c * len(self.starts), ones, planes.dtype)
        for j, start in enumerate(self.starts):
            np.copyto(out[:, j], planes[:, :, start : start + self.positions].swapaxes(0, 1))
        return col


def _image_blocks(x):
    """Slices of x's batch of at most ``PHASE_BLOCK_BYTES`` each (at least one image): the
    phases' copies each read every s-th value, so a block's phases are copied while its
    images are in cache (32 x 64 x 28 x 28, stride 2: 0.94 ms image by image against 1.36 for
    the batch at once; Intel Xeon, December 2026)."""
    step = max(1, PHASE_BLOCK_BYTES // max(1, x[:1].nbytes))
    return [slice(a, a + step) for a in range(0, x.shape[0], step)]


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


@functools.lru_cache(maxsize=256)  # a layer asks with the same shapes at every call
def layout_for(x_shape, win):
    """The wide grid's layout for an input of ``x_shape``: on the canvas itself at stride 1,
    on the stride's phases (:class:`PhasedLayout`) otherwise; made once per shape (it is
    read-only)."""
    canvas_shape = padded_shape(x_shape, win.canvas_pads)
    if all(s == 1 for s in win.stride):
        return _layout(canvas_shape, win)
    return PhasedLayout(canvas_shape, win)


def forward(x, weight, bias, groups, win):
    """y (N, C_out, *out) of (3.4) on the wide grid, chunk by chunk of images."""
    if _pointwise(win):
        return _pointwise_forward(x, weight, bias, groups, win)
    layout = layout_for(x.shape, win)
    return _conv_blocked.forward_chunks(x, weight, bias, groups, layout)


def backward(dy, x, weight, has_bias, groups, win, input_grad, weight_grad=True):
    """``(dx, dweight, dbias)`` of (3.4) on the wide grid, chunk by chunk of images."""
    if _pointwise(win):
        return _pointwise_backward(dy, x, weight, has_bias, groups, win, input_grad, weight_grad)
    layout = layout_for(x.shape, win)
    return _conv_blocked.backward_chunks(dy, x, weight, has_bias, groups, layout, input_grad,
                                         weight_grad)  # fmt: skip


def whole_forward(x, weight, bias, groups, win):
    """y (N, C_out, *out) of a small conv (``conv.SMALL_COLUMNS_BYTES`` of windows for the
    batch) on the wide grid, the whole batch as one chunk on the caller's thread: the steps of
    ``_conv_blocked.forward_chunks`` (canvas, runs, ``y = [w b] [col; 1]``, the output
    positions copied out) without its chunk and slab bookkeeping, which costs more than such a
    conv's GEMM. Against the vectorized tier's strided gather, one copy of runs per kernel
    offset (see :func:`whole_backward` for the figures)."""
    layout = layout_for(x.shape, win)
    n, c_out = x.shape[0], weight.shape[0]
    w2, fused = _conv_blocked.weights_with_bias(weight, bias, groups)
    col = layout.columns(layout.canvas(x), ones=fused)
    # the product in a scratch buffer, as the chunk loops', where a new array could be fresh
    # memory: 8 x 1 x 28 x 28 -> 32 (0.74 MB of product) took 0.45 ms a forward alone against
    # 0.15; in a network glibc mostly serves it from memory it kept (article 003's first conv
    # at batch 8: 0.20 ms either way; Intel Xeon, one thread, December 2026)
    cols = n * layout.positions
    yc = _scratch.scratch("y", (c_out, cols), x.dtype)
    np.matmul(w2, col.reshape(groups, -1, cols), out=yc.reshape(groups, -1, cols))
    if bias is not None and not fused:
        yc += bias.reshape(c_out, 1)
    y = np.empty((n, c_out) + win.out, dtype=x.dtype)
    np.copyto(y, layout.images(yc, n))
    return y


@with_rows_in_place  # col2im's runs, one per channel and image, T long each
def whole_backward(dy, x, weight, has_bias, groups, win, input_grad, weight_grad=True):
    """``(dx, dweight, dbias)`` of a small conv on the wide grid, the whole batch as one chunk
    (:func:`whole_forward`): dy onto the grid (zero on its extra positions), ``dW = dy
    col^T``, ``dcol = w^T dy``, col2im by one addition of runs per kernel offset.

    The vectorized tier that ran small convs before gathers and adds strided rows of one
    output row each (27 x 32 rows of 32 for a 1 x 3 x 32 x 32 -> 16 3x3 conv), where these
    move 27 runs of 1,086. A conv layer's forward + backward with dx, us, the tier -> these
    (one thread, best of 300, two alternating runs, Intel Xeon, December 2026): that conv
    156 -> 140-144; 2 images of it 236-250 -> 205-209; 1 x 1 x 28 x 28 -> 6 (5x5) 134-135 ->
    114-115; 1 x 6 x 14 x 14 -> 16 (5x5) 154-157 -> 138-142; 1 x 32 x 13 x 13 -> 64 299-300 ->
    270-278; 2 x 32 x 7 x 7 -> 64 332-338 -> 288-301; 4 x 16 x 8 x 8 -> 16 265-267 -> 214-221;
    1 x 1 x 28 x 28 -> 32 (3x3) a tie, 116-120 and 117-119. The forward alone ties: the
    fixed cost of a call (argument checks, the choice of path, the layer's own) is most of
    it."""
    layout = layout_for(x.shape, win)
    c_out, cols = weight.shape[0], x.shape[0] * layout.positions
    o_g = c_out // groups
    dyc = _conv_blocked.dy_columns(layout, dy).reshape(groups, o_g, cols)
    xp = layout.canvas(x)
    dw = dx = None
    if weight_grad:
        col = layout.columns(xp).reshape(groups, -1, cols)
        dw = np.matmul(dyc, col.swapaxes(1, 2)).reshape(weight.shape)
    # dy.sum, as the vectorized tier: _threads.BiasGrad's per-image sums (the chunk loops')
    # cost 10-20 us more on a 290 us layer (1 x 32 x 13 x 13 -> 64; Intel Xeon, one thread)
    db = dy.sum(axis=(0, *range(2, dy.ndim))) if has_bias else None
    if input_grad:
        w_t = weight.reshape(groups, o_g, -1).swapaxes(1, 2)
        dcol = _scratch.scratch("dcol", (groups, w_t.shape[1], cols), x.dtype)
        np.matmul(w_t, dyc, out=dcol)
        dx = np.empty_like(x)
        layout.input_grad(dcol.reshape(-1, cols), xp.shape, out=dx)
    return dx, dw, db


def _pointwise_forward(x, weight, bias, groups, win):
    """1x1, unpadded: y[n, g] = w[g] x[n, g], one batched GEMM over images and groups."""
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    w3 = weight.reshape(groups, c_out // groups, c_in // groups)
    x4 = x.reshape(n, groups, c_in // groups, -1)
    y = np.empty((n, groups, c_out // groups, x4.shape[-1]), dtype=x.dtype)

    def some_images(images):  # y[images] = w x[images], (images, groups, C_out/g, positions)
        np.matmul(w3, x4[images], out=y[images])
        if bias is not None:
            y[images] += bias.reshape(groups, c_out // groups, 1)

    _threads.map_gemms(some_images, _image_shares(x, weight), x.nbytes, _macs(x, weight))
    return y.reshape((n, c_out) + win.out)


def _macs(x, weight):
    """The multiply-adds of a 1x1 conv's pass (every position of x is an output position)."""
    return _conv_blocked.gemm_macs(x.shape[0], math.prod(x.shape[2:]), weight.shape)


def _image_shares(x, weight):
    """The batch cut into one slice of images per GEMM worker (``_threads.map_gemms``): the
    1x1 products of each image are GEMMs of their own."""
    workers = _threads.gemm_workers(x.nbytes, _macs(x, weight))
    return [slice(a, a + m) for a, m in _threads.shares(x.shape[0], workers)]


def _pointwise_backward(dy, x, weight, has_bias, groups, win, input_grad, weight_grad=True):
    """1x1, unpadded: dw[g] = sum_n dy[n, g] x[n, g]^T (unless not ``weight_grad``: None) and
    dx[n, g] = w[g]^T dy[n, g]."""
    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    w3 = weight.reshape(groups, c_out // groups, c_in // groups)
    x4 = x.reshape(n, groups, c_in // groups, -1)
    dy4 = dy.reshape(n, groups, c_out // groups, -1)
    dx = np.empty(x4.shape, dtype=x.dtype) if input_grad else None
    db = _threads.BiasGrad(dy, has_bias)

    def some_images(images):  # returns their share of dw; writes dx[images] alone
        db.add(images.start, images.stop - images.start)
        if dx is not None:
            np.matmul(w3.swapaxes(-1, -2), dy4[images], out=dx[images])
        if weight_grad:
            return np.matmul(dy4[images], x4[images].swapaxes(-1, -2)).sum(axis=0)  # per image
        return None

    shares = _threads.map_gemms(some_images, _image_shares(x, weight), x.nbytes,
                                _macs(x, weight))  # fmt: skip
    dx = None if dx is None else dx.reshape(x.shape)
    dw = _threads.summed(shares).reshape(weight.shape) if weight_grad else None
    return dx, dw, db.result()
