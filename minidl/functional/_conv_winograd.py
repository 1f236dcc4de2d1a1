r"""Winograd's minimal filtering F(2x2, 3x3) behind the 2-D 3x3 stride-1 convs (private).

The sums are those of :mod:`minidl.functional.conv` (3.4). Winograd (Lavin & Gray, "Fast
Algorithms for Convolutional Neural Networks", 2016) computes each 2x2 tile of output from the
4x4 tile of padded input ``d`` under it and the 3x3 kernel ``g`` as

.. math:: Y = A^T \left[ (G g G^T) \odot (B^T d B) \right] A,

    B^T = \begin{pmatrix} 1 & 0 & -1 & 0 \\ 0 & 1 & 1 & 0 \\ 0 & -1 & 1 & 0 \\
          0 & 1 & 0 & -1 \end{pmatrix},\quad
    G = \begin{pmatrix} 1 & 0 & 0 \\ \tfrac12 & \tfrac12 & \tfrac12 \\
          \tfrac12 & -\tfrac12 & \tfrac12 \\ 0 & 0 & 1 \end{pmatrix},\quad
    A^T = \begin{pmatrix} 1 & 1 & 1 & 0 \\ 0 & 1 & -1 & -1 \end{pmatrix}

(:func:`tile_forward_naive` is that line, tile by tile). Summed over input channels, the
products become 16 matrix products, one per element :math:`\xi` of the 4x4 transformed tile:
:math:`M_\xi = U_\xi V_\xi` with :math:`U = G g G^T` (C_out x C_in) and :math:`V = B^T d B`
(C_in x tiles). Their 16 C_out C_in multiply-adds per tile of four outputs are 2.25 times fewer
than the 36 C_out C_in of im2col's product. Backward, with :math:`\bar M = A\, dY\, A^T` (the
transform's transpose, per tile of dy): :math:`\bar U_\xi = \bar M_\xi V_\xi^T`, summed over
the tiles, gives :math:`dW = G^T \bar U G`; :math:`\bar V_\xi = U_\xi^T \bar M_\xi` gives
:math:`\bar d = B \bar V B^T` per tile, and dx adds the overlapping tiles (each input element
lies in up to four of them). Three products of 16 thin GEMMs instead of three of im2col's.

The transforms cost passes over memory that im2col does not make; laid out as below they are
all contiguous:

- the padded input is split into its four phase planes ``P[p, q] = canvas[p::2, q::2]``
  (channels first, images of the chunk next), so the element ``(2i + a, 2j + b)`` of tile
  ``(i, j)`` is ``P[a % 2, b % 2]`` at ``(i + a // 2, j + b // 2)``;
- a plane of (th + 1) x (tw + 1) is flattened with all channels and images into one run, so
  ``+ a // 2`` rows and ``+ b // 2`` columns are shifts of the run by ``tw + 1`` and ``1``.
  Each row and column of :math:`B^T d B` is then one addition or subtraction of two shifted
  runs, and a whole stage three NumPy calls (``ORDER``). The planes' last row and column
  hold no tile; what is computed there is thrown away (and the backward's :math:`\bar M` is
  zero there, so it adds nothing to dW).

Float32 error: the transforms add and halve at most four terms, so the results differ from
im2col's by a few units in the last place of the largest output (4.5e-7 of it for 32 x 64 x 28 x
28 -> 64; ``tests/functional/test_conv_winograd.py``).
"""

import numpy as np

from minidl.functional import _scratch, _threads
from minidl.functional._ufunc_buffer import with_rows_in_place

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
# (G g G^T)[a, b] = sum_kl G[a, k] g[k, l] G[b, l]: row (a, b), column (k, l) of kron(G, G)
GG = np.kron(G, G)

