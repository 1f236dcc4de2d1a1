"""The transposed convolution on the convolution's fast paths (``conv_transpose_nd_forward``
and ``_backward``), held to its vectorized twins and to the loops.

The fast forward is the adjoint convolution's input gradient (``conv_nd_input_grad``), the
fast backward computes ``dx`` as a convolution of ``dy`` and ``dw`` as that convolution's
weight gradient; the vectorized twins are one GEMM and col2im, or one gather of ``dy`` and
two products; the loops scatter term by term. Small shapes take the vectorized twins by the
work rule, so the tests lower the rule's thresholds to send them down the fast paths.
"""

import numpy as np
import pytest

from minidl.functional import _conv_winograd, _threads, conv
from minidl.functional import conv_transpose as ct
from minidl.functional.conv import conv_nd_backward, conv_nd_forward, conv_nd_input_grad
from minidl.functional.windows import window_geometry

CASES = [  # (x shape, C_out, kernel, keyword arguments)
    ((2, 3, 5, 6), 4, (3, 3), dict(padding=1)),
    ((2, 4, 5, 5), 2, (4, 4), dict(stride=2, padding=1)),
    ((2, 2, 4, 5), 3, (3, 2), dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0))),
    ((1, 4, 4, 4), 4, (3, 3), dict(stride=2, dilation=2, output_padding=1, groups=2)),
    ((3, 2, 6), 3, (5,), dict(padding=2)),
    ((2, 2, 7), 2, (3,), dict(stride=3, padding=1, output_padding=2)),
    ((1, 2, 3, 4, 3), 2, (2, 3, 2), dict(stride=(1, 2, 1), padding=(0, 1, 1))),
    ((2, 4, 6, 6), 4, (3, 3), dict(padding=1, groups=4)),  # depthwise: the conv's own path
    ((2, 16, 16, 16), 16, (3, 3), dict(padding=1)),  # 16 channels: Winograd on one thread
]
IDS = ["3x3", "4x4-s2", "s2x1-op", "dil-groups", "1d", "1d-s3-op", "3d", "depthwise", "16ch"]


