r"""Winograd's F(2, 3) and F(2, 5) behind the 1-D stride-1 convs (private).

The sums are those of :mod:`minidl.functional.conv` (3.4) along one axis. Each pair of outputs
comes from the r + 1 inputs ``d`` under it and the r taps ``g`` as

.. math:: y = A^T \left[ (G g) \odot (B^T d) \right]

with the matrices of :mod:`minidl.functional._conv_winograd` (F(2x2, 3x3)'s and F(2x2, 5x5)'s
are these, applied along both axes). Summed over input channels, the r + 1 elements of the
transformed tile are r + 1 products :math:`M_\xi = U_\xi V_\xi`, (C_out x C_in) by (C_in x
tiles): 2 (r + 1) C_out C_in multiply-adds per two outputs where im2col makes 2 r, 1.5 times
fewer for r = 3 and 1.67 for r = 5. The backward is the 2-D one's along one axis:
:math:`\bar M = A\, dy`, :math:`dW = G^T (\bar M V^T)`, :math:`\bar d = B (U^T \bar M)` with
the overlapping tiles' shares added.

The padded signal is split into its two phases ``P[q] = canvas[q::2]`` (channels first, the
chunk's images next), each of ``tw + halo`` elements a row (``tw`` tiles, ``halo`` = (r - 1) /
2), all rows one run: element ``2 j + a`` of tile ``j`` is ``P[a % 2]`` at ``j + a // 2``, a
shift of the run, so one stage of :mod:`minidl.functional._conv_winograd`'s ``Tiles`` (the
2-D transforms' second stage) is the whole input transform. What a row's last ``halo``
positions compute is thrown away (dy is zero there).
"""

import numpy as np

from minidl.functional import _machine, _scratch, _threads
from minidl.functional._conv_winograd import TILES, Grid, chunks_of_images
from minidl.functional._ufunc_buffer import with_rows_in_place

# On one thread from this many channels in and out (per group), by the kernel's taps: below,
# the products are too thin to pay for the transforms. Forward + backward of a Conv1D layer,
# minidl alone, best of 7, fresh processes, im2col against F(2, r) (AMD EPYC, December 2026),
# one thread: 3 taps, 8 x 64 x 256 -> 64 3.9-4.0 ms against 3.1-3.6, 32 x 64 x 256 -> 64
# 13.8-15.1 against 10.4-10.6, 8 x 16 x 256 -> 32 0.58-0.59 against 0.50-0.52; 5 taps, 8 x 64
# x 256 -> 64 4.6-4.9 against 3.7-3.8, but 32 x 32 x 1000 -> 64 29.0-29.6 against 28.6-29.1
# and 32 x 16 x 1000 -> 32 9.8-10.3 against 12.4 (its transforms are 20 calls a stage).
MIN_CHANNELS_1D = {3: 16, 5: 64}
# ...and on more threads from this many, 3 taps only: 32 x 64 x 256 -> 64 8.7-10.9 against
# 6.4-9.4, 32 x 128 x 256 -> 128 20.6-22.8 against 17.8-18.9, 8 x 64 x 256 -> 64 2.4-2.9
# against 2.3-3.2 (two threads); 5 taps lost there (8 x 64 x 256 -> 64 3.0-3.2 against 3.7-4.3,
# 32 x 32 x 1000 -> 64 18.6-18.7 against 20.9-25.9).
MIN_CHANNELS_1D_THREADS = {3: 64}
# The rules of the machines' profiles (:mod:`minidl.functional._machine`) that differ from the
# two above: (least channels by the taps on one thread, on more). On the Intel Xeon the
# transforms' passes gained nothing below 128 channels on one thread and nothing at all on two
# (forward + backward, minidl alone, best of 7 x 3, fresh processes alternating, three runs
# each, December 2026, Winograd against im2col, ms). One thread: 32 x 16 x 1000 -> 32 11.4-12.9
# against 9.1-10.1; 8 x 16 x 256 -> 32 0.91-0.99 against 0.79-0.82; 8 x 64 x 256 -> 64 2.80-2.93
# against 2.73-2.91; 32 x 64 x 256 -> 64 11.4-11.6 against 10.9-11.0; 5 taps 8 x 64 x 256 -> 64
# 4.56-4.79 against 4.01-4.30 and 32 x 64 x 1000 -> 64 71.0-76.6 against 59.7-64.9; but from
# 128 channels it won or tied (32 x 128 x 256 -> 128 29.4-31.0 against 31.0-33.1; 32 x 256 x
# 256 -> 256 83.8-90.8 against 100.1-104.9; 5 taps 16 x 128 x 512 -> 128 47.7-49.8 against
# 47.1-50.3, 16 x 256 x 256 -> 256 77.9-79.7 against 86.5-88.3). Two threads: 8 x 64 x 256 ->
# 64 2.90-3.23 against 2.40-2.68; 32 x 64 x 256 -> 64 6.7-7.0 against 6.1-6.3; 32 x 128 x 256 ->
# 128 20.4-21.3 against 16.5-17.2; 32 x 256 x 256 -> 256 57.8-59.5 against 52.2-54.2; 8 x 512
# x 128 -> 512 28.0-29.0 against 26.3-27.2. Those ran in the machine's slower hours (2048^3
# GEMM 132-138 GFLOP/s); in its faster ones (162-167), this rule against Winograd: one thread
# 32 x 16 x 1000 -> 32 7.2-7.7 against 7.9-9.3, 8 x 64 x 256 -> 64 a tie, 5 taps 3.3-3.8
# against 3.6-4.0; two threads 32 x 128 x 256 -> 128 13.9-14.6 against 16.4-17.8, 8 x 64 x 256
# -> 64 1.9-2.2 against 2.25-2.33.
PROFILE_RULES = {_machine.INTEL_AVX512: ({3: 128, 5: 128}, {})}
# At most this many bytes of V a chunk below MIN_CHANNELS_1D_THREADS[3] channels on one
# thread, where the batch's V is over twice that (else one chunk): with few channels the
# transforms' passes outweigh the products, and they run faster from L2. Forward + backward,
# minidl alone, best of 7, fresh processes alternating, three runs each, one thread, 2 MiB
# chunks against these (AMD EPYC, December 2026): 32 x 16 x 1000 -> 32 7.5-7.9 ms against
# 6.2-6.4 (im2col: 6.8, which the 2 MiB chunks had lost to); 32 x 24 x 500 -> 48 5.9-6.6
# against 5.7-6.1; 32 x 16 x 256 -> 32 1.92-1.99 against 1.71-1.73; 16 x 16 x 1000 -> 16
# 3.25-3.30 against 3.15-3.16; 8 x 16 x 256 -> 16 and -> 32, one chunk either way, a tie.
# 512 KiB chunks gained less on the long signals (32 x 16 x 1000 -> 32: 7.1-7.8 ms).
FEW_CHANNELS_CHUNK_BYTES = 2**18


