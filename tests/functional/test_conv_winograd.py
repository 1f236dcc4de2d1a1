"""Winograd's F(2x2, 3x3) and F(2x2, 5x5) paths of the conv (``minidl.functional._conv_winograd``).

Checked against what does not share its algebra: the direct sums of (3.4) as plain loops
(``conv_nd_forward_naive`` / ``conv_nd_backward_naive``), ``np.correlate`` for the 1-D
identity the matrices must satisfy, and PyTorch in float32 where it is installed.
"""

import numpy as np
import pytest
from winograd_checks import assert_equals_the_loops, assert_float32_matches_pytorch

from minidl.functional import _conv_winograd as winograd
from minidl.functional import _threads
from minidl.functional.conv import (
    conv_nd_backward,
    conv_nd_forward,
    conv_nd_forward_naive,
)
from minidl.functional.windows import window_geometry


@pytest.mark.parametrize("r", [3, 5])
def test_matrices_compute_f_2_r(r):
    """In one dimension ``A^T [(G g) * (B^T d)]`` is the two outputs of correlating the r + 1
    inputs ``d`` with the r taps ``g``: the identity every tile's transform rests on (F(2, 3),
    and F(2, 5) whose G holds sixths and 24ths)."""
    tiles = winograd.TILES[r]
    rng = np.random.default_rng(1)
    for _ in range(20):
        d, g = rng.normal(size=r + 1), rng.normal(size=r)
        want = np.correlate(d, g, mode="valid")
        got = tiles.A_T @ ((tiles.G @ g) * (tiles.B_T @ d))
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


SHAPES = [  # (x shape, C_out, padding): even and odd outputs, padding 0 and 1, per axis
    ((2, 3, 6, 6), 4, 1),
    ((2, 2, 7, 5), 3, 1),
    ((3, 2, 8, 9), 2, 0),
    ((2, 3, 5, 6), 2, (1, 0)),
]
SHAPES_5X5 = [  # the same for 5 x 5 kernels: padding 0 to 2
    ((2, 3, 7, 7), 4, 2),
    ((2, 2, 8, 6), 3, 2),
    ((3, 2, 9, 10), 2, 0),
    ((2, 3, 6, 7), 2, (2, 1)),
]
KERNELS = [s + (3,) for s in SHAPES] + [s + (5,) for s in SHAPES_5X5]


@pytest.mark.parametrize(("x_shape", "c_out", "padding", "k"), KERNELS)
def test_tile_loops_equal_the_direct_sums(x_shape, c_out, padding, k, rng):
    """``Y = A^T [(G g G^T) * (B^T d B)] A`` tile by tile, summed over channels, is (3.4), for
    3 x 3 kernels (4 x 4 tiles of input) and 5 x 5 ones (6 x 6)."""
    x = rng.normal(size=x_shape)
    w, b = rng.normal(size=(c_out, x_shape[1], k, k)), rng.normal(size=c_out)
    want, cache = conv_nd_forward_naive(x, w, b, padding=padding)
    got = winograd.tile_forward_naive(x, w, b, cache.windows.pads)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("x_shape", "c_out", "depth", "padding"),
                         [((2, 2, 4, 5, 6), 3, 3, 1), ((1, 3, 5, 6, 5), 2, 2, (1, 0, 1)),
                          ((2, 2, 3, 5, 5), 2, 3, (2, 1, 0))])  # fmt: skip
def test_tile_loops_3d_equal_the_direct_sums(x_shape, c_out, depth, padding, rng):
    """A k x 3 x 3 kernel: the 2-D tile loops of the depth taps' slices, summed, are (3.4)."""
    x = rng.normal(size=x_shape)
    w, b = rng.normal(size=(c_out, x_shape[1], depth, 3, 3)), rng.normal(size=c_out)
    want, cache = conv_nd_forward_naive(x, w, b, padding=padding)
    got = winograd.tile_forward_naive(x, w, b, cache.windows.pads)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.fixture
def small_channels(monkeypatch):
    """The path taken by the tests' small convs: any channel count, any fill of the tiles."""
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_CHANNELS_DEPTH", 1)
    monkeypatch.setattr(winograd, "MIN_CHANNELS_5X5_ONE_THREAD", 1)
    monkeypatch.setattr(winograd, "MIN_FILL", 0.0)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("chunk_bytes", [1, 2**30])  # every image its own chunk; one chunk
