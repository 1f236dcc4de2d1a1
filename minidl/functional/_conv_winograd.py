r"""Winograd's minimal filtering F(2x2, 3x3) and F(2x2, 5x5) behind the 3x3 and 5x5 stride-1
convs (private).

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
  hold no tile: the first stage (along the rows, per plane) leaves the last row out, so V, M
  and dy's planes have th x (tw + 1) positions a plane; what is computed on the last column is
  thrown away (and the backward's :math:`\bar M` is zero there, so it adds nothing to dW).
  Leaving the row out takes 7% of the products' columns off on 28 x 28 images, 12% on 14 x
  14, 20% on 7 x 7 (8 x 256 x 14 x 14 -> 256 forward + backward, one thread: 0.74-0.75 of
  im2col's time -> 0.67-0.69; AMD EPYC, December 2026).

A 3-D conv of a k x 3 x 3 kernel is a sum of 2-D ones: output slice ``z`` adds the 3x3 convs
of input slices ``z .. z + k - 1`` (padded along the depth) by the kernel's k slices. Each input
slice is transformed once; with the planes laid out slice by slice, channels within, the k
slices under output slice ``z`` are one matrix of k C_in rows (:func:`_depth_stack`, a view),
and U's columns run over (tap, channel): each of the 16 products per output slice is then one
(C_out x k C_in) by (k C_in x tiles) GEMM, 2.25 times fewer multiply-adds than im2col's, whose
windows are moreover 9k times the input. Backward, dU sums the output slices' products; dV of
input slice ``z`` is one product too, of the taps' U^T (in reverse order) with M-bar's slices
``z - k + 1 .. z``, M-bar padded with zero slices where those fall outside.

A 2-D 5x5 conv runs F(2x2, 5x5) (:mod:`minidl.functional._winograd_5x5`: its matrices and
stages) on the same layout: 6x6 tiles of input, two apart, so each plane has two rows and
columns beyond its tiles (shifts of up to two plane rows and two columns), and 36 products of
(C_out x C_in) by (C_in x tiles), 2.78 times fewer multiply-adds than im2col's 25 per output;
its transforms make 7 to 20 NumPy calls a stage where F(2x2, 3x3)'s make 3 (:class:`Tiles`
holds what differs between the two). The forward, the backward, the chunks and the threads are
the same code for both.

Float32 error: the 3x3 transforms add and halve at most four terms, so the results differ from
im2col's by a few units in the last place of the largest output (4.5e-7 of it for 32 x 64 x 28 x
28 -> 64; ``tests/functional/test_conv_winograd.py``); the 5x5 ones multiply by up to 5 and G by
1/24, about 3e-6 of the largest output and dx, 1.2e-5 of dW (4 x 32 x 28 x 28 -> 64).
"""

import numpy as np

from minidl.functional import _machine, _scratch, _threads, _winograd_5x5
from minidl.functional._ufunc_buffer import with_rows_in_place

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)

