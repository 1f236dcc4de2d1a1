r"""The cache-blocked im2col behind :func:`minidl.functional.conv.conv_nd_forward` (private).

The sums are those of :mod:`minidl.functional.conv`, computed as its plain version
``conv_nd_forward_vectorized`` computes them (windows gathered into ``col``, one GEMM), but
``col`` is prod(k) times larger than the input (61 MiB for article 000's 64 images of 100x100
and a 5x5 kernel), so it is never built whole:

- both passes take the batch in chunks of whole images with at most ``CHUNK_BYTES`` of
  temporaries each, gathered with the batch *inside* the columns, (groups, C_g prod(k), images x
  positions), so that each GEMM spans the chunk's images (per image, the GEMMs of small
  layers are too thin to run fast). Forward: ``y = w col`` per chunk, copied into y's
  (N, C_out, ...) layout. Backward: ``dw = dy col^T`` sums over images and positions in one
  GEMM per group, ``dcol = w^T dy`` is one more, and col2im is prod(k) strided slice
  additions into a zero canvas (no ``np.add.at``, no loop over the batch).
- when two images' windows do not fit in a chunk (large images), the forward instead cuts the
  output into blocks of rows along its first spatial axis (and its second, when one row is
  already too much); each block's windows, for all N images, are gathered channels-first into
  a buffer of at most ``BLOCK_BYTES`` (rows contiguous along the output's last axis, which is
  what makes the copy fast) and multiplied by one batched ``np.matmul``. Either way the gather
  stays in cache, and nothing of size ``col`` is kept. On the wide grid (``_conv_wide``) both
  passes take an image too large for a chunk in slabs of its output rows instead
  (:func:`slabs`; the backward's dcol and col2im stay whole).

Each chunk pads its own images (the layout's ``canvas``) and puts its part of dx back from its
own canvas gradient, on the thread that runs it, while they are in cache. The padded images,
the gathered windows and their gradient live in scratch buffers kept between calls
(:mod:`minidl.functional._scratch`): fresh, they cost a page fault per 4 KiB, which was most
of a small layer's time.

With more than one thread allowed, the chunks (and the row blocks) are shared out among
minidl's worker threads while BLAS is held to one thread (:mod:`minidl.functional._threads`,
``map_gemms``): each chunk writes only its own images of y and dx, and dW is summed over the
chunks' results in the chunks' order, the same bits run after run.

Tests shrink the constants so that the blocked paths are compared with the loops on tiny
inputs (``tests/functional/test_conv.py``).
"""

import math

import numpy as np

from minidl.functional import _scratch, _threads
from minidl.functional._ufunc_buffer import with_rows_in_place

