"""Winograd's F(2, 3) and F(2, 5) path of the 1-D conv (``minidl.functional._conv_winograd_1d``).

Checked against what does not share its algebra: the direct sums of (3.4) as plain loops
(``conv_nd_forward_naive`` / ``conv_nd_backward_naive``) and PyTorch's conv1d in float32 where
it is installed.
"""

import numpy as np
import pytest
from winograd_checks import assert_equals_the_loops, assert_float32_matches_pytorch

from minidl.functional import _conv_winograd as winograd_2d
from minidl.functional import _conv_winograd_1d as winograd
from minidl.functional import _threads
from minidl.functional.conv import conv_nd_forward_naive
from minidl.functional.windows import window_geometry

SHAPES = [  # (x shape, C_out, kernel, padding): even and odd outputs, padding 0 to (k - 1) / 2
    ((2, 3, 11), 4, 3, 1),
    ((3, 2, 10), 3, 3, 0),
    ((2, 3, 12), 4, 5, 2),
    ((2, 2, 13), 3, 5, 1),
    ((4, 3, 7), 2, 5, 0),
]


@pytest.mark.parametrize(("x_shape", "c_out", "k", "padding"), SHAPES)
def test_tile_loops_equal_the_direct_sums(x_shape, c_out, k, padding, rng):
    """``y = A^T [(G g) * (B^T d)]`` pair by pair of outputs, summed over channels, is (3.4)."""
    x = rng.normal(size=x_shape)
    w, b = rng.normal(size=(c_out, x_shape[1], k)), rng.normal(size=c_out)
    want, cache = conv_nd_forward_naive(x, w, b, padding=padding)
    got = winograd.tile_forward_naive(x, w, b, cache.windows.pads)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("chunk_bytes", [1, 2**30])  # every signal its own chunk; one chunk
@pytest.mark.parametrize(("x_shape", "c_out", "k", "padding", "groups"),
                         [s + (1,) for s in SHAPES] + [((2, 4, 9), 6, 3, 1, 2),
                                                       ((3, 4, 10), 2, 5, 2, 2)])  # fmt: skip