# At least this many input and output channels when two threads share the chunks: below, the
# 16 products are too thin to gain on im2col's one (forward + backward, minidl alone, best of 9,
# AMD EPYC, December 2026: 32 x 16 x 28 x 28 -> 32 8.6-9.3 ms against 8.1-9.8 by im2col; 8 x
# 16 x 28 x 28 -> 32 2.6-2.7 against 2.0-2.1; 32 x 32 x 28 x 28 -> 64 22.3 against 22.5;
# but 32 x 64 x 28 x 28 -> 64 33.6 against 42.7). Those were chunks of CHUNK_BYTES; for
# chunks of THREADED_CHUNK_BYTES and the Intel Xeon, see below MIN_CHANNELS_5X5_ONE_THREAD.
MIN_CHANNELS = 64
# On one thread, from this many channels, on outputs of at least MIN_SIZE_ONE_THREAD on each
# side (32 x 16 x 28 x 28 -> 32 11.1 ms against 13.3, PyTorch 7.6; 32 x 32 x 28 x 28 -> 32
# 16.0 against 23.5, PyTorch 13.9; 32 x 16 x 16 x 16 -> 32 4.0 against 4.7; but 32 x 16 x 14
# x 14 -> 32 4.7 against 3.6; measured again with the transforms of the later rounds,
# 3.77-4.18 against 3.63-3.72).
MIN_CHANNELS_ONE_THREAD = 16
MIN_SIZE_ONE_THREAD = 16
# Below MIN_SIZE_ONE_THREAD (the fill below leaves 12 and 14 a side) on one thread from this
# many channels and images: the planes are short, and thin products or few tiles gain nothing
# (forward + backward, minidl alone, best of 7, fresh processes alternating, three runs each,
# AMD EPYC, December 2026; im2col against F(2x2, 3x3)): 8 x 32 x 14 x 14 -> 32 1.77-1.81 ms
# against 1.41-1.42; 128 x 32 x 14 x 14 -> 32 27.4-28.9 against 23.2-24.3; 64 x 32 x 14 x 14
# -> 64 21.1-21.8 against 18.3-19.3; 32 x 64 x 12 x 12 -> 32 10.4-11.1 against 8.7; 32 x 24 x
# 12 x 12 -> 48 4.75-4.84 against 4.08-4.17; 4 x 32 x 14 x 14 -> 32 0.97-1.01 against
# 0.87-0.90; but 2 images of 32 x 14 x 14 -> 32 0.59 against 0.64, one 0.37 against 0.51;
# 4 x 24 x 14 x 14 -> 24 0.68-0.73 against 0.69-0.71.
MIN_CHANNELS_SMALL_ONE_THREAD = 24
MIN_IMAGES_SMALL_ONE_THREAD = 4
# Not below those channels, though F(2x2, 3x3) in SMALL_CHUNK_BYTES chunks won there on the AMD
# EPYC (same measure, im2col against it: 32 x 16 x 14 x 14 -> 32 3.68-3.95 ms against
# 3.09-3.58; 16 x 16 x 14 x 14 -> 32 1.84-1.91 against 1.65-1.69; 64 x 16 x 14 x 14 -> 32
# 7.63-8.01 against 6.52-6.57): on the Intel Xeon it lost as much (3.34-3.52 against
# 3.83-4.19 in chunks of 512 KiB to 2 MiB; 16 x 16 x 14 x 14 -> 32 1.75-1.86 against
# 2.01-2.25; 64 x 16 x 14 x 14 -> 32 6.76-6.89 against 7.51-8.14), where NumPy's GEMMs run
# nearer the machine's peak and the transforms' passes save less. Its products' inner
# dimension is 16 where im2col's is 144.
# ... and at most this many: on larger images im2col's wide grid wastes little and its GEMMs
# are wide (32 x 16 x 112 x 112 -> 32: 200-216 ms against 188-191 by im2col, three runs of the
# sweep each).
MAX_SIZE_ONE_THREAD = 64
# A 3-D conv with a depth of 2 or more taps, at any thread count, from this many channels:
# im2col's windows are 27 times the input for 3 x 3 x 3, whose copies cost more than the
# transforms' passes even for a few channels (forward + backward, minidl alone, best of 7,
# AMD EPYC, December 2026, one / two threads: 4 x 32 x 8 x 28 x 28 -> 32 43.5 / 25.7 ms
# against 70.9 / 38.9 by im2col; 8 x 4 x 8 x 28 x 28 -> 8 5.1 / 4.7 against 9.0 / 6.0; 8 x 8
# x 8 x 14 x 14 -> 16 3.9 / 3.2 against 6.3 / 4.0; but 8 x 3 x 16 x 32 x 32 -> 16 25.3 / 15.2
# against 24.5 / 14.9).
MIN_CHANNELS_DEPTH = 4
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
# ... and on one thread half that for outputs below MIN_SIZE_ONE_THREAD a side, where 2 MiB of
# V is many images (a 14 x 14 one of 32 channels is 0.13 MiB): same measure, 2 MiB against 1
# MiB, 32 x 32 x 14 x 14 -> 64 10.1-11.8 ms against 8.8-9.3; 32 x 64 x 12 x 12 -> 32 8.7-9.5
# against 7.8-8.6; 64 x 32 x 14 x 14 -> 64 19.5-21.0 against 18.1-18.6; 128 x 32 x 14 x 14 ->
# 32 a tie (24.4-25.3 against 25.1-25.2). Larger images kept 2 MiB (128 x 16 x 28 x 28 -> 32:
# 38.3-40.0 ms against 40.0-40.6 at 1 MiB, in one process, interleaved), and so did two threads
# (32 x 64 x 14 x 14 -> 64: 11.8-12.6 ms against 12.6-12.9). On the Intel Xeon, 2 MiB against
# 1: 32 x 32 x 14 x 14 -> 64 10.5-10.9 against 9.9-10.2; 64 x 32 x 14 x 14 -> 64 21.4-21.9
# against 20.1-20.4; ties on 32 x 64 x 12 x 12 -> 32, 128 x 32 x 14 x 14 -> 32, 32 x 24 x 14 x
# 14 -> 24.
SMALL_CHUNK_BYTES = 2**20
# ... and twice CHUNK_BYTES where the chunks run on two threads: fewer, larger chunks make
# fewer NumPy calls, each of which takes Python's lock back, and the two workers wait on each
# other less (benchmarks/bench_threads.py --calls). Forward + backward, minidl alone, best of
# 7 x 3, fresh processes alternating, three runs each, two threads, 2 MiB against 4: AMD EPYC
# 32 x 64 x 28 x 28 -> 64 36.8-37.5 ms against 33.5-33.9; Intel Xeon 37.5-38.0 against
# 33.9-35.8, 32 x 64 x 14 x 14 -> 64 11.1-11.5 against 10.1, 128 x 64 x 28 x 28 -> 64
# 148.2-150.6 against 134.1-139.0; ties on 32 x 128 x 28 x 28 -> 128, 8 x 256 x 14 x 14 ->
# 256, 8 x 64 x 56 x 56 -> 64 and the 5x5 32 x 64 x 28 x 28 -> 64.
THREADED_CHUNK_BYTES = 4 * 2**20
# A 5x5 conv (F(2x2, 5x5)) on one thread from this many channels in and out (per group), on
# outputs of at most MAX_SIZE_ONE_THREAD a side; on more threads from MIN_CHANNELS, as a 3x3
# one. Forward + backward, minidl alone, best of 7, fresh processes, im2col against F(2x2, 5x5)
# (AMD EPYC, December 2026), one thread: 32 x 32 x 28 x 28 -> 64 113.2-113.6 ms against
# 85.6-87.5; 32 x 16 x 28 x 28 -> 32 33.1-34.3 against 26.8-28.0; 32 x 12 x 28 x 28 -> 24
# 21.1-22.3 against 18.5-19.0; 8 x 32 x 56 x 56 -> 64 100.8-101.9 against 77.0-79.3; 32 x 64
# x 28 x 28 -> 64 224-225 against 140-142; but 32 x 8 x 28 x 28 -> 16 11.9-12.7 against
# 12.8-12.9 and 4 x 16 x 112 x 112 -> 32 60.7-61.0 against 66.7-69.4. Two threads: 32 x 64 x
# 28 x 28 -> 64 124-128 against 96.8-96.9, 8 x 64 x 28 x 28 -> 128 59.8-61.9 against
# 45.3-50.1; but 32 x 32 x 28 x 28 -> 64 57.4-58.4 against 59.3-64.5: its chunks' 190 NumPy
# calls each (the 5x5 transforms are 7 to 20 calls a stage) queue on Python's lock, where two
# processes of 16 images each took 47 ms.
MIN_CHANNELS_5X5_ONE_THREAD = 12
# Not on two threads below MIN_CHANNELS, though from 24 channels (3x3) or 32 (5x5) and 8
# images it won on the AMD EPYC in THREADED_CHUNK_BYTES chunks (forward + backward, minidl
# alone, best of 7 x 3, fresh processes alternating, three runs each, two threads, im2col
# against it: 32 x 32 x 28 x 28 -> 64 (5x5) 56.7-58.0 ms against 44.3-46.6; 128 x 32 x 28 x 28
# -> 32 56.1-57.2 against 45.2-46.5; 32 x 48 x 28 x 28 -> 48 26.7-28.0 against 22.0-23.1): on
# the Intel Xeon the same lost (48.1-49.2 against 55.1-58.8; 47.0-48.5 against 55.8-56.4; a
# tie; 32 x 24 x 28 x 28 -> 24 9.2-9.9 against 12.3-12.8; 32 x 32 x 28 x 28 -> 32 12.8-13.8
# against 14.3-15.7).

