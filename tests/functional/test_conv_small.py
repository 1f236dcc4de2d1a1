"""Small convs run as one chunk on the wide grid (``conv.SMALL_COLUMNS_BYTES``,
``_conv_wide.whole_forward`` / ``whole_backward``): which ones, and that the fast path's results
there still equal the loops'."""

import numpy as np
import pytest
from test_conv import CASES, IDS, _arrays

from minidl.functional import _conv_depthwise as depthwise
from minidl.functional import _conv_wide, conv
from minidl.functional.conv import (
    conv_nd_backward,
    conv_nd_backward_naive,
    conv_nd_forward,
    conv_nd_forward_naive,
    conv_nd_input_grad,
)
from minidl.functional.windows import window_geometry

# The limit as it ships: tests/conftest.py sets conv.SMALL_COLUMNS_BYTES to -1 before each test
SHIPPED_LIMIT = 256 * 2**10


@pytest.fixture
def small_rule(monkeypatch):
    """The rule as it ships (tests/conftest.py turns it off for the other tests), and a count of
    the forwards and backwards it took."""
    monkeypatch.setattr(conv, "SMALL_COLUMNS_BYTES", SHIPPED_LIMIT)
    taken = {"forward": 0, "backward": 0}
    forward, grads = _conv_wide.whole_forward, _conv_wide.whole_backward

    def counted_forward(*args):
        taken["forward"] += 1
        return forward(*args)

    def counted_grads(*args):
        taken["backward"] += 1
        return grads(*args)

    monkeypatch.setattr(_conv_wide, "whole_forward", counted_forward)
    monkeypatch.setattr(_conv_wide, "whole_backward", counted_grads)
    return taken


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "padding", "dtype", "small"),
    [((1, 3, 32, 32), (16, 3, 3, 3), 1, np.float32, True),  # 27 x 1024 x 4 = 108 KiB
     ((2, 3, 32, 32), (16, 3, 3, 3), 1, np.float32, True),  # 216 KiB
     ((2, 3, 32, 32), (16, 3, 3, 3), 1, np.float64, False),  # 432 KiB in float64
     ((4, 3, 32, 32), (16, 3, 3, 3), 1, np.float32, False),
     ((1, 16, 28, 28), (32, 16, 3, 3), 1, np.float32, False),  # 441 KiB
     ((8, 1, 28, 28), (6, 1, 5, 5), 2, np.float32, False),
     ((1, 1, 28, 28), (6, 1, 5, 5), 2, np.float32, True),
     ((1, 64, 8, 8), (64, 16, 3, 3), 1, np.float32, True)],  # groups: C_in x k^2 rows
    ids=["1-image", "2-images", "2-images-float64", "4-images", "16-channels", "lenet-batch-8",
         "lenet-1-image", "groups"])  # fmt: skip
def test_which_convs_are_small(x_shape, w_shape, padding, dtype, small, monkeypatch):
    """At most 256 KiB of windows for the batch (C_in prod(k) x N prod(out) x itemsize)."""
    monkeypatch.setattr(conv, "SMALL_COLUMNS_BYTES", SHIPPED_LIMIT)
    win = window_geometry(x_shape[2:], w_shape[2:], 1, padding, 1)
    assert conv._small(x_shape, w_shape, win, np.dtype(dtype).itemsize) is small


@pytest.mark.parametrize(("nd", "cfg"), CASES, ids=IDS)
def test_small_convs_equal_the_loops(nd, cfg, rng, small_rule):
    """Every random tiny conv of test_conv.py (1-D to 3-D, strides, dilations, 'same', groups)
    through the fast path with the rule on: forward, backward with and without dx, and dx alone
    (the transposed conv's forward) equal the loops to 1e-12 in float64; every conv but the
    depthwise ones took the rule."""
    x, w, b, kw = _arrays(cfg, rng)
    y, cache = conv_nd_forward(x, w, b, **kw)
    y_naive, cache_naive = conv_nd_forward_naive(x, w, b, **kw)
    np.testing.assert_allclose(y, y_naive, rtol=0, atol=1e-12)
    assert y.flags.c_contiguous
    dy = rng.normal(size=y.shape)
    want = conv_nd_backward_naive(dy, cache_naive)
    for input_grad in (True, False):
        got = conv_nd_backward(dy, cache, input_grad=input_grad)
        for name in ("dx", "dweight", "dbias"):
            g, ref = getattr(got, name), getattr(want, name)
            if g is None:
                assert (name == "dx" and not input_grad) or (name == "dbias" and b is None)
                continue
            np.testing.assert_allclose(g, ref, rtol=0, atol=1e-12, err_msg=name)
        assert got.dx is None or got.dx.flags.c_contiguous
    dx = conv_nd_input_grad(dy, w, x.shape, **kw)
    np.testing.assert_allclose(dx, want.dx, rtol=0, atol=1e-12)
    runs = 0 if depthwise.is_depthwise(x.shape, w.shape, kw["groups"]) else 1
    assert small_rule == {"forward": runs, "backward": 3 * runs}


def test_a_small_layer_in_float32_keeps_float32_precision(small_rule):
    """Conv2D(3, 16, 3) on one 32 x 32 image by the rule, float32 against the loops in float64:
    within a few float32 ulps of the largest value."""
    from minidl.layers import Conv2D

    rng = np.random.default_rng(3)
    layer = Conv2D(3, 16, 3, padding=1, rng=0)
    x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)
    w64, b64 = (layer.params[k].astype(np.float64) for k in ("weight", "bias"))
    y64, cache = conv_nd_forward_naive(x.astype(np.float64), w64, b64, padding=1)
    want = conv_nd_backward_naive(dy.astype(np.float64), cache)
    assert y.dtype == dx.dtype == layer.grads["weight"].dtype == np.float32
    for got, ref in ((y, y64), (dx, want.dx), (layer.grads["weight"], want.dweight),
                     (layer.grads["bias"], want.dbias)):  # fmt: skip
        assert np.abs(got - ref).max() <= 4e-6 * np.abs(ref).max()
    assert small_rule == {"forward": 1, "backward": 1}