# At least this many input and output channels when two threads share the chunks: below, the
# 16 products are too thin to gain on im2col's one (forward + backward, minidl alone, best of 9,
# AMD EPYC, December 2026: 32 x 16 x 28 x 28 -> 32 8.6-9.3 ms against 8.1-9.8 by im2col; 8 x
# 16 x 28 x 28 -> 32 2.6-2.7 against 2.0-2.1; 32 x 32 x 28 x 28 -> 64 22.3 against 22.5;
# but 32 x 64 x 28 x 28 -> 64 33.6 against 42.7).
MIN_CHANNELS = 64
# On one thread, from this many channels, on outputs of at least MIN_SIZE_ONE_THREAD on each
# side (32 x 16 x 28 x 28 -> 32 11.1 ms against 13.3, PyTorch 7.6; 32 x 32 x 28 x 28 -> 32
# 16.0 against 23.5, PyTorch 13.9; 32 x 16 x 16 x 16 -> 32 4.0 against 4.7; but 32 x 16 x 14
# x 14 -> 32 4.7 against 3.6).
MIN_CHANNELS_ONE_THREAD = 16
MIN_SIZE_ONE_THREAD = 16
# ... and at most this many: on larger images im2col's wide grid wastes little and its GEMMs
# are wide (32 x 16 x 112 x 112 -> 32: 200-216 ms against 188-191 by im2col, three runs of the
# sweep each).
MAX_SIZE_ONE_THREAD = 64
# At least this fraction of the planes' (th + 1) x (tw + 1) tiles' outputs in the image: the
# rest is computed and thrown away (28 x 28: 0.87; 14 x 14: 0.77; 9 x 9: 0.56, where 3 x 64 x
# 9 x 9 -> 96 took 1.58 ms against 1.43 by im2col; 7 x 7: 0.49, 23.7 ms forward against 20.9
# for 32 x 256 x 7 x 7 -> 256).
MIN_FILL = 0.7
# At most this many bytes of transformed input (16 planes) per chunk of images, but at least
# MIN_COLUMNS of the planes' positions: the transforms' passes run at cache speed on a small
# chunk, while dW's products (K = the chunk's positions) want long ones. Forward + backward, one
# thread, best of 9 (AMD EPYC, December 2026), with 2 MiB / 8 MiB chunks: 32 x 64 x 28 x 28 ->
# 64 52.7 / 63.5 ms; 32 x 128 x 28 x 28 -> 128 172 / 185; 8 x 256 x 14 x 14 -> 256 48.9 / 46.6
# (4 images a chunk, as MIN_COLUMNS makes it, between the two).
CHUNK_BYTES = 2 * 2**20
MIN_COLUMNS = 256


def applies(x_shape, weight_shape, groups, win):
    """Whether a conv runs here: 2-D, 3x3, stride 1, no dilation, padding at most 1 on each
    side; at least ``MIN_FILL`` of the tiles' outputs inside the image; at least
    ``MIN_CHANNELS`` channels in and out (per group), or on one thread
    ``MIN_CHANNELS_ONE_THREAD`` on outputs of ``MIN_SIZE_ONE_THREAD`` to
    ``MAX_SIZE_ONE_THREAD`` on each side; and on more threads a batch to share out (one image
    on two threads runs faster as im2col's slabs of rows). So the thread setting may choose
    between the two algorithms, whose float32 results differ in the last bits."""
    if len(x_shape) != 4 or tuple(weight_shape[2:]) != (3, 3):
        return False
    # the cheap refusals first: every conv of a network asks, at every call
    channels = min(x_shape[1], weight_shape[0]) // groups  # per group
    if channels < min(MIN_CHANNELS, MIN_CHANNELS_ONE_THREAD):
        return False
    if win.stride != (1, 1) or win.dilation != (1, 1):
        return False
    if any(lo > 1 or hi > 1 for lo, hi in win.pads):
        return False
    grid = Grid(x_shape, win.pads)
    if grid.ho * grid.wo < MIN_FILL * 4 * grid.plane:
        return False
    if _threads.count() > 1:
        return channels >= MIN_CHANNELS and x_shape[0] > 1
    if channels >= MIN_CHANNELS:
        return True
    sizes = sorted((grid.ho, grid.wo))
    return MIN_SIZE_ONE_THREAD <= sizes[0] and sizes[1] <= MAX_SIZE_ONE_THREAD