def applies(x_shape, weight_shape, groups, win):
    """Whether a 1-D conv runs here: kernel 3 or 5, stride 1, no dilation, padding at most
    (r - 1) / 2 on each side, at least ``MIN_CHANNELS_1D`` channels in and out (per group, by
    the kernel's size) on one thread, ``MIN_CHANNELS_1D_THREADS`` and a batch to share out on
    more; on a machine of one of ``PROFILE_RULES``' profiles, that profile's least channels."""
    k = weight_shape[-1]
    if len(x_shape) != 3 or k not in TILES:
        return False
    channels = min(x_shape[1], weight_shape[0]) // groups
    one_thread, threads = PROFILE_RULES.get(_machine.profile(),
                                            (MIN_CHANNELS_1D, MIN_CHANNELS_1D_THREADS))  # fmt: skip
    if _threads.count() > 1:
        least = threads.get(k) if x_shape[0] > 1 else None
    else:
        least = one_thread.get(k)
    if least is None or channels < least:
        return False
    return win.stride == (1,) and win.dilation == (1,) and max(win.pads[0]) <= TILES[k].halo


def macs(x_shape, weight_shape, win):
    """The multiply-adds of one pass's r + 1 products (the rows' unused positions included)."""
    line = Line(x_shape, weight_shape, win.pads)
    return line.tiles.alpha * x_shape[0] * line.cols * weight_shape[0] * weight_shape[1]