def _arguments(x_shape, c_out, kernel, kw, rng, dtype=np.float64):
    groups = kw.get("groups", 1)
    x = rng.normal(size=x_shape).astype(dtype)
    w = rng.normal(size=(x_shape[1], c_out // groups) + kernel).astype(dtype)
    return x, w, rng.normal(size=c_out).astype(dtype)


def _run(x_shape, c_out, kernel, kw, rng, dtype=np.float64):
    y, cache = ct.conv_transpose_nd_forward(*_arguments(x_shape, c_out, kernel, kw, rng, dtype),
                                            **kw)  # fmt: skip
    dy = rng.normal(size=y.shape).astype(dtype)
    return dy, cache


@pytest.fixture
def fast(monkeypatch):
    """Every backward down the convolution's paths, however small."""
    monkeypatch.setattr(ct, "FAST_MIN_MACS", 0)
    monkeypatch.setattr(ct, "FAST_MIN_MACS_STRIDED", 0)
    monkeypatch.setattr(ct, "FAST_MIN_POSITIONS", 0)


@pytest.mark.parametrize(("x_shape", "c_out", "kernel", "kw"), CASES, ids=IDS)
@pytest.mark.parametrize("workers", [1, 2])
def test_fast_backward_equals_the_vectorized_one(x_shape, c_out, kernel, kw, workers, fast,
                                                 monkeypatch):  # fmt: skip
    """float64: the same sums in another order, so equal to a few units in the last place."""
    monkeypatch.setattr(_threads, "WORKERS", workers)
    dy, cache = _run(x_shape, c_out, kernel, kw, np.random.default_rng(3))
    assert ct._fast_backward(cache)
    got = ct.conv_transpose_nd_backward(dy, cache)
    want = ct.conv_transpose_nd_backward_vectorized(dy, cache)
    for name in ("dx", "dweight", "dbias"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-12,
                                   atol=1e-12, err_msg=name)  # fmt: skip


@pytest.mark.parametrize(("x_shape", "c_out", "kernel", "kw"), CASES[:4], ids=IDS[:4])
def test_fast_backward_equals_the_loops(x_shape, c_out, kernel, kw, fast):
    """Against the term-by-term scatter: no algebra shared with either vectorized form."""
    dy, cache = _run(x_shape, c_out, kernel, kw, np.random.default_rng(4))
    got = ct.conv_transpose_nd_backward(dy, cache)
    want = ct.conv_transpose_nd_backward_naive(dy, cache)
    for name in ("dx", "dweight", "dbias"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-12,
                                   atol=1e-12, err_msg=name)  # fmt: skip


def test_fast_backward_in_float32_keeps_float32_precision(fast, monkeypatch):
    """A float32 case whose dx runs by Winograd (one thread, 16 channels on 16 x 16), against
    the vectorized twin in float64: within a few float32 ulps of the largest value."""
    monkeypatch.setattr(_threads, "WORKERS", 1)
    rng = np.random.default_rng(5)
    dy, cache = _run((4, 16, 16, 16), 16, (3, 3), dict(padding=1), rng, np.float32)
    win = window_geometry(dy.shape[2:], (3, 3), 1, 1, 1)
    assert _conv_winograd.applies(dy.shape, cache.weight.shape, 1, win)
    got = ct.conv_transpose_nd_backward(dy, cache)
    c64 = ct.ConvTransposeCache(cache.x.astype(np.float64), cache.weight.astype(np.float64),
                                cache.has_bias, cache.groups, cache.windows, cache.pads,
                                cache.out)  # fmt: skip
    want = ct.conv_transpose_nd_backward_vectorized(dy.astype(np.float64), c64)
    for name in ("dx", "dweight", "dbias"):
        g, w = getattr(got, name), getattr(want, name)
        assert g.dtype == np.float32
        assert np.abs(g - w).max() <= 2e-6 * np.abs(w).max(), name


@pytest.mark.parametrize(
    ("x_shape", "weight_shape", "kw", "forward", "backward"),
    [((32, 64, 28, 28), (64, 64, 3, 3), dict(padding=1), True, True),
     ((8, 32, 7, 7), (32, 16, 3, 3), dict(padding=1), False, False),  # 1.8 M multiply-adds
     ((8, 64, 28, 28), (64, 32, 3, 3), dict(stride=2, padding=1), True, True),
     ((32, 128, 7, 7), (128, 64, 4, 4), dict(stride=2, padding=1), True, False),  # 49 positions
     ((8, 64, 14, 14), (64, 32, 4, 4), dict(stride=2, padding=1), True, False)],  # 196
    ids=["s1-64ch", "s1-small", "s2-28", "s2-7", "s2-14"])  # fmt: skip
def test_the_work_rule(x_shape, weight_shape, kw, forward, backward):
    """The forward from 2**23 multiply-adds at any stride; the backward at stride 1 from 2**23,
    at a larger stride from 2**25 on inputs of at least 400 positions an image (the
    measurements are beside the constants)."""
    x = np.zeros(x_shape, np.float32)
    _, cache = ct.conv_transpose_nd_forward(x, np.zeros(weight_shape, np.float32), **kw)
    assert ct._fast_forward(cache) is forward
    assert ct._fast_backward(cache) is backward


@pytest.mark.parametrize(("x_shape", "c_out", "kernel", "kw"), CASES, ids=IDS)
@pytest.mark.parametrize("workers", [1, 2])
def test_fast_forward_equals_the_vectorized_one(x_shape, c_out, kernel, kw, workers, fast,
                                                monkeypatch):  # fmt: skip
    monkeypatch.setattr(_threads, "WORKERS", workers)
    x, w, b = _arguments(x_shape, c_out, kernel, kw, np.random.default_rng(6))
    y, cache = ct.conv_transpose_nd_forward(x, w, b, **kw)
    assert ct._fast_forward(cache)
    want, _ = ct.conv_transpose_nd_forward_vectorized(x, w, b, **kw)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    assert y.flags.c_contiguous


@pytest.mark.parametrize(("x_shape", "c_out", "kernel", "kw"), CASES[:4], ids=IDS[:4])
def test_fast_forward_equals_the_loops(x_shape, c_out, kernel, kw, fast):
    x, w, b = _arguments(x_shape, c_out, kernel, kw, np.random.default_rng(7))
    want, _ = ct.conv_transpose_nd_forward_naive(x, w, b, **kw)
    np.testing.assert_allclose(ct.conv_transpose_nd_forward(x, w, b, **kw)[0], want,
                               rtol=1e-12, atol=1e-12)  # fmt: skip


def test_fast_forward_in_float32_keeps_float32_precision(fast, monkeypatch):
    """The forward's Winograd case (dx of a 16-channel conv on 16 x 16, one thread) against
    the vectorized twin in float64."""
    monkeypatch.setattr(_threads, "WORKERS", 1)
    x, w, b = _arguments((4, 16, 16, 16), 16, (3, 3), {}, np.random.default_rng(8), np.float32)
    win = window_geometry((16, 16), (3, 3), 1, 1, 1)
    assert _conv_winograd.applies((4, 16, 16, 16), w.shape, 1, win)
    y, _ = ct.conv_transpose_nd_forward(x, w, b, padding=1)
    want, _ = ct.conv_transpose_nd_forward_vectorized(x.astype(np.float64), w.astype(np.float64),
                                                      b.astype(np.float64), padding=1)  # fmt: skip
    assert y.dtype == np.float32
    assert np.abs(y - want).max() <= 2e-6 * np.abs(want).max()


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kw"),
    [((2, 4, 9, 9), (6, 4, 3, 3), dict(padding=1)),  # im2col, the wide grid
     ((2, 4, 9, 9), (6, 2, 3, 3), dict(stride=2, padding=1, groups=2)),  # the phases
     ((8, 4, 5, 5), (4, 4, 3, 3), dict(padding=1)),  # images innermost
     ((2, 16, 16, 16), (16, 16, 3, 3), dict(padding=1)),  # Winograd on one thread
     ((2, 16, 16, 16), (16, 16, 5, 5), dict(padding=2)),  # F(2x2, 5x5) on one thread
     ((2, 4, 8, 8), (4, 1, 3, 3), dict(padding=1, groups=4)),  # depthwise: dW computed
     ((2, 16, 40), (16, 16, 3), dict(padding=1)),  # 1-D Winograd: dW computed
     ((2, 4, 6, 6), (8, 4, 1, 1), {}),  # 1x1: dW computed
     ((2, 3, 4, 6, 6), (4, 3, 3, 3, 3), dict(padding=1))],  # 3-D Winograd
    ids=["wide", "phases", "images-inner", "winograd", "winograd-5x5", "depthwise",
         "winograd-1d", "pointwise", "3d"])  # fmt: skip
@pytest.mark.parametrize("workers", [1, 2])
def test_input_grad_alone_equals_the_backwards_dx(x_shape, w_shape, kw, workers, monkeypatch):
    """``conv_nd_input_grad`` has no x: whichever path it takes (skipping dW or not), its dx
    is ``conv_nd_backward``'s, which does not depend on x."""
    monkeypatch.setattr(_threads, "WORKERS", workers)
    rng = np.random.default_rng(9)
    x, w = rng.normal(size=x_shape), rng.normal(size=w_shape)
    y, cache = conv_nd_forward(x, w, None, **kw)
    dy = rng.normal(size=y.shape)
    want = conv_nd_backward(dy, cache).dx
    got = conv_nd_input_grad(dy, w, x_shape, **kw)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert got.shape == x_shape and got.flags.writeable
    assert conv._backward(dy, cache, True, weight_grad=False)[1] is None  # dW skipped, not dropped