# The one-thread rules above (from MIN_CHANNELS_ONE_THREAD, MIN_CHANNELS_SMALL_ONE_THREAD,
# MIN_CHANNELS_5X5_ONE_THREAD) were measured on the AMD EPYC; on the Intel Xeon (its profile in
# :mod:`minidl.functional._machine`, PROFILE_RULES below) one thread runs Winograd from
# MIN_CHANNELS instead. There, where NumPy's GEMMs run 1.6 times the EPYC's speed, the
# transforms' passes saved less than they cost below 64 channels (forward + backward, minidl
# alone, best of 7 x 3, fresh processes alternating, three runs each, one thread, December
# 2026; Winograd against im2col, ms): 32 x 16 x 28 x 28 -> 32 15.5-16.3 against 11.9-13.3;
# 32 x 16 x 16 x 16 -> 32 4.75-5.08 against 4.19-4.25; 32 x 32 x 28 x 28 -> 64 38.0-38.4
# against 32.7-33.9; 32 x 32 x 56 x 56 -> 64 149.3-149.8 against 126.4-131.3; 32 x 64 x 28
# x 28 -> 64 in 4 groups 44.2-45.3 against 38.8-40.7; 32 x 24 x 12 x 12 -> 48 4.56-4.78
# against 4.13-4.34; 4 x 32 x 14 x 14 -> 32 0.94-0.98 against 0.87-0.91; 5x5 32 x 32 x 28 x 28
# -> 64 91.0-93.6 against 88.3-88.8, 16 x 16 x 28 x 28 -> 16 12.3-13.0 against 11.4-12.2.
# Ties: 32 x 24 x 28 x 28 -> 24, 32 x 32 x 28 x 28 -> 32, 32 x 48 x 28 x 28 -> 48, 32 x 32 x
# 56 x 56 -> 32, 8 x 32 x 14 x 14 -> 32. Lost by it (within 3-7%): 32 x 32 x 16 x 16 -> 32
# 7.19-7.31 against 7.41-7.92, 32 x 48 x 14 x 14 -> 48 11.6-12.7 against 13.0-13.2, 128 x 32
# x 14 x 14 -> 32 22.5-24.0 against 24.0-25.5. From 64 channels Winograd won there too (8 x
# 64 x 56 x 56 -> 64 58.3-62.6 against 63.7-65.7; 32 x 128 x 28 x 28 -> 128 162-178 against
# 186-203; 8 x 256 x 14 x 14 -> 256 43.7-46.6 against 51.0-55.2; 5x5 32 x 64 x 28 x 28 -> 64
# 145-150 against 175-177).
#
# On two threads the Intel Xeon's products lost at 64 channels too, once the machine ran slower
# (its 2048^3 GEMM at 132-138 GFLOP/s where the runs above had 145-171; the same code took 1.4
# times as long): forward + backward, as above, two threads, Winograd against im2col, ms: 32 x
# 64 x 28 x 28 -> 64 49.5-51.4 against 40.8-47.7 (two sets of runs); 5x5 32 x 64 x 28 x 28 ->
# 64 137.8-154.5 against 125.7-132.3; ties at 16 x 64 x 56 x 56 -> 64, 32 x 64 x 14 x 14 ->
# 64 and 5x5 16 x 96 x 28 x 28 -> 96; won from 96 (32 x 96 x 28 x 28 -> 96 79.3-84.5 against
# 82.6-88.1; 32 x 128 x 28 x 28 -> 128 122.1-127.5 against 128.3-136.2; 5x5 16 x 128 x 28 x
# 28 -> 128 186.3-189.3 against 206.6-209.2). One image on one thread ran faster by im2col there
# at every size measured (same hours, one thread: 1 x 64 x 56 x 56 -> 64 10.3-10.5 against
# 9.5-9.6; 1 x 256 x 14 x 14 -> 256 10.6-11.4 against 8.5-9.5, where the weights' transforms,
# whose cost grows with the channels, not the image, are a third of the time; 1 x 128 x 28 x
# 28 -> 128 and 5x5 1 x 64 x 28 x 28 -> 64 ties), where two images already tied or won
# (2 x 256 x 14 x 14 -> 256 15.1-16.3 against 16.3-16.8; 2 x 64 x 56 x 56 -> 64 a tie). When
# the machine ran fast again (its GEMM at 162-167 GFLOP/s), the rules below against the ones
# before them (one thread from 64 channels, one image too; two threads from 64), ms: two threads
# 32 x 64 x 28 x 28 -> 64 37.4-39.5 against 39.7-41.1, 5x5 104.6-108.5 against 114.4-120.6;
# one thread 1 x 64 x 56 x 56 -> 64 8.0-8.3 against 8.3-8.5, 1 x 256 x 14 x 14 -> 256 6.8-7.2
# against 8.4-8.7: they win in both of the machine's states.
#
# The rules of the machines' profiles (:mod:`minidl.functional._machine`) whose 2-D convs
# follow a rule of their own: (least channels on one thread, least channels on more), and a
# batch of two images or more, in place of the AMD EPYC's above. 3-D convs keep
# MIN_CHANNELS_DEPTH everywhere.
PROFILE_RULES = {_machine.INTEL_AVX512: (MIN_CHANNELS, 96)}