# The constants were measured on the 2-core AMD EPYC machines minidl is developed on (1 MiB L2
# per core, 32 MiB L3; NumPy 2.4 with OpenBLAS; PyTorch 2.13 CPU as the yardstick), with
# benchmarks/bench_conv.py and bench_training.py, November 2026.
#
# At most BLOCK_BYTES of gathered windows per forward block, for the whole batch: 2 MiB sits in
# those caches, so the GEMM reads back what the gather just wrote (article 000's case, 64 x 1 x
# 100 x 100 with 32 5x5 filters: 0.9-1.0x PyTorch, against 1.4x with one 61 MiB col).
BLOCK_BYTES = 2 * 2**20
# At most GEMM_MACS multiply-adds per image and block: OpenBLAS runs such a product on one
# thread; a second thread pays off only on larger products, and on a loaded 2-core machine
# each hand-off waits for a scheduler slot (steps measured 5-10x slower without the cap).
GEMM_MACS = 2**19
# At least MIN_COLUMNS output positions per block, so that each GEMM stays wide enough to be
# efficient when the kernel is big (deep layers of article 003's CNN), where threads do help.
MIN_COLUMNS = 256
# At most CHUNK_BYTES of temporaries per chunk of images (at least one image): the windows, their
# gradient and dy. 8 MiB keeps a chunk's temporaries in the 32 MiB L3 between the two GEMMs and
# col2im. Four times more (16 MiB of windows alone), the backward of 32 x 16 x 28 x 28 -> 32
# (3x3) took 15-16 ms against 11-12, and LeNet-5's first layer at batch 128 5.6-5.8 ms against
# 4.0-6.4; forwards by image chunks against row blocks: 32 x 64 x 28 x 28 -> 64, 25 ms against
# 33; 128 x 6 x 14 x 14 -> 16 (5x5), 3.2 against 3.9 (one thread, December 2026).
CHUNK_BYTES = 8 * 2**20
# A forward whose GEMMs have at most THIN_OUTPUTS output channels per group reads each window
# element for that few multiply-adds: its GEMM runs at the speed its columns come in, faster
# from L2, so its chunks hold at most THIN_FORWARD_CHUNK_BYTES of temporaries (by the measure of
# _image_bytes), about 1 MiB of windows. Forward alone, one thread, 2 / 4 / 8 MiB chunks
# (Intel Xeon, December 2026): LeNet-5's second conv at batch 128, 1.20 / 1.28 / 1.80 ms;
# 128 x 16 x 28 x 28 -> 32 (3x3), 12.5 / 13.4 / 13.9; 32 x 16 x 28 x 28 -> 32, 3.1 / 3.4 / 3.5.
# With 64 outputs it made no difference (32 x 64 x 28 x 28 -> 64: 17.9 / 17.9 / 18.0), with 256
# large chunks won (32 x 256 x 7 x 7 -> 256: 15.9 / 13.4 / 12.4); the backward, whose GEMMs
# reduce over the chunk's columns, wins with large chunks throughout. Only where the loop runs on
# one thread (BLAS held for the step or not): on the workers the smaller chunks cost more
# hand-offs than the cache saves (8 x 16 x 28 x 28 -> 32, two threads: 2.37-2.57 ms forward +
# backward against 2.20-2.24 in the sweep).
THIN_OUTPUTS = 32
THIN_FORWARD_CHUNK_BYTES = 2 * 2**20
# ...on one BLAS thread. When OpenBLAS may use more, larger GEMMs let its threads pay off: with 2
# threads, 16 MiB of windows per chunk ran 32 x 128 x 28 x 28 -> 128 (3x3) in 229 ms against 262
# with 4 MiB, and 32 x 16 x 28 x 28 -> 32 in 16.5 against 23.2. The scratch buffers that hold a
# chunk stay allocated, so memory bounds the factor: article 000's training step peaked at 1.05x
# PyTorch's memory with 2, 1.10x with 4 (bench_conv.py (c), target 1.1x; December 2026).
THREADED_CHUNK_FACTOR = 2
# (Only where BLAS keeps its threads: a single image. Batches run their chunks on minidl's own
# workers, one BLAS thread each, CHUNK_BYTES a chunk: chunks_of_images.)


def _blas_threads():
    """The BLAS threads NumPy's OpenBLAS starts with: its environment variables, else the CPUs
    this process may run on (OpenBLAS's own default). A limit set later at run time (for
    example by threadpoolctl) is not seen: chunks then keep their threaded size."""
    return _threads.env_threads()


# Up to FIRST_LAYER_WINDOW window elements (C_in/groups prod(k): first layers, of 1-3 channels
# with kernels up to 3x3 on RGB or 5x5 on gray) a conv runs image by image: the GEMM is trivial,
# and copying the chunks' products into y's layout costs more than the thin per-image GEMMs of
# the row blocks, which write y in place. Forward, row blocks against the wide grid: LeNet-5's
# 128 x 1 x 28 x 28 -> 6 (5x5) 1.67 ms against 2.62, at batch 32 0.39 against 0.49; 64 x 3 x
# 32 x 32 -> 32 (3x3) 3.25 against 3.51; 32 x 2 x 28 x 28 -> 32 0.66 against 1.10; 8 x 1 x 16
# x 32 x 32 -> 8 (3x3x3) 2.21 against 2.46; 36 elements still 0.81 against 0.90 (Intel Xeon,
# one thread, December 2026). Without dx, the weight gradient too (weight_grads below).
FIRST_LAYER_WINDOW = 32
# ...from FIRST_LAYER_IMAGES images on: below, the grid's one GEMM costs fewer Python steps
# than the row blocks' loop (1 x 3 x 32 x 32 -> 16, forward: 36 us on the grid against 38, 2
# images 56 against 60, 4 images 116 against 101).
FIRST_LAYER_IMAGES = 4
# Below MIN_WINDOW window elements the backward with dx skips the wide grid too (chosen when
# both directions shared the threshold: 1 -> 32 channels, 3x3, 32 x 28 x 28, 0.72 ms forward on
# the grid against 0.41 by rows); from 18 to 27 elements the two backward paths are within 5%.
MIN_WINDOW = 16
# From this many window elements on, each image's GEMM is thick enough to run fast alone, and
# the row blocks (no copy into y's layout) win again: 8 x 256 x 14 x 14 -> 256, 3x3 (2304
# elements), 79 ms forward + backward with image chunks against 70 with row blocks.
MAX_WINDOW = 1024
# ...but only for images of at least ROW_POSITIONS output positions: the row blocks' GEMMs are
# per image, (C_out x C_in prod(k)) by (C_in prod(k) x positions), and 7 x 7 = 49 columns are
# too thin to run fast; image chunks give them m x 49 (32 x 256 x 7 x 7 -> 256, 3x3: forward
# 15.7 ms against 21.1; 8 x 512 x 7 x 7 -> 512: 13.6 against 17.7; 8 x 256 x 14 x 14, 196
# positions: 13.9 against 14.2, so rows stay there; Intel Xeon, one thread, December 2026).
ROW_POSITIONS = 100
# Rows of dW^T per block when it is turned into dW (_turned).
TURN_ROWS = 64