@pytest.mark.parametrize(("x_shape", "c_out", "padding", "k", "groups"),
                         [s + (1,) for s in KERNELS]
                         + [((2, 4, 6, 7), 6, 1, 3, 2), ((2, 4, 7, 8), 6, 2, 5, 2)])  # fmt: skip
def test_fast_path_equals_the_loops(x_shape, c_out, padding, k, groups, chunk_bytes, workers,
                                    rng, small_channels, monkeypatch):  # fmt: skip
    """Forward and every gradient (float64) equal the direct sums' loops, in chunks of one
    image or one of all, on one thread or two, with groups too (16 products per group, 36 for
    5 x 5 kernels)."""
    monkeypatch.setattr(winograd, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(winograd, "SMALL_CHUNK_BYTES", chunk_bytes)  # these images are small
    monkeypatch.setattr(winograd, "THREADED_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(winograd, "MIN_COLUMNS", 1)
    monkeypatch.setattr(_threads, "WORKERS", workers)
    x = rng.normal(size=x_shape)
    w, b = rng.normal(size=(c_out, x_shape[1] // groups, k, k)), rng.normal(size=c_out)
    assert_equals_the_loops(winograd, x, w, b, padding, groups, rng)


SHAPES_3D = [  # (x shape, C_out, kernel depth, padding, groups): depth padding 0 to k - 1
    ((2, 3, 4, 6, 6), 4, 3, 1, 1),
    ((2, 2, 5, 7, 5), 3, 3, (2, 1, 0), 1),
    ((3, 2, 4, 5, 6), 2, 2, (1, 0, 1), 1),
    ((2, 3, 3, 6, 5), 2, 1, (0, 1, 1), 1),  # a 1 x 3 x 3 kernel: 2-D convs of the slices
    ((2, 4, 3, 6, 6), 6, 3, (0, 1, 1), 2),
]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("chunk_bytes", [1, 2**30])
@pytest.mark.parametrize(("x_shape", "c_out", "depth", "padding", "groups"), SHAPES_3D)
def test_fast_path_3d_equals_the_loops(x_shape, c_out, depth, padding, groups, chunk_bytes,
                                       workers, rng, small_channels, monkeypatch):  # fmt: skip
    """A k x 3 x 3 conv as the sum over its depth taps of 2-D ones (float64): forward and every
    gradient equal the direct sums' loops, whatever the depth padding, the chunks, threads or
    groups."""
    monkeypatch.setattr(winograd, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(winograd, "SMALL_CHUNK_BYTES", chunk_bytes)  # these images are small
    monkeypatch.setattr(winograd, "THREADED_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(winograd, "MIN_COLUMNS", 1)
    monkeypatch.setattr(_threads, "WORKERS", workers)
    x = rng.normal(size=x_shape)
    w = rng.normal(size=(c_out, x_shape[1] // groups, depth, 3, 3))
    assert_equals_the_loops(winograd, x, w, rng.normal(size=c_out), padding, groups, rng)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kw", "runs"),
    [((4, 32, 8, 28, 28), (32, 32, 3, 3, 3), dict(padding=1), True),
     ((8, 4, 8, 28, 28), (8, 4, 3, 3, 3), dict(padding=1), True),
     ((8, 16, 4, 14, 14), (8, 16, 2, 3, 3), dict(padding=(1, 1, 1)), True),
     ((8, 3, 16, 32, 32), (16, 3, 3, 3, 3), dict(padding=1), False),  # 3 channels
     ((4, 32, 8, 28, 28), (32, 32, 3, 3, 3), dict(padding=1, stride=(2, 1, 1)), False),
     ((4, 32, 8, 28, 28), (32, 32, 3, 3, 3), dict(padding=(3, 1, 1)), False),
     ((4, 32, 8, 28, 28), (32, 32, 3, 5, 5), dict(padding=1), False),
     ((4, 32, 8, 28, 28), (32, 32, 1, 3, 3), dict(padding=(0, 1, 1)), None)],  # as 2-D
    ids=["32", "4", "2x3x3", "3-channels", "depth-stride", "depth-padding-3", "3x5x5",
         "1x3x3"])  # fmt: skip
def test_which_3d_convs_run_here(x_shape, w_shape, kw, runs, workers, monkeypatch):
    """A k x 3 x 3 conv (k > 1) from 4 channels, at one thread or two; a 1 x 3 x 3 one as the
    2-D convs of its slices (32 channels: on one thread only)."""
    monkeypatch.setattr(_threads, "WORKERS", workers)
    win = window_geometry(x_shape[2:], w_shape[2:], kw.get("stride", 1), kw.get("padding", 0),
                          kw.get("dilation", 1))  # fmt: skip
    want = workers == 1 if runs is None else runs
    assert winograd.applies(x_shape, w_shape, 1, win) is want


def test_chunks_of_images(monkeypatch):
    """At most CHUNK_BYTES of V a chunk, but MIN_COLUMNS of positions at least, and one chunk
    per thread: 64 channels of 28 x 28 (0.92 MB of V an image, 225 positions) two images a
    chunk at 2 MiB; 256 of 14 x 14 (1 MiB, 64 positions) four, for the columns."""
    monkeypatch.setattr(_threads, "WORKERS", 1)
    x = np.empty((32, 64, 28, 28), np.float32)
    grid = winograd.Grid(x.shape, ((1, 1), (1, 1)))
    w = np.empty((64, 64, 3, 3), np.float32)
    assert winograd._chunks(x, w, grid) == [(a, 2) for a in range(0, 32, 2)]
    x, w = np.empty((8, 256, 14, 14), np.float32), np.empty((256, 256, 3, 3), np.float32)
    grid = winograd.Grid(x.shape, ((1, 1), (1, 1)))
    assert winograd._chunks(x, w, grid) == [(0, 4), (4, 4)]
    x, w = np.empty((32, 32, 14, 14), np.float32), np.empty((32, 32, 3, 3), np.float32)
    grid = winograd.Grid(x.shape, ((1, 1), (1, 1)))  # 14 x 14: 1 MiB of V a chunk, 8 images
    assert winograd._chunks(x, w, grid) == [(a, 8) for a in range(0, 32, 8)]
    monkeypatch.setattr(_threads, "WORKERS", 2)  # on two threads up to 4 MiB: half the batch
    assert winograd._chunks(x, w, grid) == [(0, 16), (16, 16)]
    x = np.empty((3, 64, 28, 28), np.float32)
    grid = winograd.Grid(x.shape, ((1, 1), (1, 1)))
    assert winograd._chunks(x, np.empty((64, 64, 3, 3), np.float32), grid) == [(0, 1), (1, 2)]
    monkeypatch.setattr(_threads, "WORKERS", 1)  # a 3-D conv's V counts its padded slices:
    x = np.empty((8, 16, 6, 14, 14), np.float32)  # 16 x 16 x 8 x 64 x 4 B = 0.5 MiB an image
    w = np.empty((16, 16, 3, 3, 3), np.float32)
    grid = winograd.Grid(x.shape, ((1, 1), (1, 1), (1, 1)), 3)
    assert winograd._chunks(x, w, grid) == [(0, 4), (4, 4)]
    x = np.empty((4, 16, 14, 28, 28), np.float32)  # 3.7 MB an image, 225 positions: two
    grid = winograd.Grid(x.shape, ((1, 1), (1, 1), (1, 1)), 3)
    assert winograd._chunks(x, w, grid) == [(0, 2), (2, 2)]
    # 5 x 5: 36 planes of 16 x 16 (th + 2 a side): 36 x 8 x 256 x 4 B = 0.28 MiB an image,
    # seven a chunk
    x, w = np.empty((14, 8, 28, 28), np.float32), np.empty((16, 8, 5, 5), np.float32)
    grid = winograd.Grid(x.shape, ((2, 2), (2, 2)), tiles=winograd.F25)
    assert (grid.th, grid.rows, grid.positions) == (14, 16, 14 * 16)
    assert winograd._chunks(x, w, grid) == [(0, 7), (7, 7)]


def test_chunks_and_threads_give_the_same_bits(rng, small_channels, monkeypatch):
    """dW sums the chunks' products in the chunks' order, so two threads give one thread's
    bits; each chunk writes only its own images of y and dx."""
    x = rng.normal(size=(5, 3, 8, 8)).astype(np.float32)
    w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    monkeypatch.setattr(winograd, "CHUNK_BYTES", 1)
    monkeypatch.setattr(winograd, "SMALL_CHUNK_BYTES", 1)  # 8 x 8 images: one each, too
    monkeypatch.setattr(winograd, "THREADED_CHUNK_BYTES", 1)  # and on the two threads
    monkeypatch.setattr(winograd, "MIN_COLUMNS", 1)
    runs = []
    for workers in (1, 2):
        monkeypatch.setattr(_threads, "WORKERS", workers)
        y, cache = conv_nd_forward(x, w, None, padding=1)
        runs.append((y,) + tuple(conv_nd_backward(np.ones_like(y), cache)[:2]))
    for one, two in zip(*runs, strict=True):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize(("x_shape", "w_shape", "scale"),
                         [((4, 64, 14, 14), (64, 64, 3, 3), 1),  # 2-D
                          ((2, 32, 6, 14, 14), (16, 32, 3, 3, 3), 1),  # 3-D
                          ((4, 32, 22, 22), (32, 32, 5, 5), 2)])  # 5 x 5  # fmt: skip
def test_float32_against_pytorch(x_shape, w_shape, scale, rng, monkeypatch):
    """Layers the path runs by default on one thread (64 channels of 14 x 14; 32 channels, 3 x
    3 x 3, of 6 x 14 x 14; 32 channels, 5 x 5, of 22 x 22) in float32: within float32's
    rounding of PyTorch's output and gradients (the 3 x 3 transforms add at most four terms, a
    few units in the last place; the 5 x 5 ones multiply by up to 5 and G by 1/24, measured
    against float64 for 4 x 32 x 28 x 28 -> 64: 2.8e-6 of the largest y, 3.0e-6 of dx, 1.2e-5
    of dW, where im2col's are 5e-7, 2e-7, 5e-7: twice the tolerances)."""
    monkeypatch.setattr(_threads, "WORKERS", 1)
    assert_float32_matches_pytorch(winograd, x_shape, w_shape, scale, rng)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kw", "runs"),
    [((32, 64, 28, 28), (64, 64, 3, 3), dict(padding=1), True),
     ((8, 256, 14, 14), (256, 256, 3, 3), dict(padding=1), True),
     ((32, 64, 28, 28), (64, 64, 3, 3), dict(padding=0), True),
     ((32, 32, 28, 28), (32, 32, 3, 3), dict(padding=1), False),  # too few channels
     ((32, 48, 28, 28), (48, 48, 3, 3), dict(padding=1), False),
     ((32, 256, 7, 7), (256, 256, 3, 3), dict(padding=1), False),  # half the tiles outside
     ((32, 64, 28, 28), (64, 64, 3, 3), dict(padding=1, stride=2), False),
     ((32, 64, 28, 28), (64, 64, 3, 3), dict(padding=2, dilation=2), False),
     ((32, 64, 28, 28), (64, 16, 3, 3), dict(padding=1), False),  # groups
     ((32, 64, 28, 28), (64, 64, 5, 5), dict(padding=2), True),
     ((32, 64, 28, 28), (64, 64, 3, 3), dict(padding=2), False),
     ((32, 32, 28, 28), (64, 32, 5, 5), dict(padding=2), False),  # 32 channels
     ((32, 64, 28, 28), (64, 64, 5, 5), dict(padding=3), False),
     ((32, 64, 28, 28), (64, 64, 5, 5), dict(padding=2, stride=2), False),
     ((32, 64, 14, 14), (64, 64, 5, 5), dict(padding=2), False),  # 196 of 324 tiles' outputs
     ((32, 64, 28, 28), (64, 64, 7, 7), dict(padding=3), False),
     ((32, 64, 8, 28, 28), (64, 64, 3, 5, 5), dict(padding=(1, 2, 2)), False)],
    ids=["64-28", "256-14", "64-28-valid", "32-channels", "48-channels", "7x7", "stride",
         "dilation", "groups", "5x5", "padding-2", "5x5-32-channels", "5x5-padding-3",
         "5x5-stride",
         "5x5-14", "7x7-kernel", "3x5x5"])  # fmt: skip
def test_which_convs_run_here(x_shape, w_shape, kw, runs, monkeypatch):
    """On two threads, the 3x3 and 5x5 stride-1 convs of 64 channels and more on images the
    tiles fill (from 14 x 14 for 3x3, 22 x 22 for 5x5); not the rest, whatever the batch (fewer
    channels won on two threads on the AMD EPYC and lost as much on the Intel Xeon)."""
    monkeypatch.setattr(_threads, "WORKERS", 2)
    win = window_geometry(x_shape[2:], w_shape[2:], kw.get("stride", 1), kw.get("padding", 0),
                          kw.get("dilation", 1))  # fmt: skip
    groups = x_shape[1] // w_shape[1]
    assert winograd.applies(x_shape, w_shape, groups, win) is runs


@pytest.mark.parametrize(
    ("x_shape", "c_out", "k", "runs"),
    [((32, 16, 28, 28), 32, 3, True), ((32, 32, 16, 16), 32, 3, True),
     ((8, 256, 14, 14), 256, 3, True),
     ((32, 16, 14, 14), 32, 3, False),  # 16 channels on 14 x 14: the transforms cost more
     ((64, 16, 12, 12), 16, 3, False),  # (on the Intel Xeon; on the AMD EPYC they did not)
     ((8, 32, 14, 14), 32, 3, True), ((32, 24, 12, 12), 48, 3, True),  # from 24 below 16
     ((4, 32, 14, 14), 32, 3, True), ((2, 32, 14, 14), 32, 3, False),  # ... and 4 images
     ((32, 32, 11, 11), 32, 3, False),  # 121 of 196 tiles' outputs in the image
     ((32, 8, 28, 28), 16, 3, False), ((32, 16, 28, 28), 8, 3, False),
     ((32, 16, 112, 112), 32, 3, False),  # 16 channels on 112 x 112: im2col's grid is wide
     ((8, 64, 112, 112), 64, 3, True),
     ((32, 64, 28, 28, 4), 64, 3, True),  # 4 groups of 16
     ((32, 64, 28, 28, 8), 64, 3, False),  # 8 groups of 8
     ((32, 32, 28, 28), 64, 5, True), ((32, 16, 28, 28), 32, 5, True),
     ((32, 12, 28, 28), 24, 5, True), ((8, 32, 56, 56), 64, 5, True),
     ((32, 8, 28, 28), 16, 5, False),  # 8 channels: the transforms cost more
     ((32, 16, 14, 14), 32, 5, False),  # 196 of 324 tiles' outputs in the image
     ((4, 16, 112, 112), 32, 5, False),  # 16 channels on 112 x 112
     ((4, 64, 112, 112), 64, 5, True),
     ((32, 64, 28, 28, 4), 64, 5, True),  # 4 groups of 16
     ((32, 64, 28, 28, 8), 64, 5, False)],  # 8 groups of 8
    ids=["16-28", "32-16", "256-14", "16-14", "16-12", "32-14", "24-12", "4-images",
         "2-images",
         "32-11", "8-in", "8-out", "16-112", "64-112", "g4",
         "g8", "5x5-32-28", "5x5-16-28", "5x5-12-28", "5x5-32-56", "5x5-8-in", "5x5-16-14",
         "5x5-16-112", "5x5-64-112", "5x5-g4", "5x5-g8"])  # fmt: skip
def test_which_convs_run_here_on_one_thread(x_shape, c_out, k, runs, monkeypatch):
    """On one thread, 3x3 from 16 channels (a group's) on outputs of 16 x 16 to 64 x 64 (on
    12 x 12 and 14 x 14 from 24 channels and 4 images), 5x5
    ('same' padding) from 12 on outputs up to 64 x 64 that the 6x6 tiles fill; both from 64
    on any the tiles fill."""
    monkeypatch.setattr(_threads, "WORKERS", 1)
    x_shape, groups = x_shape[:4], (x_shape[4:] or (1,))[0]
    win = window_geometry(x_shape[2:], (k, k), 1, k // 2, 1)
    w_shape = (c_out, x_shape[1] // groups, k, k)
    assert winograd.applies(x_shape, w_shape, groups, win) is runs


def test_one_image_runs_here_on_one_thread_only(monkeypatch):
    """One image on two threads is shared out by im2col's slabs of rows instead."""
    win = window_geometry((56, 56), (3, 3), 1, 1, 1)
    monkeypatch.setattr(_threads, "WORKERS", 1)
    assert winograd.applies((1, 64, 56, 56), (64, 64, 3, 3), 1, win)
    monkeypatch.setattr(_threads, "WORKERS", 2)
    assert not winograd.applies((1, 64, 56, 56), (64, 64, 3, 3), 1, win)
    assert winograd.applies((2, 64, 56, 56), (64, 64, 3, 3), 1, win)