def test_fast_path_equals_the_loops(x_shape, c_out, k, padding, groups, chunk_bytes, workers,
                                    rng, monkeypatch):  # fmt: skip
    """Forward and every gradient (float64, with dx and without) equal the direct sums' loops,
    in chunks of one signal or one of all, on one thread or two, with groups too."""
    monkeypatch.setattr(winograd, "MIN_CHANNELS_1D", {3: 1, 5: 1})
    monkeypatch.setattr(winograd, "MIN_CHANNELS_1D_THREADS", {3: 1, 5: 1})
    monkeypatch.setattr(winograd_2d, "CHUNK_BYTES", chunk_bytes)  # the chunk rule is its
    monkeypatch.setattr(winograd_2d, "MIN_COLUMNS", 1)
    monkeypatch.setattr(_threads, "WORKERS", workers)
    x = rng.normal(size=x_shape)
    w, b = rng.normal(size=(c_out, x_shape[1] // groups, k)), rng.normal(size=c_out)
    assert_equals_the_loops(winograd, x, w, b, padding, groups, rng)


@pytest.mark.parametrize(("x_shape", "w_shape"),
                         [((4, 64, 100), (64, 64, 3)), ((4, 64, 101), (64, 64, 5))])  # fmt: skip
def test_float32_against_pytorch(x_shape, w_shape, rng, monkeypatch):
    """Layers the path runs on one thread (64 channels, kernels of 3 and 5 taps) in float32:
    within float32's rounding of PyTorch's output and gradients (192 or 320 products summed
    either way; the 5-tap transforms measured against float64: 1e-6 of the largest y and dx,
    2.8e-6 of dW)."""
    monkeypatch.setattr(_threads, "WORKERS", 1)
    assert_float32_matches_pytorch(winograd, x_shape, w_shape, 1, rng)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kw", "runs"),  # runs: on one thread, on two
    [((8, 64, 256), (64, 64, 3), dict(padding=1), (True, True)),
     ((8, 16, 256), (32, 16, 3), dict(padding=1), (True, False)),  # two threads: from 64
     ((8, 8, 256), (16, 8, 3), dict(padding=1), (False, False)),  # 8 channels
     ((8, 64, 256), (64, 64, 5), dict(padding=2), (True, False)),  # 5 taps: one thread only
     ((32, 32, 1000), (64, 32, 5), dict(padding=2), (False, False)),  # 5 taps: from 64
     ((8, 64, 256), (64, 64, 3), dict(padding=2), (False, False)),  # beyond the halo
     ((8, 64, 256), (64, 64, 3), dict(padding=1, stride=2), (False, False)),
     ((8, 64, 256), (64, 64, 3), dict(padding=2, dilation=2), (False, False)),
     ((8, 64, 256), (64, 64, 7), dict(padding=3), (False, False)),
     ((8, 64, 256), (64, 16, 3), dict(padding=1), (True, False)),  # 4 groups of 16
     ((8, 64, 28, 28), (64, 64, 3, 3), dict(padding=1), (False, False))],  # 2-D
    ids=["64", "16", "8", "5-taps-64", "5-taps-32", "padding-2", "stride", "dilation",
         "7-taps", "groups", "2-d"])  # fmt: skip
def test_which_1d_convs_run_here(x_shape, w_shape, kw, runs, monkeypatch):
    """On one thread, 1-D convs of 3 taps from 16 channels (a group's) and of 5 taps from 64;
    on two, of 3 taps from 64; stride 1, no dilation, padding within the halo."""
    win = window_geometry(x_shape[2:], w_shape[2:], kw.get("stride", 1), kw.get("padding", 0),
                          kw.get("dilation", 1))  # fmt: skip
    groups = x_shape[1] // w_shape[1]
    for workers, want in zip((1, 2), runs, strict=True):
        monkeypatch.setattr(_threads, "WORKERS", workers)
        assert winograd.applies(x_shape, w_shape, groups, win) is want


def test_one_signal_runs_here_on_one_thread_only(monkeypatch):
    """One signal on two threads has no batch to share out: im2col's, whose GEMMs keep
    OpenBLAS's threads."""
    win = window_geometry((256,), (3,), 1, 1, 1)
    monkeypatch.setattr(_threads, "WORKERS", 1)
    assert winograd.applies((1, 64, 256), (64, 64, 3), 1, win)
    monkeypatch.setattr(_threads, "WORKERS", 2)
    assert not winograd.applies((1, 64, 256), (64, 64, 3), 1, win)


def test_chunks_of_few_channels_stay_small_on_one_thread(monkeypatch):
    """Below 64 channels, on one thread, at most FEW_CHANNELS_CHUNK_BYTES of V a chunk where
    the batch's V is over twice that: 32 x 16 x 1000 (F(2, 3): 4 x 16 x 501 x 4 B = 0.12 MiB a
    signal) two signals a chunk; 8 x 16 x 256 (0.25 MiB in all) one chunk; 64 channels, or two
    threads, the 2-D module's CHUNK_BYTES."""
    monkeypatch.setattr(_threads, "WORKERS", 1)

    def chunks(x_shape, c_out):
        w_shape = (c_out, x_shape[1], 3)
        line = winograd.Line(x_shape, w_shape, ((1, 1),))
        x = np.empty(x_shape, np.float32)
        return winograd._chunks(x, line, (x.nbytes, 2**30))

    assert chunks((32, 16, 1000), 32) == [(a, 2) for a in range(0, 32, 2)]
    assert chunks((8, 16, 256), 16) == [(0, 8)]
    assert chunks((32, 64, 1000), 64) == [(a, 4) for a in range(0, 32, 4)]  # 0.49 MiB a signal
    monkeypatch.setattr(_threads, "WORKERS", 2)
    assert chunks((32, 16, 1000), 32) == [(0, 16), (16, 16)]
