"""Pooling against PyTorch: max_pool1d/2d/3d, avg_pool1d/2d/3d (count_include_pad=True, the
default) and adaptive_avg_pool (global), forward and backward through autograd, float32 and
float64, many kernels/strides/paddings/ceil_mode; ties resolved exactly as PyTorch does."""

import numpy as np
import pytest

from minidl.functional import pool as P
from minidl.functional import pool_ranks as PR
from minidl.gradcheck import rel_error
from minidl.layers.pool import GlobalAvgPool, MaxPool2D

torch = pytest.importorskip("torch")
F = torch.nn.functional

# Max pooling selects and adds the same dy values as PyTorch, so only the order of additions
# where windows overlap can differ; average pooling sums <= 64 products per value. Both stay
# within a few units in the last place: float32 ~1e-7, float64 ~1e-16.
TOL = {np.float32: 1e-6, np.float64: 1e-13}
DTYPES = [np.float32, np.float64]


def make_configs(d, n, seed):
    """n valid (kernel, stride, padding, ceil_mode, shape) with d spatial dims, fixed seed."""
    g = np.random.default_rng(seed)
    configs = [
        ((2,) * d, None, 0, False, (2, 3) + (6,) * d),
        ((2,) * d, None, 0, False, (1, 2) + (5,) * d),
        ((3,) * d, (2,) * d, 1, True, (2, 1) + (4,) * d),
        ((3,) * d, (1,) * d, 1, False, (1, 2) + (3,) * d),
    ]
    max_len = {1: 11, 2: 8, 3: 6}[d]
    while len(configs) < n:
        k = tuple(int(v) for v in g.integers(1, 5, size=d))
        s = None if g.random() < 0.2 else tuple(int(v) for v in g.integers(1, 4, size=d))
        p = tuple(int(g.integers(0, ki // 2 + 1)) for ki in k)
        spatial = tuple(
            int(g.integers(max(ki - 2 * pi, 1), max(ki - 2 * pi, 1) + max_len))
            for ki, pi in zip(k, p, strict=True)
        )
        shape = (int(g.integers(1, 3)), int(g.integers(1, 4))) + spatial
        configs.append((k, s, p, bool(g.random() < 0.5), shape))
    return configs


CASES = [(kind, d, c) for kind in ("max", "avg") for d in (1, 2, 3) for c in make_configs(d, 20, d)]
IDS = [f"{kind}{d}d-k{k}-s{s}-p{p}-c{int(c)}-x{x}" for kind, d, (k, s, p, c, x) in CASES]


def run_both(kind, d, cfg, x, dy):
    """(y, dx) from minidl and from torch for the same x and upstream gradient dy."""
    k, s, p, ceil, _ = cfg
    y, cache = getattr(P, f"{kind}_pool_forward")(x, k, s, p, ceil)
    dx = getattr(P, f"{kind}_pool_backward")(dy, cache).dx
    xt = torch.tensor(x, requires_grad=True)
    kt = cache.windows.kernel
    if kind == "avg" and d == 3 and any(L < ki for L, ki in zip(x.shape[2:], kt, strict=True)):
        # torch's avg_pool3d alone refuses an input smaller than the kernel even when the
        # padded input is large enough (see test below); zero-pad explicitly and pool with
        # padding 0: the same windows and, count_include_pad=True, the same divisors. With
        # ceil_mode the padded call may add a last window starting in the right padding (which
        # the padding= rule drops): crop to the windows both have.
        pads = tuple(v for pi in reversed(cache.windows.pads) for v in pi)
        yt = F.avg_pool3d(F.pad(xt, pads), k, s, 0, ceil_mode=ceil)
        yt = yt[(Ellipsis,) + tuple(slice(0, o) for o in cache.windows.out)]
    else:
        yt = getattr(F, f"{kind}_pool{d}d")(xt, k, s, p, ceil_mode=ceil)
    yt.backward(torch.tensor(dy))
    return y, dx, yt.detach().numpy(), xt.grad.numpy()


def test_torch_avg_pool3d_refuses_input_smaller_than_kernel():
    # The difference the explicit padding above works around: avg_pool2d accepts a 3-wide
    # input for a 4-wide kernel with padding 2, avg_pool3d does not; minidl accepts both.
    F.avg_pool2d(torch.zeros(1, 1, 3, 3), 4, 1, 2)
    with pytest.raises(RuntimeError, match="smaller than kernel size"):
        F.avg_pool3d(torch.zeros(1, 1, 3, 3, 3), 4, 1, 2)
    assert PR.avg_pool3d(np.zeros((1, 1, 3, 3, 3)), 4, 1, 2).shape == (1, 1, 4, 4, 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,d,cfg", CASES, ids=IDS)
def test_pool_matches_torch(kind, d, cfg, dtype, rng):
    shape = cfg[4]
    n = int(np.prod(shape))
    x = ((rng.permutation(n) - n / 2) * 1e-2).reshape(shape).astype(dtype)  # tie-free
    out_shape = P.pool_output_shape(shape, *cfg[:4])
    dy = rng.normal(size=out_shape).astype(dtype)
    y, dx, y_t, dx_t = run_both(kind, d, cfg, x, dy)
    assert y.shape == y_t.shape and y.dtype == dx.dtype == dtype
    assert rel_error(y, y_t) <= TOL[dtype]
    assert rel_error(dx, dx_t) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d,cfg", [(d, c) for d in (1, 2, 3) for c in make_configs(d, 8, 10 + d)])
def test_max_pool_ties_route_like_torch(d, cfg, dtype, rng):
    # Values in {0, 1, 2}: almost every window has tied maxima. PyTorch sends each window's
    # dy to its first maximum in raster order; so must we, element for element.
    x = rng.integers(0, 3, size=cfg[4]).astype(dtype)
    dy = rng.normal(size=P.pool_output_shape(cfg[4], *cfg[:4])).astype(dtype)
    y, dx, y_t, dx_t = run_both("max", d, cfg, x, dy)
    np.testing.assert_array_equal(y, y_t)
    assert rel_error(dx, dx_t) <= TOL[dtype]


def test_hand_made_tie_matches_torch():
    x = np.array([[[[1.0, 3.0], [3.0, 2.0]]]])
    for stride, padding in [(2, 0), (1, 0), (1, 1)]:
        dy = np.arange(1.0, 10.0)[: P.pool_output_shape(x.shape, 2, stride, padding)[-1] ** 2]
        dy = dy.reshape(P.pool_output_shape(x.shape, 2, stride, padding))
        y, dx, y_t, dx_t = run_both("max", 2, (2, stride, padding, False, x.shape), x, dy)
        np.testing.assert_array_equal(dx, dx_t)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 7), (1, 4, 5, 6), (2, 2, 3, 4, 5)])
def test_global_avg_pool_matches_adaptive_avg_pool(shape, dtype, rng):
    d = len(shape) - 2
    x = rng.normal(size=shape).astype(dtype)
    dy = rng.normal(size=shape[:2]).astype(dtype)
    layer = GlobalAvgPool()
    y = layer(x)
    dx = layer.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(F, f"adaptive_avg_pool{d}d")(xt, 1).flatten(1)
    yt.backward(torch.tensor(dy))
    assert rel_error(y, yt.detach().numpy()) <= TOL[dtype]
    assert rel_error(dx, xt.grad.numpy()) <= TOL[dtype]


def test_article_000_pool_layer_matches_torch_module(rng):
    # Article 000's 2x2 max pool after the 32-filter conv, on a small batch, as nn.MaxPool2d.
    x = rng.normal(size=(2, 32, 10, 10)).astype(np.float32)
    layer, ref = MaxPool2D(2), torch.nn.MaxPool2d(2)
    y = layer(x)
    dy = rng.normal(size=y.shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    yt.backward(torch.tensor(dy))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(layer.backward(dy), xt.grad.numpy())