def macs(x_shape, weight_shape, win):
    """The multiply-adds of one pass's 16 products (the planes' unused tiles included)."""
    return _macs(x_shape, weight_shape, Grid(x_shape, win.pads))


def _macs(x_shape, weight_shape, grid):
    return 16 * x_shape[0] * grid.plane * weight_shape[0] * weight_shape[1]


# ------------------------------------------------------------------------- the tile loops
def tile_forward_naive(x, weight, bias, pads):
    """(3.4) for a 3x3 stride-1 kernel, tile by tile: ``Y = A^T [(G g G^T) * (B^T d B)] A``
    summed over input channels, for each 2x2 tile of output; plain loops, float64 inside."""
    n, c_in, h, w = x.shape
    c_out = weight.shape[0]
    (top, bottom), (left, right) = pads
    ho, wo = h + top + bottom - 2, w + left + right - 2
    th, tw = -(-ho // 2), -(-wo // 2)
    canvas = np.zeros((n, c_in, 2 * th + 2, 2 * tw + 2))
    canvas[:, :, top : top + h, left : left + w] = x
    u = np.einsum("ak,oikl,bl->oiab", G, weight.astype(np.float64), G)  # G g G^T
    y = np.zeros((n, c_out, 2 * th, 2 * tw))
    for b in range(n):
        for i in range(th):
            for j in range(tw):
                for o in range(c_out):
                    m = np.zeros((4, 4))
                    for c in range(c_in):
                        d = canvas[b, c, 2 * i : 2 * i + 4, 2 * j : 2 * j + 4]
                        m += u[o, c] * (B_T @ d @ B_T.T)
                    y[b, o, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2] = A_T @ m @ A_T.T
    y = y[:, :, :ho, :wo]
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y.astype(x.dtype)


# ----------------------------------------------------------------------- the phase planes
class Grid:
    """The tiles of one conv: output ``ho x wo`` in ``th x tw`` tiles of 2x2, each plane of
    the padded input (th + 1) x (tw + 1), flattened with channels and images into a run."""

    def __init__(self, x_shape, pads):
        self.h, self.w = x_shape[2:]
        (self.top, bottom), (self.left, right) = pads
        self.ho = self.h + self.top + bottom - 2
        self.wo = self.w + self.left + right - 2
        self.th, self.tw = -(-self.ho // 2), -(-self.wo // 2)
        self.plane = (self.th + 1) * (self.tw + 1)

    def split(self, x, name):
        """The four phase planes of ``x`` (m, C, h, w) zero-padded: (2, 2, C, m, th+1, tw+1)."""
        planes = self._zeros(name, x)
        for part, image_part in self._pairs(planes, x, self.top, self.left):
            part[...] = image_part
        return planes

    def merge(self, planes, out):
        """``out`` (m, C, h, w) from the planes (2, 2, C, m, th+1, tw+1) at x's positions: the
        transpose of :meth:`split` (each element of x lies on one plane)."""
        for part, image_part in self._pairs(planes, out, self.top, self.left):
            np.copyto(image_part, part)

    def output_planes(self, y, name):
        """The four phase planes of dy (m, C, ho, wo), zero where no output is:
        (2, 2, C, m, th+1, tw+1)."""
        planes = self._zeros(name, y)
        for part, image_part in self._pairs(planes, y, 0, 0):
            part[...] = image_part
        return planes

    def write_output(self, planes, out):
        """``out`` (m, C_out, ho, wo) from the output's phase planes (2, 2, C_out, m, th+1,
        tw+1)."""
        for part, image_part in self._pairs(planes, out, 0, 0):
            np.copyto(image_part, part)

    def _zeros(self, name, image):
        m, c = image.shape[:2]
        return _scratch.zeros(name, (2, 2, c, m, self.th + 1, self.tw + 1), image.dtype)

    @staticmethod
    def _pairs(planes, image, top, left):
        """``(plane part, image part)`` of each phase, views of the same elements: canvas row
        ``2 i + p`` (padded by ``top``) is the image's row ``2 i + p - top``, on plane row
        ``i``; the same along the columns."""
        it = image.transpose(1, 0, 2, 3)  # channels first, as the planes
        h, w = image.shape[2:]
        for p in range(2):
            for q in range(2):
                rows, i0 = Grid._phase(p, top, h)
                cols, j0 = Grid._phase(q, left, w)
                image_part = it[:, :, rows, cols]
                i1, j1 = i0 + image_part.shape[2], j0 + image_part.shape[3]
                yield planes[p, q, :, :, i0:i1, j0:j1], image_part

    @staticmethod
    def _phase(p, pad, size):
        """The rows of the image on plane ``p`` (a slice) and the plane row of the first."""
        first = (p - pad) % 2  # the image's first row of this parity
        return slice(first, size, 2), (first + pad - p) // 2


# Each transform's four rows are kept in the order (0, 3, 1, 2): B^T's rows 0 and 3 are the
# same difference on the two phases, so a stage is three NumPy calls over all the planes at once
# (the 16 products' order follows: ``ORDER`` of U's rows and columns). Fewer, larger calls: a
# call holds the GIL while NumPy sets it up, and the two threads' chunks queued on it (32 x 16 x
# 28 x 28 -> 32 on two threads took as long as on one with the 177 calls of a chunk's forward
# + backward transforms made one row at a time; 45 now).
ORDER = [0, 3, 1, 2]


def _stage(f, shift, out):
    """One stage of ``B^T d``: ``f`` (2, X, size) the two phases of d's runs, ``out`` (4, X,
    size) its rows in ``ORDER``: d0 - d2, d1 - d3, d1 + d2, d2 - d1, where d2 and d3 are d0 and
    d1 shifted by ``shift``. The tails (no ``k + shift``) are zero."""
    n = f.shape[-1] - shift
    np.subtract(f[:, :, :n], f[:, :, shift:], out=out[0:2, :, :n])
    np.add(f[1, :, :n], f[0, :, shift:], out=out[2, :, :n])
    np.subtract(f[0, :, shift:], f[1, :, :n], out=out[3, :, :n])
    out[:, :, n:] = 0


def _transform_input(planes, grid, name):
    """``V = B^T d B`` for every tile: (4, 4, C, m x plane), rows and columns in ``ORDER``, from
    the planes: along the tile's rows (shifts of a plane row, tw + 1), then its columns
    (shifts of one)."""
    c, m = planes.shape[2:4]
    size = c * m * grid.plane  # one run per plane: the shifts cross channels only off the tiles
    rows = _scratch.scratch(name + "-rows", (4, 2, size), planes.dtype)
    _stage(planes.reshape(2, 2, size), grid.tw + 1, rows)
    v = _scratch.scratch(name, (4, 4, size), planes.dtype)
    _stage(rows.transpose(1, 0, 2), 1, v.transpose(1, 0, 2))
    return v.reshape(4, 4, c, m * grid.plane)


def _stage_output(mm, out):
    """One stage of ``A^T M``: ``mm`` (4, X, size) in ``ORDER``, ``out`` (2, X, size):
    m0 + m1 + m2 and m1 - m2 - m3."""
    np.add(mm[0], mm[2], out=out[0])
    out[0] += mm[3]
    np.subtract(mm[2], mm[3], out=out[1])
    out[1] -= mm[1]


def _transform_output(mm, grid, bias, name):
    """``Y = A^T M A`` per tile: the four output phase planes (2, 2, C_out, m x plane) from
    M (4, 4, C_out, m x plane) in ``ORDER``, the bias added once (to M's row 1 after the
    columns: it is in both outputs' rows)."""
    c_out, cols = mm.shape[2:]
    q = _scratch.scratch(name + "-q", (4, 2, c_out * cols), mm.dtype)
    _stage_output(mm.reshape(4, 4, -1).transpose(1, 0, 2), q.transpose(1, 0, 2))
    if bias is not None:
        q[ORDER.index(1)].reshape(2, c_out, cols)[...] += bias.reshape(-1, 1)
    y = _scratch.scratch(name, (2, 2, c_out, cols), mm.dtype)
    _stage_output(q, y.reshape(2, 2, -1))
    return y


def _weights(weight, groups):
    """``U = G g G^T``: (16, groups, C_out / groups, C_in / groups), in the weight's dtype,
    rows and columns in ``ORDER``."""
    c_out, c_in = weight.shape[:2]
    u = (GG.astype(weight.dtype) @ weight.reshape(c_out * c_in, 9).T).reshape(4, 4, c_out * c_in)
    return u[ORDER][:, ORDER].reshape(16, groups, c_out // groups, c_in)


# ------------------------------------------------------------------------------ forward
def forward(x, weight, bias, groups, win):
    """y (N, C_out, ho, wo) of (3.4) by F(2x2, 3x3), chunk by chunk of images; per group,
    its own 16 products."""
    n, c_out = x.shape[0], weight.shape[0]
    grid = Grid(x.shape, win.pads)
    u = _weights(weight, groups)
    y = np.empty((n, c_out, grid.ho, grid.wo), dtype=x.dtype)

    @with_rows_in_place  # the bias's rows of m x plane
    def one_chunk(chunk):  # writes y[a : a + m] alone
        a, m = chunk
        v = _transform_input(grid.split(x[a : a + m], "w-planes"), grid, "w-v")
        cols = m * grid.plane
        mm = _scratch.scratch("w-m", (16, c_out, cols), x.dtype)
        np.matmul(u, v.reshape(16, groups, -1, cols), out=mm.reshape(16, groups, -1, cols))
        yp = _transform_output(mm.reshape(4, 4, c_out, cols), grid, bias, "w-y")
        grid.write_output(yp.reshape(2, 2, c_out, m, grid.th + 1, grid.tw + 1), y[a : a + m])

    _threads.map_gemms(one_chunk, _chunks(x, weight, grid), *_work(x, weight, grid))
    return y


def _chunks(x, weight, grid):
    """The chunks of images: at most ``CHUNK_BYTES`` of V each, or one of ``MIN_COLUMNS``
    positions, and at least one chunk per thread."""
    per_image = 16 * max(x.shape[1], 1) * grid.plane * x.itemsize
    n = x.shape[0]
    per_chunk = max(1, CHUNK_BYTES // per_image, -(-MIN_COLUMNS // grid.plane))
    workers = _threads.gemm_workers(*_work(x, weight, grid))
    return _threads.even_chunks(n, max(1, min(per_chunk, -(-n // workers))))


def _work(x, weight, grid):
    """``(bytes, multiply-adds)`` of the whole op, for the threads' threshold."""
    return x.nbytes, _macs(x.shape, weight.shape, grid)


# ----------------------------------------------------------------------------- backward
def backward(dy, x, weight, has_bias, groups, win, input_grad=True):
    r"""``(dx, dweight, dbias)`` of (3.4) by F(2x2, 3x3): per chunk of images,
    :math:`\bar M = A\, dY A^T`, :math:`\bar U = \bar M V^T` (summed over the chunks in order)
    and, for dx, :math:`\bar V = U^T \bar M` taken back through :math:`B^T d B`'s transpose."""
    c_in = x.shape[1]
    grid = Grid(x.shape, win.pads)
    u_t = _weights(weight, groups).transpose(0, 1, 3, 2)
    dx = np.empty_like(x) if input_grad else None

    @with_rows_in_place
    def one_chunk(chunk):  # writes dx[a : a + m] alone; returns this chunk's dU
        a, m = chunk
        cols = m * grid.plane
        v = _transform_input(grid.split(x[a : a + m], "w-planes"), grid, "w-v")
        dm = _transform_grad_output(grid.output_planes(dy[a : a + m], "w-dy"), "w-dm")
        dm = dm.reshape(16, groups, -1, cols)
        du = np.matmul(dm, v.reshape(16, groups, -1, cols).transpose(0, 1, 3, 2))
        if input_grad:
            dv = _scratch.scratch("w-v", (16, c_in, cols), x.dtype)  # V is spent: reuse it
            np.matmul(u_t, dm, out=dv.reshape(16, groups, -1, cols))
            planes = _transpose_input(dv.reshape(4, 4, -1), grid, "w-dplanes")
            grid.merge(planes.reshape(2, 2, c_in, m, grid.th + 1, grid.tw + 1), dx[a : a + m])
        return du

    parts = _threads.map_gemms(one_chunk, _chunks(x, weight, grid), *_work(x, weight, grid))
    du = parts[0]
    for part in parts[1:]:  # in the chunks' order: the same bits whatever the threads
        du += part
    back = np.argsort(ORDER)  # dU's rows and columns from ORDER back to 0, 1, 2, 3
    du = du.reshape(4, 4, -1)[back][:, back]
    # dW = G^T dU G, the transpose of U = G g G^T
    dweight = (GG.T.astype(x.dtype) @ du.reshape(16, -1)).T.reshape(weight.shape)
    dbias = dy.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, np.ascontiguousarray(dweight), dbias


def _stage_grad(f, out):
    """One stage of ``A dY``: ``f`` (2, X, size), ``out`` (4, X, size) in ``ORDER``: A's rows
    (1, 0), (0, -1), (1, 1), (1, -1)."""
    np.multiply(f, np.array([1, -1], f.dtype).reshape(2, 1, 1), out=out[0:2])
    np.add(f[0], f[1], out=out[2])
    np.subtract(f[0], f[1], out=out[3])


def _transform_grad_output(dyp, name):
    r""":math:`\bar M = A\, dY A^T` per tile: (4, 4, C_out x m x plane) in ``ORDER`` from dy's
    phase planes (2, 2, ...), along the columns, then the rows."""
    dyp = dyp.reshape(2, 2, -1)
    size = dyp.shape[-1]
    dq = _scratch.scratch(name + "-q", (2, 4, size), dyp.dtype)
    _stage_grad(dyp.transpose(1, 0, 2), dq.transpose(1, 0, 2))
    dm = _scratch.scratch(name, (4, 4, size), dyp.dtype)
    _stage_grad(dq, dm)
    return dm


def _stage_transposed(g, shift, out, tmp):
    """The transpose of :func:`_stage`: given the gradients ``g`` (4, X, size) of its four
    rows, write those of its two phases into ``out`` (2, X, size)."""
    n = out.shape[-1] - shift
    np.copyto(out[:, :, :n], g[0:2, :, :n])  # d0 - d2 and d1 - d3: +g to d0, d1 ...
    out[:, :, n:] = 0
    out[:, :, shift:] -= g[0:2, :, :n]  # ... and -g to d2, d3
    np.add(g[2, :, :n], g[3, :, :n], out=tmp[:, :n])  # d1 + d2 and d2 - d1: to d2
    out[0, :, shift:] += tmp[:, :n]
    np.subtract(g[2, :, :n], g[3, :, :n], out=tmp[:, :n])  # and to d1
    out[1, :, :n] += tmp[:, :n]


def _transpose_input(dv, grid, name):
    r"""The planes' gradient (2, 2, C x m x plane) from :math:`\bar V` (4, 4, C x m x plane)
    in ``ORDER``: :math:`B \bar V B^T`, columns then rows, the overlapping tiles' shares
    added."""
    size = dv.shape[-1]
    tmp = _scratch.scratch(name + "-t", (4, size), dv.dtype)
    rows = _scratch.scratch(name + "-rows", (4, 2, size), dv.dtype)
    _stage_transposed(dv.transpose(1, 0, 2), 1, rows.transpose(1, 0, 2), tmp)
    planes = _scratch.scratch(name, (2, 2, size), dv.dtype)
    _stage_transposed(rows, grid.tw + 1, planes, tmp[:2])
    return planes