class Line:
    """The tiles of one 1-D conv: ``lo`` outputs in ``tw`` tiles of two, each phase of the
    padded signal ``cols`` = tw + halo elements a row."""

    def __init__(self, x_shape, weight_shape, pads):
        self.tiles = TILES[weight_shape[-1]]
        self.length = x_shape[-1]
        self.left, right = pads[0]
        self.lo = self.length + self.left + right - 2 * self.tiles.halo
        self.tw = -(-self.lo // 2)
        self.cols = self.tw + self.tiles.halo

    def phases(self, a, groups, name, pad):
        """The two phases of ``a`` (m, C, length), zero-padded by ``pad`` in front (x by the
        conv's left padding; dy by none, zero where no output is): (2, groups, C / groups, m,
        cols)."""
        m, c = a.shape[:2]
        planes = _scratch.zeros(name, (2, groups, c // groups, m, self.cols), a.dtype)
        for part, signal in self._pairs(planes, _arranged(a, groups), pad):
            part[...] = signal
        return planes

    def unphase(self, planes, out, groups, pad):
        """``out`` (m, C, length) from its phases (2, groups, C / groups, m, cols), padded by
        ``pad``: the transpose of :meth:`phases` (dx from the phases' gradient; y from the
        output's phases)."""
        for part, signal in self._pairs(planes, _arranged(out, groups), pad):
            np.copyto(signal, part)

    @staticmethod
    def _pairs(planes, signal, pad):
        """``(phase part, signal part)`` of each phase: canvas element ``2 j + q`` (padded by
        ``pad``) is the signal's element ``2 j + q - pad``, on phase ``q`` at ``j``."""
        for q in range(2):
            elements, j0 = Grid._phase(q, pad, signal.shape[-1])  # as a 2-D plane's columns
            part = signal[..., elements]
            yield planes[q, ..., j0 : j0 + part.shape[-1]], part


def _arranged(a, groups):
    """``a`` (m, C, L) as the view (groups, C / groups, m, L) in which the phases hold it."""
    m, c, length = a.shape
    return a.reshape(m, groups, c // groups, length).transpose(1, 2, 0, 3)


def _weights(weight, groups, tiles):
    """``U = G g`` for every kernel row g: (r + 1, groups, C_out / groups, C_in / groups), the
    rows in the tiles' order, in the weight's dtype."""
    c_out, c_in = weight.shape[:2]
    u = tiles.G[tiles.order].astype(weight.dtype) @ weight.reshape(-1, tiles.kernel).T
    return u.reshape(tiles.alpha, groups, c_out // groups, c_in)


def _chunks(x, line, work):
    """The chunks of signals, by the 2-D module's rule (``chunks_of_images``), at most
    ``FEW_CHANNELS_CHUNK_BYTES`` of V a chunk below ``MIN_CHANNELS_1D_THREADS[3]`` channels on
    one thread."""
    per_image = line.tiles.alpha * max(x.shape[1], 1) * line.cols * x.itemsize
    few = x.shape[1] < MIN_CHANNELS_1D_THREADS[3]
    few = few and x.shape[0] * per_image > 2 * FEW_CHANNELS_CHUNK_BYTES  # else one chunk pays
    return chunks_of_images(x.shape[0], per_image, line.cols, work,
                            FEW_CHANNELS_CHUNK_BYTES if few else None)  # fmt: skip


def _transform_input(x, line, groups, name):
    """``V = B^T d`` for every tile: (r + 1, groups, C / groups, m x cols) in the tiles'
    order."""
    phases = line.phases(x, groups, name + "-phases", line.left)
    tiles = line.tiles
    v = _scratch.scratch(name, (tiles.alpha, phases[0].size), x.dtype)
    tiles.stage(phases.reshape(2, -1), 1, v)
    return v.reshape((tiles.alpha,) + phases.shape[1:3] + (-1,))


def forward(x, weight, bias, groups, win):
    """y (N, C_out, lo) of (3.4) by F(2, r), chunk by chunk of images: per chunk, V, the r + 1
    products per group, and ``y = A^T M``, the bias added once (to M's row 1: A^T's column 1 is
    (1, 1))."""
    n, c_out = x.shape[0], weight.shape[0]
    line = Line(x.shape, weight.shape, win.pads)
    tiles = line.tiles
    u = _weights(weight, groups, tiles)
    y = np.empty((n, c_out, line.lo), dtype=x.dtype)

    @with_rows_in_place
    def one_chunk(chunk):  # writes y[a : a + m] alone
        a, m = chunk
        v = _transform_input(x[a : a + m], line, groups, "w1-v")
        mm = _scratch.scratch("w1-m", u.shape[:3] + (v.shape[-1],), x.dtype)
        np.matmul(u, v, out=mm)
        if bias is not None:
            mm[tiles.order.index(1)] += bias.reshape(groups, c_out // groups, 1)
        phases = _scratch.scratch("w1-y", (2, mm[0].size), x.dtype)
        tiles.stage_output(mm.reshape(tiles.alpha, -1), phases)
        shape = (2, groups, c_out // groups, m, line.cols)
        line.unphase(phases.reshape(shape), y[a : a + m], groups, 0)

    work = (x.nbytes, macs(x.shape, weight.shape, win))
    _threads.map_gemms(one_chunk, _chunks(x, line, work), *work)
    return y


def backward(dy, x, weight, has_bias, groups, win, input_grad=True, weight_grad=True):
    r"""``(dx, dweight, dbias)`` of (3.4) by F(2, r): per chunk of images, :math:`\bar M = A\,
    dy`, :math:`\bar U = \bar M V^T` (summed over the chunks, in order) and, for dx,
    :math:`\bar V = U^T \bar M` taken back through :math:`B^T d`'s transpose.
    ``weight_grad=False`` skips V and dU (dweight None; x is not read)."""
    c_in = x.shape[1]
    line = Line(x.shape, weight.shape, win.pads)
    tiles = line.tiles
    u_back = _weights(weight, groups, tiles).transpose(0, 1, 3, 2)
    dx = np.empty(x.shape, dtype=x.dtype) if input_grad else None
    dbias = _threads.BiasGrad(dy, has_bias)

    @with_rows_in_place
    def one_chunk(chunk):  # writes dx[a : a + m] alone; returns this chunk's dU^T
        a, m = chunk
        dyp = line.phases(dy[a : a + m], groups, "w1-dy", 0)
        dbias.add(a, m)
        dm = _scratch.scratch("w1-dm", (tiles.alpha, 1, dyp[0].size), x.dtype)
        tiles.stage_grad(dyp.reshape(2, 1, -1), dm)
        dm = dm.reshape((tiles.alpha,) + dyp.shape[1:3] + (-1,))
        du_t = None
        if weight_grad:  # (r + 1, groups, C_in / g, C_out / g)
            du_t = np.matmul(_transform_input(x[a : a + m], line, groups, "w1-v"),
                             dm.swapaxes(-1, -2))  # fmt: skip
        if input_grad:
            dv = _scratch.scratch("w1-v", (tiles.alpha, groups, c_in // groups, dm.shape[-1]),
                                  x.dtype)  # fmt: skip
            np.matmul(u_back, dm, out=dv)
            size = dv[0].size
            phases = _scratch.scratch("w1-dphases", (2, size), x.dtype)
            tmp = _scratch.scratch("w1-t", (size,), x.dtype)
            tiles.stage_transposed(dv.reshape(tiles.alpha, size), 1, phases, tmp)
            shape = (2, groups, c_in // groups, m, line.cols)
            line.unphase(phases.reshape(shape), dx[a : a + m], groups, line.left)
        return du_t

    work = (x.nbytes, macs(x.shape, weight.shape, win))
    du_t = _threads.summed_gemms(one_chunk, _chunks(x, line, work), *work)
    if not weight_grad:
        return dx, None, dbias.result()
    du = du_t.swapaxes(-1, -2)[np.argsort(tiles.order)]  # (r + 1, groups, C_out / g, C_in / g)
    # dW = G^T dU, the transpose of U = G g
    dweight = (tiles.G.T.astype(x.dtype) @ du.reshape(tiles.alpha, -1)).T
    return dx, np.ascontiguousarray(dweight).reshape(weight.shape), dbias.result()


def tile_forward_naive(x, weight, bias, pads):
    """(3.4) for a kernel of 3 (or 5) taps, stride 1, tile by tile: ``y = A^T [(G g) * (B^T
    d)]`` summed over input channels, for each pair of outputs; plain loops, float64 inside."""
    n, c_in, length = x.shape
    c_out, tiles = weight.shape[0], TILES[weight.shape[-1]]
    b_t, g, a_t, a = tiles.B_T, tiles.G, tiles.A_T, tiles.alpha
    (left, right), = pads
    lo = length + left + right - (a - 2)
    tw = -(-lo // 2)
    canvas = np.zeros((n, c_in, 2 * tw + a - 2))
    canvas[:, :, left : left + length] = x
    u = np.einsum("ak,oik->oia", g, weight.astype(np.float64))  # G g
    y = np.zeros((n, c_out, 2 * tw))
    for b in range(n):
        for j in range(tw):
            for o in range(c_out):
                m = np.zeros(a)
                for c in range(c_in):
                    m += u[o, c] * (b_t @ canvas[b, c, 2 * j : 2 * j + a])
                y[b, o, 2 * j : 2 * j + 2] = a_t @ m
    y = y[:, :, :lo]
    if bias is not None:
        y += bias.reshape(1, -1, 1)
    return y.astype(x.dtype)