def chunk_bytes():
    """The bytes of gathered windows per chunk of images, for this process's BLAS threads."""
    return CHUNK_BYTES * (THREADED_CHUNK_FACTOR if _blas_threads() > 1 else 1)


def images_per_chunk(c_in, c_out, win, positions, itemsize):
    """Images per chunk: each image's temporaries are its windows and their gradient (2 C_in
    prod(k) rows) and its dy or y (C_out rows), ``positions`` columns each."""
    return max(1, chunk_bytes() // _image_bytes(c_in, c_out, win, positions, itemsize))


def _image_bytes(c_in, c_out, win, positions, itemsize):
    return (2 * c_in * math.prod(win.kernel) + c_out) * positions * itemsize


def thin_forward(c_in, weight_shape):
    """Whether a forward's GEMMs are thin enough (``THIN_OUTPUTS`` outputs per group or
    fewer) to take chunks of ``THIN_FORWARD_CHUNK_BYTES``."""
    groups = c_in // weight_shape[1]
    return weight_shape[0] // groups <= THIN_OUTPUTS


def chunks_of_images(n, c_in, weight_shape, win, positions, itemsize, forward=False):
    """``(chunks, work, limit)``: the ``(start, images)`` of each chunk of a chunk loop; its work
    for the worker threads' thresholds (``_threads.map_gemms``): the bytes of windows it
    gathers and the multiply-adds of one GEMM over them (the weight's size per column); and the
    bytes of temporaries a chunk may hold (:func:`slabs` cuts a larger image). With BLAS
    held to one thread (``_threads.one_blas_thread``), at most ``CHUNK_BYTES`` of temporaries
    per chunk and at least one chunk per worker; else ``chunk_bytes()``, sized for BLAS's
    threads. A ``forward`` with thin GEMMs (:func:`thin_forward`) takes at most
    ``THIN_FORWARD_CHUNK_BYTES`` where its loop runs on one thread, BLAS held or not."""
    work = gemm_work(n, c_in, weight_shape, win, positions, itemsize)
    limit = CHUNK_BYTES if _threads.held() else chunk_bytes()
    workers = _threads.gemm_workers(*work)  # one while BLAS has its threads
    if forward and workers <= 1 and thin_forward(c_in, weight_shape):
        limit = min(limit, THIN_FORWARD_CHUNK_BYTES)
    if n == 1:  # one image, one chunk: nothing to choose (a small batch's per-call cost)
        return [(0, 1)], work, limit
    per_chunk = max(1, limit // _image_bytes(c_in, weight_shape[0], win, positions, itemsize))
    if workers > 1:  # a whole number of chunks per worker: 3 chunks on 2 workers take 2 rounds
        rounds = -(-n // (workers * per_chunk))
        per_chunk = max(1, -(-n // (workers * rounds)))
    return _threads.even_chunks(n, per_chunk), work, limit


def slabs(layout, m, limit, position_bytes):
    """``(layout, rows)`` of each part of a chunk of ``m`` images: the chunk whole (``rows`` =
    all), or, for one image whose temporaries (``position_bytes`` a grid position) exceed
    ``limit``, slabs of its output rows along the first spatial axis on a layout that can cut
    its grid (the wide grid's ``slab``), each within ``limit``, one after the other. A whole
    image's columns out of the caches slowed the GEMMs and the gathers: Conv3D 4 x 32 x 8 x 28
    x 28 -> 32 (3x3x3, 24.7 MB of windows an image), one image's gather and forward GEMM took
    11.6 ms whole, 6.5-6.7 in 4-8 slabs; the layer's forward 33-38 ms, 22-27 in slabs, its
    backward (dW in slabs) 63-70, 51-61. The backward's dcol and col2im stay whole: col2im adds
    a slab's short runs (one 30 x 30 plane each) at 2 elements a ns where the whole image's go
    at 7 (1.6 ms an image whole, 5.1 in slabs; AMD EPYC, one thread, December 2026)."""
    whole = [(layout, slice(None))]
    if m > 1 or not hasattr(layout, "slab"):  # several images fit a chunk; no grid to cut
        return whole
    if layout.positions * position_bytes <= limit or layout.out[0] < 2:
        return whole
    rows = max(1, limit // (position_bytes * layout.steps[0]))  # a row: steps[0] positions
    return [(layout.slab(r0, r0 + k), slice(r0, r0 + k))
            for r0, k in _threads.even_chunks(layout.out[0], rows)]  # fmt: skip


def gemm_macs(images, positions, weight_shape):
    """Multiply-adds of one pass's GEMMs: the weight's size per output position (or per
    column of a layout's grid)."""
    return images * positions * math.prod(weight_shape)


def gemm_work(images, c_in, weight_shape, win, positions, itemsize):
    """``(window bytes, multiply-adds)`` of a GEMM loop, what the worker threads' thresholds
    weigh (``_threads.map_gemms``): the bytes of the windows it gathers, and its GEMMs."""
    window_bytes = images * c_in * math.prod(win.kernel) * positions * itemsize
    return window_bytes, gemm_macs(images, positions, weight_shape)


def _images_per_chunk(x, weight, win):
    return images_per_chunk(x.shape[1], weight.shape[0], win, math.prod(win.out), x.itemsize)



class CanvasCol2im:
    """dx by way of the canvas' gradient, for the layouts whose col2im adds into it."""

    def input_grad(self, dcol, canvas_shape, out):
        """dx from ``dcol``: col2im into a zero canvas gradient (``add_columns``), then its
        part on x into ``out`` (``to_input``)."""
        dxp = _scratch.zeros("dcanvas", canvas_shape, dcol.dtype)
        self.add_columns(dxp, dcol)
        self.to_input(dxp, out)


class Im2colLayout(CanvasCol2im):
    """How a chunk of images becomes columns: every window of the canvas, one column per output
    position (``Windows.columns``), ``positions`` = prod(out) per image, the columns ordered
    (image, position). ``images`` views a chunk's product (rows, m positions) as (m, rows,
    *out); ``add_columns`` is col2im and ``input_grad`` dx from a chunk's dcol.
    ``_conv_wide`` and ``_conv_images_inner`` give other layouts of the same members."""

    def __init__(self, win):
        self.win, self.positions = win, math.prod(win.out)

    def canvas(self, x):
        return _canvas(x, self.win)

    def columns(self, xp, ones=False):
        rows = xp.shape[1] * math.prod(self.win.kernel)
        out, col = column_matrix((rows, xp.shape[0] * self.positions), rows, ones, xp.dtype)
        self.win.columns(xp, out=out)
        return col

    def on_output(self, a):
        return a.reshape(a.shape[:-1] + self.win.out)

    def images(self, a, m):
        return images_first(self, a, m)

    def add_columns(self, dxp, dcol):
        self.win.add_columns(dxp, dcol)

    def to_input(self, dxp, out):
        np.copyto(out, self.win.crop(dxp))


def column_matrix(shape, rows, ones, dtype):
    """``(windows, col)``: a chunk's column matrix in scratch buffer "col", ``rows`` rows (the
    leading axes of ``shape``, the layout's order of the windows) and, with ``ones``, a row of
    ones below them (the bias's: :func:`forward_chunks`); ``windows`` is its first ``rows``
    rows viewed as ``shape``, for the layout's gather to write."""
    columns = math.prod(shape) // rows
    flat = _scratch.scratch("col", ((rows + ones) * columns,), dtype)
    col = flat.reshape(rows + ones, columns)
    if ones:
        col[rows] = 1
    return flat[: rows * columns].reshape(shape), col


def images_first(layout, a, m):
    """``a`` (rows, m x positions), a chunk's product in (image, position) column order, as a
    view (m, rows, *out) of its output positions (``layout.on_output``)."""
    return layout.on_output(a.reshape(a.shape[0], m, layout.positions)).swapaxes(0, 1)


def forward(x, weight, bias, groups, win):
    """y (N, C_out, *out) of (3.4), chunk by chunk of images (or block by block of rows)."""
    chunk = _images_per_chunk(x, weight, win)
    window = weight.shape[1] * math.prod(win.kernel)
    big_window = window >= MAX_WINDOW and math.prod(win.out) >= ROW_POSITIONS
    if chunk < 2 or window <= FIRST_LAYER_WINDOW or big_window:
        return _forward_row_blocks(x, weight, bias, groups, win)
    return forward_chunks(x, weight, bias, groups, Im2colLayout(win))


def forward_chunks(x, weight, bias, groups, layout):
    """y (N, C_out, *out) of (3.4), chunk by chunk of images: per chunk, the images' canvas
    (``layout.canvas``), then ``y = w col``, one GEMM per group, copied into y's (N, C_out,
    ...) layout. Each chunk pads its own images, on its worker, while they are in cache: the
    whole batch's canvas, made before the loop on one thread, took 4-5% of a layer's forward +
    backward at two threads (32 x 16 x 28 x 28 -> 32), and 16% with a stride's phases (32 x 64 x
    28 x 28 -> 128, stride 2; AMD EPYC, December 2026)."""
    n, c_out, positions = x.shape[0], weight.shape[0], layout.positions
    o_g = c_out // groups
    y = np.empty((n, c_out) + layout.win.out, dtype=x.dtype)
    w2, fused = weights_with_bias(weight, bias, groups)
    bias = None if bias is None or fused else bias.reshape(c_out, 1)

    def one_chunk(chunk):  # writes y[a : a + m] alone
        a, m = chunk
        xp = layout.canvas(x[a : a + m])  # in this thread's scratch buffer
        for part, rows in slabs(layout, m, slab_bytes, position_bytes):
            cols = m * part.positions
            col = part.columns(xp, ones=fused).reshape(groups, -1, cols)
            yc = _scratch.scratch("y", (c_out, cols), x.dtype)
            np.matmul(w2, col, out=yc.reshape(groups, o_g, cols))
            if bias is not None:
                # along the product's rows of m x positions, then one plain copy: added while
                # copying into y (short runs of one output row and a broadcast) took 1.7x as
                # long (8 x 32 x 28 x 28 of y: 122 us against 73; AMD EPYC, one thread, 2026)
                np.add(yc, bias, out=yc)
            np.copyto(y[a : a + m, :, rows], part.images(yc, m))  # (m, C_out, *out)

    chunks, work, limit = chunks_of_images(n, x.shape[1], weight.shape, layout.win, positions,
                                           x.itemsize, forward=True)  # fmt: skip
    position_bytes = _image_bytes(x.shape[1], c_out, layout.win, 1, x.itemsize)
    # within an image, slabs of at least CHUNK_BYTES, not a thin forward's smaller chunks: in
    # those a GEMM as thin as a first layer's lost more to the slabs' calls than it gained
    # (Conv3D 8 x 3 x 16 x 32 x 32 -> 16: forward 7.5-8.3 ms whole, 8.9-9.1 in 2 MiB slabs)
    slab_bytes = max(limit, CHUNK_BYTES)
    _threads.map_gemms(one_chunk, chunks, *work)
    return y


def weights_with_bias(weight, bias, groups):
    """``(w2, fused)``: the weights as (groups, C_out/g, C_g prod(k)) and whether the bias
    rides in the GEMM, as one more column of them (one group: the layout's columns then end in a
    row of ones, ``columns(xp, ones=True)``). That is not a pass over the product (32 x 16 x 28
    x 28 -> 32, 3x3: forward 3.97-4.21 ms with that pass, 3.70-3.77 without a bias; Intel Xeon,
    one thread, December 2026); with groups, whose rows a layout writes group after group, the
    caller adds the bias to the product."""
    w2 = weight.reshape(groups, weight.shape[0] // groups, -1)
    fused = bias is not None and groups == 1
    if fused:
        w2 = np.concatenate([w2, bias.reshape(1, -1, 1)], axis=2)
    return w2, fused


def _forward_row_blocks(x, weight, bias, groups, win):
    """y (N, C_out, *out) of (3.4), block by block of output rows (large images).

    The bias rides in the GEMM: each group's windows get a row of ones below them and its
    weights a column holding its bias, ``y = [w  b] [col; 1]``. Added to each block's product
    afterwards, it was a pass over y's strided rows that took longer than the GEMM of a first
    layer (article 003's 128 x 1 x 28 x 28 -> 32, 3x3: forward 2.73 ms with the bias added so,
    1.21 without a bias; Intel Xeon, one thread, December 2026)."""
    n, c_out = x.shape[0], weight.shape[0]
    w2 = weight.reshape(groups, c_out // groups, -1)
    if bias is not None:
        w2 = np.concatenate([w2, bias.reshape(groups, c_out // groups, 1)], axis=2)
    y = np.empty((n, groups, c_out // groups, math.prod(win.out)), dtype=x.dtype)
    xp = _canvas(x, win)

    def one_block(item):  # writes y[images, ..., flat] alone
        images, (flat, windows) = item
        col = gather_block(windows[images], groups, ones=bias is not None)
        np.matmul(w2, col, out=y[images, ..., flat])  # (images, groups, C_out/g, block)

    blocks = row_blocks(xp, weight.shape, groups, win)
    work = gemm_work(n, x.shape[1], weight.shape, win, math.prod(win.out), x.itemsize)
    workers = _threads.gemm_workers(*work)
    # fewer blocks than workers (a few large images): the workers share the images out too
    parts = _threads.shares(n, workers) if len(blocks) < workers else [(0, n)]
    items = [(slice(a, a + m), block) for block in blocks for a, m in parts]
    _threads.map_gemms(one_block, items, *work)
    return y.reshape((n, c_out) + win.out)


def gather_block(windows, groups, ones=False):
    """``col`` (m, groups, C_g prod(k) [+ 1], positions): a block's ``windows`` (m, C, *k,
    *block; of :func:`row_blocks`) gathered channels-first by one copy of the strided view, in
    this thread's scratch buffer; with ``ones``, each group's rows end in a row of ones (the
    bias's, see :func:`_forward_row_blocks`)."""
    m, c = windows.shape[:2]
    nd = (windows.ndim - 2) // 2
    kernel, block = windows.shape[2 : 2 + nd], windows.shape[2 + nd :]
    per_group = c // groups * math.prod(kernel)
    col = _scratch.scratch("col", (m, groups, per_group + ones, math.prod(block)), windows.dtype)
    split = (m, groups, c // groups) + windows.shape[2:]
    # the windows' rows of col, reshaped by splitting axes only: a view, written through
    np.copyto((col[:, :, :per_group] if ones else col).reshape(split), windows.reshape(split))
    if ones:
        col[:, :, per_group] = 1
    return col


def row_blocks(xp, weight_shape, groups, win):
    """``(flat, windows)`` of each block of output positions.

    A block spans some rows of the first spatial output axis (and, when one such row alone is
    more than a block, some rows of the second), all of the remaining axes. ``windows`` is the
    block's part of the strided view of the windows (N, C, *k, *block); ``flat`` the block's
    slice of the flattened output positions (contiguous, because the blocked axes are the
    slowest).
    """
    n, c_in = xp.shape[:2]
    kernel, out, nd = win.kernel, win.out, len(win.kernel)
    view = win.view(xp)
    rows_of_col = c_in * math.prod(kernel)  # = groups * C_g prod(k)
    macs_per_column = weight_shape[0] // groups * weight_shape[1] * math.prod(kernel)
    positions = min(BLOCK_BYTES // (n * rows_of_col * xp.itemsize), GEMM_MACS // macs_per_column)
    positions = max(positions, MIN_COLUMNS, 1)
    split = 1 if nd == 1 or positions >= math.prod(out[1:]) else 2
    inner = math.prod(out[split:])  # positions in one row of the last blocked axis
    step = max(1, positions // inner)
    blocks = []
    for outer in np.ndindex(*out[: split - 1]):  # () when split == 1
        start = sum(i * math.prod(out[j + 1 : split]) for j, i in enumerate(outer))
        for a in range(0, out[split - 1], step):
            b = min(a + step, out[split - 1])
            index = tuple(slice(i, i + 1) for i in outer) + (slice(a, b),)
            flat = slice((start + a) * inner, (start + b) * inner)
            blocks.append((flat, view[(slice(None),) * (2 + nd) + index]))
    return blocks


def backward(dy, x, weight, has_bias, groups, win, input_grad, weight_grad=True):
    """``(dx, dweight, dbias)`` of (3.4), chunk by chunk of images (module docstring)."""
    return backward_chunks(dy, x, weight, has_bias, groups, Im2colLayout(win), input_grad,
                           weight_grad)  # fmt: skip


def backward_chunks(dy, x, weight, has_bias, groups, layout, input_grad, weight_grad=True):
    """``(dx, dweight, dbias)`` of (3.4), chunk by chunk of images: per chunk, the images'
    canvas, ``dW = dy col^T`` and ``dcol = w^T dy``, one GEMM per group each, then col2im into
    the chunk's canvas gradient and its part on x into dx (the chunk's own, as in
    :func:`forward_chunks`). ``weight_grad=False`` skips dW (None; x then only fills the
    canvas whose shape col2im needs: the transposed convolution's forward)."""
    n, c_out, positions = x.shape[0], weight.shape[0], layout.positions
    o_g = c_out // groups
    db = _threads.BiasGrad(dy, has_bias)
    w2 = weight.reshape(groups, o_g, -1)
    # dW^T, summed in the orientation of its GEMM (below) and turned once at the end: adding
    # each chunk's product transposed into dW read it with a stride of C_out elements (8 x 256
    # x 14 x 14 -> 256, 3x3: backward 37 ms against 30, four chunks; Intel Xeon, December 2026)
    dx = np.empty(x.shape, dtype=x.dtype) if input_grad else None

    @with_rows_in_place  # col2im's runs, one per channel and image: 28 x 28 -> 838 each
    def one_chunk(chunk):  # returns this chunk's dW^T; writes dx[a : a + m] alone
        a, m = chunk
        xp = layout.canvas(x[a : a + m])  # in this thread's scratch buffer
        dyc = dy_columns(layout, dy[a : a + m]).reshape(groups, o_g, m * positions)
        db.add(a, m)
        dw_t = None
        for part, _ in slabs(layout, m, limit, position_bytes) if weight_grad else ():
            # the windows with the batch inside the columns: (groups, C_g prod(k), m positions)
            col = part.columns(xp).reshape(groups, -1, m * part.positions)
            # a slab is of one image (m = 1): its grid positions are dyc's columns
            dy_part = dyc if part is layout else dyc[..., part.t0 : part.t0 + part.positions]
            # dW[g, o, ck] = sum_(n,l) dy col, computed transposed as col dy^T: OpenBLAS runs
            # this orientation 1.3x faster (80 against 59 GFLOP/s on 32 x 6272 x 144, 1 thread)
            share = np.matmul(col, dy_part.swapaxes(-1, -2))
            dw_t = share if dw_t is None else np.add(dw_t, share, out=dw_t)  # slabs in order
        if dx is not None:  # the whole chunk at once (slabs' col2im runs were too short)
            dcol = _scratch.scratch("dcol", (groups, w2.shape[2], m * positions), x.dtype)
            np.matmul(w2.swapaxes(-1, -2), dyc, out=dcol)
            layout.input_grad(dcol.reshape(-1, m * positions), xp.shape, out=dx[a : a + m])
        return dw_t

    chunks, work, limit = chunks_of_images(n, x.shape[1], weight.shape, layout.win, positions,
                                           x.itemsize)  # fmt: skip
    position_bytes = _image_bytes(x.shape[1], c_out, layout.win, 1, x.itemsize)
    dw_t = _threads.summed_gemms(one_chunk, chunks, *work)
    dw = _turned(dw_t).reshape(weight.shape) if weight_grad else None
    return dx, dw, db.result()


def dy_columns(layout, dy):
    """``dy`` of a chunk's images (m, C_out, *out) in its columns' order, (C_out, m
    positions), in this thread's scratch buffer "dy": zero on the columns that are no output
    position (a wide grid's extra ones), so that their windows add nothing to dW or dcol."""
    m, c_out = dy.shape[:2]
    extra = layout.positions > math.prod(layout.win.out)
    dyc = (_scratch.zeros if extra else _scratch.scratch)("dy", (c_out, m * layout.positions),
                                                          dy.dtype)  # fmt: skip
    np.copyto(layout.images(dyc, m), dy)
    return dyc


def _turned(a):
    """``a.swapaxes(-1, -2)`` as a C-contiguous array, copied ``TURN_ROWS`` rows of ``a`` at a
    time: a block's rows and columns both stay in cache. One transposing copy of a 2304 x 256
    dW^T (a 256 -> 256 3x3 conv) reads ``a`` with a stride of 1 KiB, which the caches hold few
    lines of: 2.2 ms against 0.35 in blocks (1152 x 128: 0.15 against 0.06; Intel Xeon,
    December 2026), as much as the rest of that backward's copies."""
    if a.shape[-2] <= TURN_ROWS:  # one block
        return a.swapaxes(-1, -2).copy()
    turned = np.empty(a.shape[:-2] + a.shape[:-3:-1], dtype=a.dtype)
    for r in range(0, a.shape[-2], TURN_ROWS):
        np.copyto(turned[..., r : r + TURN_ROWS], a[..., r : r + TURN_ROWS, :].swapaxes(-1, -2))
    return turned


def first_layer(weight_shape, win):
    """A window of at most ``FIRST_LAYER_WINDOW`` elements, not 1x1 (a 1x1 kernel has per-image
    GEMMs of its own, on x itself: ``_conv_wide._pointwise_forward``)."""
    window = weight_shape[1] * math.prod(win.kernel)
    return 1 < math.prod(win.kernel) and window <= FIRST_LAYER_WINDOW


def rows_forward(x_shape, weight_shape, win):
    """Whether a first layer's forward takes the row blocks rather than the wide grid."""
    return x_shape[0] >= FIRST_LAYER_IMAGES and first_layer(weight_shape, win)


def weight_grads_per_image(weight_shape, win):
    """Whether :func:`weight_grads` is the faster way to a first layer's gradients: on one or
    two spatial axes. First layers run 1.4-2x faster so; 3-D windows, whose row-by-row gather
    is slow, do not (1 -> 8, 3x3x3 on 16 x 32 x 32: 3.4 ms against 4.1; 3 -> 16: 10.7 against
    11.9), nor larger windows (6 -> 16, 5x5 on 14 x 14: 1.96 against 2.53; 1 -> 16, 7x7 on 100 x
    100: 16.7 against 18.8; Intel Xeon, one thread, December 2026)."""
    return len(win.kernel) <= 2 and first_layer(weight_shape, win)


def weight_grads(dy, x, weight, has_bias, groups, win):
    """``(None, dweight, dbias)`` of (3.4) without ``dx`` (a first layer), image by image:
    ``dW = sum_n dy[n] col[n]^T``, with each image's windows gathered channels-first,
    (C prod(k), positions), as the row blocks gather them.

    ``dy`` is read in its own (N, C_out, positions) layout, where the chunk loop of
    :func:`backward_chunks` first copies it into (C_out, images x positions) to match its
    columns; with no ``dcol`` to compute, that copy is most of what the one large GEMM saves
    (first layers of 1-3 input channels: 32 x 1 x 28 x 28 -> 32, 3x3, 0.91 ms against 0.34;
    LeNet-5's 128 x 1 x 28 x 28 -> 6, 5x5, 1.75 against 0.88; 64 x 3 x 32 x 32 -> 32, 4.5
    against 2.2; Intel Xeon, one thread, December 2026). The images' products are summed in
    their order, chunk after chunk, the same bits on every run."""
    n, c_out, positions = x.shape[0], weight.shape[0], math.prod(win.out)
    dy4 = dy.reshape(n, groups, c_out // groups, positions)
    xp = _canvas(x, win)
    rows = weight.shape[1] * math.prod(win.kernel)  # C_g prod(k)
    db = _threads.BiasGrad(dy, has_bias)

    def one_chunk(chunk):
        a, m = chunk
        db.add(a, m)
        windows = win.view(xp[a : a + m])  # (m, C, *k, *out)
        col = _scratch.scratch("col", windows.shape, x.dtype)
        np.copyto(col, windows)
        col = col.reshape(m, groups, rows, positions)
        return np.matmul(dy4[a : a + m], col.swapaxes(-1, -2)).sum(axis=0)

    image_bytes = groups * rows * positions * x.itemsize  # one image's windows
    work = n * image_bytes  # the gather's bytes, not x's: the work the threads share
    chunks = _threads.thread_chunks(n, max(1, chunk_bytes() // image_bytes), work)
    dw = _threads.summed(_threads.map_ordered(one_chunk, chunks, work))
    return None, dw.reshape(weight.shape), db.result()


def _canvas(x, win):
    """``x`` padded as ``win.canvas`` pads it, in the scratch buffer (``x`` itself, in C order,
    if unpadded: the layouts read flat runs of it)."""
    return np.ascontiguousarray(_scratch.padded("canvas", x, win.canvas_pads))
