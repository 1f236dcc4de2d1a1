"""The check the Winograd paths' tests share (a helper module, not a test file: pytest puts
this folder on sys.path, so the tests import it by name)."""

import numpy as np
import pytest

from minidl.functional.conv import (
    conv_nd_backward,
    conv_nd_backward_naive,
    conv_nd_forward,
    conv_nd_forward_naive,
)


def assert_equals_the_loops(module, x, w, b, padding, groups, rng):
    """``module``'s fast path runs this conv, and its y and every gradient (with dx and
    without) equal the direct sums' loops in float64."""
    y, cache = conv_nd_forward(x, w, b, padding=padding, groups=groups)
    assert module.applies(x.shape, w.shape, groups, cache.windows)
    want, naive_cache = conv_nd_forward_naive(x, w, b, padding=padding, groups=groups)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    dy = rng.normal(size=y.shape)
    for input_grad in (True, False):
        got = conv_nd_backward(dy, cache, input_grad=input_grad)
        ref = conv_nd_backward_naive(dy, naive_cache, input_grad=input_grad)
        for g, r in zip(got, ref, strict=True):
            if r is None:
                assert g is None
            else:
                np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)


def assert_float32_matches_pytorch(module, x_shape, w_shape, scale, rng):
    """``module``'s fast path runs this 'same'-padded conv in float32, and its y and gradients
    are within float32's rounding of PyTorch's, relative to the largest value: up to 864
    products summed in float32 either way, about 2**-24 sqrt(864) of it each, and dW sums up to
    4 x 196 of them more; ``scale`` times that where the transforms round more (5 x 5)."""
    torch = pytest.importorskip("torch")
    x = rng.normal(size=x_shape).astype(np.float32)
    w = (rng.normal(size=w_shape) / np.sqrt(np.prod(w_shape[1:]))).astype(np.float32)
    b = rng.normal(size=w_shape[0]).astype(np.float32)
    padding = w_shape[-1] // 2
    y, cache = conv_nd_forward(x, w, b, padding=padding)
    assert module.applies(x.shape, w.shape, 1, cache.windows)
    dy = rng.normal(size=y.shape).astype(np.float32)
    dx, dw, db = conv_nd_backward(dy, cache)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    conv = {3: torch.nn.functional.conv1d, 4: torch.nn.functional.conv2d,
            5: torch.nn.functional.conv3d}[len(x_shape)]  # fmt: skip
    yt = conv(xt, wt, bt, padding=padding)
    yt.backward(torch.from_numpy(dy))
    for got, want, tol in ((y, yt, 1e-5), (dx, xt.grad, 1e-5), (dw, wt.grad, 3e-5),
                           (db, bt.grad, 1e-5)):  # fmt: skip
        want = want.detach().numpy()
        assert np.abs(got - want).max() <= scale * tol * np.abs(want).max()