def applies(x_shape, weight_shape, groups, win):
    """Whether a conv runs here: 2-D 3x3 or 5x5, or 3-D k x 3 x 3; stride 1, no dilation,
    padding at most 1 (2 for 5x5) on each side of the image (and less than k along a 3-D
    conv's depth); at least ``MIN_FILL`` of the tiles' outputs inside the image; at least
    ``MIN_CHANNELS`` channels in and out (per group), or on one thread
    ``MIN_CHANNELS_ONE_THREAD`` (``MIN_CHANNELS_5X5_ONE_THREAD``) on outputs of
    ``MIN_SIZE_ONE_THREAD`` (3x3) to ``MAX_SIZE_ONE_THREAD`` on each side (on smaller ones
    from ``MIN_CHANNELS_SMALL_ONE_THREAD`` and ``MIN_IMAGES_SMALL_ONE_THREAD`` images), or for
    a 3-D conv ``MIN_CHANNELS_DEPTH``; and on more threads a batch to share out (one image on two
    threads runs faster as im2col's slabs of rows). On a machine of one of ``PROFILE_RULES``'
    profiles a 2-D conv takes that profile's least channels, for one thread or for more, and a
    batch on one thread too (3-D as above). So the thread setting and the machine may choose
    between the two algorithms, whose float32 results differ in the last bits."""
    tiles = TILES.get(weight_shape[-1])
    if tiles is None or weight_shape[-2] != weight_shape[-1] or len(x_shape) not in (4, 5):
        return False
    if len(x_shape) == 5 and tiles is not F23:  # 3-D: k x 3 x 3 only
        return False
    # the cheap refusals first: every conv of a network asks, at every call
    channels = min(x_shape[1], weight_shape[0]) // groups  # per group
    taps = _taps(weight_shape)
    if tiles is F23:  # on one thread below MIN_CHANNELS: from these channels, this side
        one_thread, least_size = MIN_CHANNELS_ONE_THREAD, MIN_SIZE_ONE_THREAD
    else:  # 5x5: no least side but the fill's
        one_thread, least_size = MIN_CHANNELS_5X5_ONE_THREAD, 1
    least = MIN_CHANNELS_DEPTH if taps > 1 else min(MIN_CHANNELS, one_thread)
    if channels < least:
        return False
    if any(s != 1 for s in win.stride) or any(d != 1 for d in win.dilation):
        return False
    if any(lo > tiles.halo or hi > tiles.halo for lo, hi in win.pads[-2:]):
        return False
    if len(x_shape) == 5 and max(win.pads[0]) >= taps:  # a depth slice of padding alone
        return False
    grid = _grid(x_shape, weight_shape, win)
    if grid.ho * grid.wo < MIN_FILL * 4 * grid.plane:
        return False
    if _threads.count() > 1 and x_shape[0] == 1:
        return False
    if taps > 1:  # from MIN_CHANNELS_DEPTH (above): im2col's windows are 9 x taps the input
        return True
    rule = PROFILE_RULES.get(_machine.profile())
    if rule is not None:  # and a batch, as on two threads: one image runs faster by im2col
        return x_shape[0] > 1 and channels >= rule[_threads.count() > 1]
    if _threads.count() > 1:
        return channels >= MIN_CHANNELS
    if channels >= MIN_CHANNELS:
        return True
    sizes = sorted((grid.ho, grid.wo))
    if sizes[1] > MAX_SIZE_ONE_THREAD:
        return False
    if sizes[0] >= least_size:
        return True
    return (channels >= MIN_CHANNELS_SMALL_ONE_THREAD
            and x_shape[0] >= MIN_IMAGES_SMALL_ONE_THREAD)  # fmt: skip


def macs(x_shape, weight_shape, win):
    """The multiply-adds of one pass's 16 products (36 for 5x5; the planes' unused tiles
    included)."""
    return _macs(x_shape, weight_shape, _grid(x_shape, weight_shape, win))


def _macs(x_shape, weight_shape, grid):
    per_slice = grid.tiles.alpha**2 * x_shape[0] * grid.positions * weight_shape[0]
    per_slice *= weight_shape[1] * grid.taps
    return per_slice * grid.depth_out


# ------------------------------------------------------------------------- the tile loops
def tile_forward_naive(x, weight, bias, pads):
    """(3.4) for a 3x3 (or 5x5) stride-1 kernel, tile by tile: ``Y = A^T [(G g G^T) * (B^T d
    B)] A`` summed over input channels, for each 2x2 tile of output, with F(2x2, 3x3)'s
    matrices (F(2x2, 5x5)'s, 6x6 tiles of input); plain loops, float64 inside. A k x 3 x 3
    kernel: output slice ``z`` is the sum over the taps ``j`` of those 2-D sums of input slice
    ``z + j`` (padded along the depth) by the kernel's slice ``j``."""
    if x.ndim == 5:
        return _tile_forward_naive_3d(x, weight, bias, pads)
    n, c_in, h, w = x.shape
    c_out, tiles = weight.shape[0], TILES[weight.shape[-1]]
    b_t, g, a_t, a = tiles.B_T, tiles.G, tiles.A_T, tiles.alpha
    (top, bottom), (left, right) = pads
    ho, wo = h + top + bottom - (a - 2), w + left + right - (a - 2)
    th, tw = -(-ho // 2), -(-wo // 2)
    canvas = np.zeros((n, c_in, 2 * th + a - 2, 2 * tw + a - 2))
    canvas[:, :, top : top + h, left : left + w] = x
    u = np.einsum("ak,oikl,bl->oiab", g, weight.astype(np.float64), g)  # G g G^T
    y = np.zeros((n, c_out, 2 * th, 2 * tw))
    for b in range(n):
        for i in range(th):
            for j in range(tw):
                for o in range(c_out):
                    m = np.zeros((a, a))
                    for c in range(c_in):
                        d = canvas[b, c, 2 * i : 2 * i + a, 2 * j : 2 * j + a]
                        m += u[o, c] * (b_t @ d @ b_t.T)
                    y[b, o, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2] = a_t @ m @ a_t.T
    y = y[:, :, :ho, :wo]
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y.astype(x.dtype)


def _tile_forward_naive_3d(x, weight, bias, pads):
    (front, back), taps = pads[0], weight.shape[2]
    padded = np.zeros(x.shape[:2] + (x.shape[2] + front + back,) + x.shape[3:])
    padded[:, :, front : front + x.shape[2]] = x
    slices = []
    for z in range(padded.shape[2] - taps + 1):
        y = sum(tile_forward_naive(padded[:, :, z + j], weight[:, :, j], None, pads[1:])
                for j in range(taps))  # fmt: skip
        slices.append(y if bias is None else y + bias.reshape(1, -1, 1, 1))
    return np.stack(slices, axis=2).astype(x.dtype)


# ----------------------------------------------------------------------- the phase planes
class Grid:
    """The tiles of one conv: output ``ho x wo`` in ``th x tw`` tiles of 2x2, each plane of
    the padded input (th + 1) x (tw + 1) (F(2x2, 5x5)'s ``tiles``: (th + 2) x (tw + 2)),
    flattened with channels and images into a run. A 3-D
    conv (``taps`` > 1 or a depth axis) is a 2-D one per depth slice: its ``depth`` slices,
    padded by ``front`` and ``back``, each a stack of planes, the kernel's ``taps`` along the
    depth summed by the products (:func:`_depth_stack`)."""

    def __init__(self, x_shape, pads, taps=1, tiles=None):
        self.tiles = F23 if tiles is None else tiles
        halo = self.tiles.halo  # the planes' rows and columns beyond the tiles: 1, 2 for 5x5
        self.h, self.w = x_shape[-2:]
        (self.top, bottom), (self.left, right) = pads[-2:]
        self.ho = self.h + self.top + bottom - 2 * halo
        self.wo = self.w + self.left + right - 2 * halo
        self.th, self.tw = -(-self.ho // 2), -(-self.wo // 2)
        self.rows, self.cols = self.th + halo, self.tw + halo  # a plane's
        self.plane = self.rows * self.cols
        # the positions of V, M and dy's planes per plane: its th rows of tiles (the shifts along
        # the rows are done), each with its extra columns (the shifts along it are not)
        self.positions = self.th * self.cols
        self.three_d = len(x_shape) == 5
        self.depth = x_shape[2] if self.three_d else 1
        self.front, self.back = pads[0] if self.three_d else (0, 0)
        self.taps = taps
        self.depth_in = self.depth + self.front + self.back  # the padded input's slices
        self.depth_out = self.depth_in - taps + 1

    @property
    def out(self):
        """The output's spatial shape."""
        return ((self.depth_out,) if self.three_d else ()) + (self.ho, self.wo)

    def planes_shape(self, groups, depth, channels, m, rows=None):
        """Phase planes: (2, 2, groups, depth, channels per group, m images, th + 1, tw + 1),
        or of ``rows`` rows (th + 2 and tw + 2 for 5x5)."""
        rows = self.rows if rows is None else rows
        return (2, 2, groups, depth, channels // groups, m, rows, self.cols)

    @staticmethod
    def arranged(a, groups):
        """``a`` (m, C, [D,] h, w) as the view (groups, D, C / groups, m, h, w) in which the
        planes hold it: a group's depth slices in turn, each its channels, each its images.
        A view as long as ``a`` is C-contiguous, as the outputs written through it are (an
        input read through it may be a copy)."""
        if a.ndim == 4:
            a = a[:, :, None]
        m, c = a.shape[:2]
        return a.reshape((m, groups, c // groups) + a.shape[2:]).transpose(1, 3, 2, 0, 4, 5)

    def split(self, x, groups, name):
        """The four phase planes of ``x`` (m, C, [D,] h, w) zero-padded, the depth included:
        (2, 2, groups, depth_in, C / groups, m, th + 1, tw + 1)."""
        m, c = x.shape[:2]
        planes = _scratch.zeros(name, self.planes_shape(groups, self.depth_in, c, m), x.dtype)
        inside = planes[:, :, :, self.front : self.front + self.depth]
        for part, image_part in self._pairs(inside, self.arranged(x, groups), self.top, self.left):
            part[...] = image_part
        return planes

    def merge(self, planes, out, groups):
        """``out`` (m, C, [D,] h, w) from the planes of its depth slices (2, 2, groups, depth,
        C / groups, m, th + 1, tw + 1) at x's positions: the transpose of :meth:`split` (each
        element of x lies on one plane)."""
        image = self.arranged(out, groups)
        for part, image_part in self._pairs(planes, image, self.top, self.left):
            np.copyto(image_part, part)

    def output_planes(self, y, groups, name, front=0, back=0):
        """The four phase planes of dy (m, C, [Do,] ho, wo), zero where no output is, with
        ``front`` and ``back`` zero slices around its depth: (2, 2, groups, front + Do + back,
        C / groups, m, th, tw + 1)."""
        m, c = y.shape[:2]
        depth = front + self.depth_out + back
        shape = self.planes_shape(groups, depth, c, m, rows=self.th)
        planes = _scratch.zeros(name, shape, y.dtype)
        inside = planes[:, :, :, front : front + self.depth_out]
        for part, image_part in self._pairs(inside, self.arranged(y, groups), 0, 0):
            part[...] = image_part
        return planes

    def write_output(self, planes, out, groups):
        """``out`` (m, C_out, [Do,] ho, wo) from the output's phase planes (2, 2, groups, Do,
        C_out / groups, m, th, tw + 1)."""
        for part, image_part in self._pairs(planes, self.arranged(out, groups), 0, 0):
            np.copyto(image_part, part)

    @staticmethod
    def _pairs(planes, image, top, left):
        """``(plane part, image part)`` of each phase, views of the same elements: canvas row
        ``2 i + p`` (padded by ``top``) is the image's row ``2 i + p - top``, on plane row
        ``i``; the same along the columns. ``image`` is arranged as the planes are."""
        h, w = image.shape[-2:]
        for p in range(2):
            for q in range(2):
                rows, i0 = Grid._phase(p, top, h)
                cols, j0 = Grid._phase(q, left, w)
                image_part = image[..., rows, cols]
                i1, j1 = i0 + image_part.shape[-2], j0 + image_part.shape[-1]
                yield planes[p, q, ..., i0:i1, j0:j1], image_part

    @staticmethod
    def _phase(p, pad, size):
        """The rows of the image on plane ``p`` (a slice) and the plane row of the first."""
        first = (p - pad) % 2  # the image's first row of this parity
        return slice(first, size, 2), (first + pad - p) // 2


def _depth_stack(a, taps, count):
    """A view (16, groups, count, taps x R, cols) of ``a`` (16, groups, S, R, cols): for each
    ``k < count``, the slices ``k .. k + taps - 1`` of R rows one above the other, as one
    matrix (a 3-D conv's depth taps are then one product's rows; no copy: the slices are
    contiguous). For a 2-D conv (taps 1) ``a`` itself."""
    if taps == 1 and count == a.shape[2]:
        return a
    s = a.strides
    shape = a.shape[:2] + (count, taps * a.shape[3], a.shape[4])
    return np.lib.stride_tricks.as_strided(a, shape, s, writeable=False)


# Each transform's four rows are kept in the order (0, 3, 1, 2): B^T's rows 0 and 3 are the
# same difference on the two phases, so a stage is three NumPy calls over all the planes at once
# (the 16 products' order follows: ``ORDER`` of U's rows and columns). Fewer, larger calls: a
# call holds the GIL while NumPy sets it up, and the two threads' chunks queued on it (32 x 16 x
# 28 x 28 -> 32 on two threads took as long as on one with the 177 calls of a chunk's forward
# + backward transforms made one row at a time; 45 now).
ORDER = [0, 3, 1, 2]


def _stage(f, shift, out):
    """One stage of ``B^T d``: ``f`` (2, ..., size) the two phases of d's runs, ``out`` (4, ...,
    size or less) its rows in ``ORDER``: d0 - d2, d1 - d3, d1 + d2, d2 - d1, where d2 and d3 are
    d0 and d1 shifted by ``shift``; as many as ``out`` holds, its tails (no ``k + shift``)
    zero."""
    n = f.shape[-1] - shift
    np.subtract(f[..., :n], f[..., shift:], out=out[0:2, ..., :n])
    np.add(f[1, ..., :n], f[0, ..., shift:], out=out[2, ..., :n])
    np.subtract(f[0, ..., shift:], f[1, ..., :n], out=out[3, ..., :n])
    out[..., n:] = 0


def _transform_input(planes, grid, name):
    """``V = B^T d B`` for every tile: (16, groups, depth, C / groups, m x positions), rows and
    columns in ``ORDER``, from the planes (2, 2, groups, depth, C / groups, m, th + 1, tw + 1):
    along the tile's rows (shifts of a plane row, tw + 1; the plane's last row then drops, it
    holds no tile), then its columns (shifts of one, along the runs of all the planes)."""
    tiles, a = grid.tiles, grid.tiles.alpha
    count = planes[0, 0].size // grid.plane  # one run per plane: the shifts cross planes only
    size = count * grid.positions  # off the tiles
    rows = _scratch.scratch(name + "-rows", (a, 2, count, grid.positions), planes.dtype)
    tiles.stage(planes.reshape(2, 2, count, grid.plane), grid.cols, rows)
    v = _scratch.scratch(name, (a, a, size), planes.dtype)
    tiles.stage(rows.reshape(a, 2, size).transpose(1, 0, 2), 1, v.transpose(1, 0, 2))
    return v.reshape((a * a,) + planes.shape[2:5] + (-1,))


def _stage_output(mm, out):
    """One stage of ``A^T M``: ``mm`` (4, X, size) in ``ORDER``, ``out`` (2, X, size):
    m0 + m1 + m2 and m1 - m2 - m3."""
    np.add(mm[0], mm[2], out=out[0])
    out[0] += mm[3]
    np.subtract(mm[2], mm[3], out=out[1])
    out[1] -= mm[1]


def _transform_output(mm, bias, tiles, name):
    """``Y = A^T M A`` per tile: the four output phase planes (2, 2, groups x Do x C_out /
    groups x m x plane) from M (alpha^2, groups, Do, C_out / groups, m x plane) in the tiles'
    order, the bias added once (to M's row 1 after the columns: A^T's column 1 is (1, 1), so it
    is in both outputs' rows)."""
    size, a = mm[0].size, tiles.alpha
    q = _scratch.scratch(name + "-q", (a, 2, size), mm.dtype)
    tiles.stage_output(mm.reshape(a, a, size).transpose(1, 0, 2), q.transpose(1, 0, 2))
    if bias is not None:
        groups, depth, c_out, cols = mm.shape[1:]
        q[tiles.order.index(1)].reshape(2, groups, depth, c_out, cols)[...] += bias.reshape(
            groups, 1, c_out, 1
        )
    y = _scratch.scratch(name, (2, 2, size), mm.dtype)
    tiles.stage_output(q, y)
    return y


def _weights(weight, groups, tiles):
    """``U = G g G^T`` for every r x r slice g of the weight: (alpha^2, groups, C_out / groups,
    taps x C_in / groups), the columns by depth tap, then input channel; in the weight's dtype,
    rows and columns of the alpha x alpha tiles in the tiles' order."""
    c_out, c_in, taps = weight.shape[0], weight.shape[1], _taps(weight.shape)
    a = tiles.alpha
    # GG's rows already in the tiles' order: U comes out of the product in the order the
    # products read it. Reordering U after the product took 4.2 ms of copies for 256 -> 256
    # channels, against 0.8 for the product alone (Intel Xeon, one thread, December 2026).
    u = tiles.GG_ordered.astype(weight.dtype) @ weight.reshape(-1, tiles.kernel**2).T
    if taps > 1:
        u = u.reshape(a * a, c_out, c_in, taps).transpose(0, 1, 3, 2)
    return u.reshape(a * a, groups, c_out // groups, taps * c_in)  # (.., C_out, taps, C_in)


def _weights_back(u, taps):
    """For dV: per depth tap ``U^T``, the taps in reverse order, (16, groups, C_in / groups,
    taps x C_out / groups) from :func:`_weights`' (16, groups, C_out / groups, taps x C_in /
    groups): output depth ``k - j`` reaches input depth ``k`` by tap ``j``."""
    if taps == 1:
        return u.transpose(0, 1, 3, 2)
    s, groups, c_out, cols = u.shape
    u = u.reshape(s, groups, c_out, taps, cols // taps)[:, :, :, ::-1]
    return np.ascontiguousarray(u.transpose(0, 1, 4, 3, 2)).reshape(s, groups, -1, taps * c_out)


def _grid(x_shape, weight_shape, win):
    """The :class:`Grid` of a conv of these shapes and windows."""
    return Grid(x_shape, win.pads, _taps(weight_shape), TILES[weight_shape[-1]])


def _taps(weight_shape):
    """The kernel's depth: 1 for a 2-D conv."""
    return weight_shape[2] if len(weight_shape) == 5 else 1


# ------------------------------------------------------------------------------ forward
def forward(x, weight, bias, groups, win):
    """y (N, C_out, [Do,] ho, wo) of (3.4) by F(2x2, 3x3) (F(2x2, 5x5) for 5x5), chunk by
    chunk of images; per group and output depth slice, its own 16 (36) products, whose inner
    dimension runs over the depth taps and input channels."""
    n, c_out = x.shape[0], weight.shape[0]
    grid = _grid(x.shape, weight.shape, win)
    u = _weights(weight, groups, grid.tiles)[:, :, None]  # the same for every output slice
    y = np.empty((n, c_out) + grid.out, dtype=x.dtype)

    @with_rows_in_place  # the bias's rows of m x plane
    def one_chunk(chunk):  # writes y[a : a + m] alone
        a, m = chunk
        v = _transform_input(grid.split(x[a : a + m], groups, "w-planes"), grid, "w-v")
        mm_shape = u.shape[:2] + (grid.depth_out, c_out // groups, m * grid.positions)
        mm = _scratch.scratch("w-m", mm_shape, x.dtype)
        np.matmul(u, _depth_stack(v, grid.taps, grid.depth_out), out=mm)
        yp = _transform_output(mm, bias, grid.tiles, "w-y")
        planes = yp.reshape(grid.planes_shape(groups, grid.depth_out, c_out, m, rows=grid.th))
        grid.write_output(planes, y[a : a + m], groups)

    _threads.map_gemms(one_chunk, _chunks(x, weight, grid), *_work(x, weight, grid))
    return y


def _chunks(x, weight, grid):
    """The chunks of images of a 2-D or 3-D conv (:func:`chunks_of_images`), on one thread at
    most ``SMALL_CHUNK_BYTES`` of V a chunk for outputs below ``MIN_SIZE_ONE_THREAD`` a side."""
    per_image = grid.tiles.alpha**2 * max(x.shape[1], 1) * grid.depth_in * grid.plane * x.itemsize
    small = max(grid.ho, grid.wo) < MIN_SIZE_ONE_THREAD
    one_thread = SMALL_CHUNK_BYTES if small else CHUNK_BYTES
    return chunks_of_images(x.shape[0], per_image, grid.plane, _work(x, weight, grid), one_thread)


def chunks_of_images(n, v_bytes, positions, work, one_thread=None):
    """``(start, images)`` of the chunks of a batch of ``n`` whose images take ``v_bytes`` of V
    and have ``positions`` each: at most ``CHUNK_BYTES`` of V a chunk (``one_thread`` bytes, if
    given, where the loop runs on one thread; ``THREADED_CHUNK_BYTES`` where it runs on more),
    or one of ``MIN_COLUMNS`` positions, and at least one chunk per thread (for ``work``, the
    threads' measure)."""
    workers = _threads.gemm_workers(*work)
    if workers > 1:
        limit = THREADED_CHUNK_BYTES
    else:
        limit = CHUNK_BYTES if one_thread is None else one_thread
    per_chunk = max(1, limit // v_bytes, -(-MIN_COLUMNS // positions))
    return _threads.even_chunks(n, max(1, min(per_chunk, -(-n // workers))))


def _work(x, weight, grid):
    """``(bytes, multiply-adds)`` of the whole op, for the threads' threshold."""
    return x.nbytes, _macs(x.shape, weight.shape, grid)


# ----------------------------------------------------------------------------- backward
def backward(dy, x, weight, has_bias, groups, win, input_grad=True, weight_grad=True):
    r"""``(dx, dweight, dbias)`` of (3.4) by F(2x2, 3x3) or F(2x2, 5x5): per chunk of images,
    :math:`\bar M = A\, dY A^T`, :math:`\bar U = \bar M V^T` (summed over the output depth
    slices and the chunks, in order) and, for dx, :math:`\bar V = U^T \bar M` (summed over the
    depth taps that reach an input slice) taken back through :math:`B^T d B`'s transpose.
    ``weight_grad=False`` skips V and dU (dweight None; x is not read)."""
    c_in, c_out = x.shape[1], weight.shape[0]
    grid = _grid(x.shape, weight.shape, win)
    tiles, alpha = grid.tiles, grid.tiles.alpha
    u_back = _weights_back(_weights(weight, groups, tiles), grid.taps)[:, :, None]
    dx = np.empty(x.shape, dtype=x.dtype) if input_grad else None  # C-contiguous: see arranged
    # dy's depth padded so that every input slice sees ``taps`` output slices (some zero)
    front, back = (grid.taps - 1 - grid.front, grid.taps - 1 - grid.back) if input_grad else (0, 0)
    dbias = _threads.BiasGrad(dy, has_bias)

    @with_rows_in_place
    def one_chunk(chunk):  # writes dx[a : a + m] alone; returns this chunk's dU^T
        a, m = chunk
        if weight_grad:
            v = _transform_input(grid.split(x[a : a + m], groups, "w-planes"), grid, "w-v")
        dyp = grid.output_planes(dy[a : a + m], groups, "w-dy", front, back)
        dbias.add(a, m)
        dm = _transform_grad_output(dyp, tiles, "w-dm")
        dm = dm.reshape((alpha**2,) + dyp.shape[2:5] + (-1,))
        dm_out = dm[:, :, front : front + grid.depth_out]
        du_t = None
        # dU^T = V dM^T: 10-20% faster than dM V^T on one thread (64-128 channels of 28 x 28)
        if weight_grad:
            du_t = np.matmul(_depth_stack(v, grid.taps, grid.depth_out), dm_out.swapaxes(-1, -2))
            # over the output depth slices; a 2-D conv's one slice is taken as it is (a sum over
            # it copied all of dU: 0.7 ms for 256 -> 256 channels, a third of a 14 x 14 image's
            # backward products; Intel Xeon, one thread, December 2026)
            du_t = du_t[:, :, 0] if du_t.shape[2] == 1 else du_t.sum(axis=2)
        if input_grad:
            dv_shape = (alpha**2, groups, grid.depth, c_in // groups, m * grid.positions)
            dv = _scratch.scratch("w-v", dv_shape, x.dtype)  # V is spent: reuse it
            np.matmul(u_back, _depth_stack(dm, grid.taps, grid.depth), out=dv)
            planes = _transpose_input(dv.reshape(alpha, alpha, -1), grid, "w-dplanes")
            planes = planes.reshape(grid.planes_shape(groups, grid.depth, c_in, m))
            grid.merge(planes, dx[a : a + m], groups)
        return du_t

    du_t = _threads.summed_gemms(one_chunk, _chunks(x, weight, grid), *_work(x, weight, grid))
    if not weight_grad:
        return dx, None, dbias.result()
    # du_t: (alpha^2, groups, taps x C_in / g, C_out / g)
    du = du_t.swapaxes(-1, -2).reshape(alpha**2, c_out, grid.taps, -1)
    du = du.transpose(0, 1, 3, 2).reshape(alpha**2, -1)  # columns as the weight's axes
    # dW = G^T dU G, the transpose of U = G g G^T: dU's rows are in the tiles' order, as
    # GG_ordered's, so each weight's sum meets the same terms with no reordering of dU
    dweight = du.T @ tiles.GG_ordered.astype(x.dtype)  # (C_out x C_in / g x taps, r^2)
    return dx, dweight.reshape(weight.shape), dbias.result()


def _stage_grad(f, out):
    """One stage of ``A dY``: ``f`` (2, X, size), ``out`` (4, X, size) in ``ORDER``: A's rows
    (1, 0), (0, -1), (1, 1), (1, -1)."""
    np.multiply(f, np.array([1, -1], f.dtype).reshape(2, 1, 1), out=out[0:2])
    np.add(f[0], f[1], out=out[2])
    np.subtract(f[0], f[1], out=out[3])


def _transform_grad_output(dyp, tiles, name):
    r""":math:`\bar M = A\, dY A^T` per tile: (alpha, alpha, C_out x m x plane) in the tiles'
    order from dy's phase planes (2, 2, ...), along the columns, then the rows."""
    dyp = dyp.reshape(2, 2, -1)  # (2, 2, groups, depth, C_out / groups, m, ...) as runs
    size, a = dyp.shape[-1], tiles.alpha
    dq = _scratch.scratch(name + "-q", (2, a, size), dyp.dtype)
    tiles.stage_grad(dyp.transpose(1, 0, 2), dq.transpose(1, 0, 2))
    dm = _scratch.scratch(name, (a, a, size), dyp.dtype)
    tiles.stage_grad(dq, dm)
    return dm


def _stage_transposed(g, shift, out, tmp):
    """The transpose of :func:`_stage`: given the gradients ``g`` (4, ..., size - shift or
    size) of its four rows, write those of its two phases into ``out`` (2, ..., size)."""
    n = out.shape[-1] - shift
    np.copyto(out[..., :n], g[0:2, ..., :n])  # d0 - d2 and d1 - d3: +g to d0, d1 ...
    out[..., n:] = 0
    out[..., shift:] -= g[0:2, ..., :n]  # ... and -g to d2, d3
    np.add(g[2, ..., :n], g[3, ..., :n], out=tmp[..., :n])  # d1 + d2 and d2 - d1: to d2
    out[0, ..., shift:] += tmp[..., :n]
    np.subtract(g[2, ..., :n], g[3, ..., :n], out=tmp[..., :n])  # and to d1
    out[1, ..., :n] += tmp[..., :n]


def _transpose_input(dv, grid, name):
    r"""The planes' gradient (2, 2, planes x plane) from :math:`\bar V` (4, 4, planes x
    positions) in ``ORDER``: :math:`B \bar V B^T`, columns then rows, the overlapping tiles'
    shares added."""
    tiles, a = grid.tiles, grid.tiles.alpha
    size = dv.shape[-1]
    count = size // grid.positions
    tmp = _scratch.scratch(name + "-t", (a, size), dv.dtype)
    rows = _scratch.scratch(name + "-rows", (a, 2, size), dv.dtype)
    tiles.stage_transposed(dv.transpose(1, 0, 2), 1, rows.transpose(1, 0, 2), tmp)
    planes = _scratch.scratch(name, (2, 2, count, grid.plane), dv.dtype)
    rows = rows.reshape(a, 2, count, grid.positions)
    tmp = tmp[:2].reshape(2, count, grid.positions)
    tiles.stage_transposed(rows, grid.cols, planes, tmp)
    return planes


# --------------------------------------------------------------------- the two algorithms
class Tiles:
    """One of Winograd's F(2x2, r x r): its matrices (``B_T``, ``G``, ``A_T``), the order in
    which the transforms' arrays hold a tile's rows and columns (``order``), and its stages
    over runs of phase planes (``stage``: B^T d, ``stage_output``: A^T M, ``stage_grad``: A dY,
    ``stage_transposed``: B's). ``alpha`` = r + 1 is an input tile's side, ``halo`` = (r - 1)
    / 2 the rows (and columns) of a plane beyond its tiles."""

    def __init__(self, b_t, g, a_t, order, stages):
        self.B_T, self.G, self.A_T, self.order = b_t, g, a_t, list(order)
        self.kernel, self.alpha = g.shape[1], b_t.shape[0]
        self.halo = (self.kernel - 1) // 2
        # (G g G^T)[a, b] = sum_kl G[a, k] g[k, l] G[b, l]: row (a, b), column (k, l) of kron(G, G),
        # its rows (a, b) taken in the order the transforms hold a tile's rows and columns
        rows = [a * self.alpha + b for a in self.order for b in self.order]
        self.GG_ordered = np.kron(g, g)[rows]
        self.stage, self.stage_output, self.stage_grad, self.stage_transposed = stages


F23 = Tiles(B_T, G, A_T, ORDER, (_stage, _stage_output, _stage_grad, _stage_transposed))
F25 = Tiles(
    _winograd_5x5.B_T, _winograd_5x5.G, _winograd_5x5.A_T, range(6),
    (_winograd_5x5.stage, _winograd_5x5.stage_output, _winograd_5x5.stage_grad,
     _winograd_5x5.stage_transposed),
)  # fmt: skip
TILES = {3: F23, 5: F25}  # by the kernel's side
