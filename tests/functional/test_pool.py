"""Pooling: float64 gradchecks over many configurations, the three tiers held equal,
hand-computed cases, first-maximum tie rule, bad inputs. PyTorch comparisons are in
tests/crosscheck/."""

import itertools

import numpy as np
import pytest

from minidl.functional import _pool_chunked
from minidl.functional import pool as P
from minidl.functional import pool_naive as PN
from minidl.functional import pool_ranks as PR
from minidl.functional.windows import output_sizes
from minidl.gradcheck import check_function

N_CONFIGS = 50  # per (kind, number of spatial dims): the issue asks for >= 50 per family


def make_configs(d, n, seed):
    """n valid pooling configs with d spatial dims: kernel, stride, padding, ceil_mode, shape.

    Drawn from a fixed generator; the first ones pin the cases random draws may miss: the
    tiling fast path, a cropped tiling (size not a multiple of the kernel), kernel 1, a
    ceil-mode window hanging past the right padding, and batch 1 / one channel.
    """
    g = np.random.default_rng(seed)
    fixed = [
        ((2,) * d, None, 0, False, (2, 3) + (6,) * d if d < 3 else (1, 2, 4, 6, 4)),  # tiling
        ((2,) * d, None, 0, False, (1, 2) + (5,) * d),  # tiling, last row/col dropped
        ((3,) * d, (2,) * d, 1, True, (2, 1) + (4,) * d),  # ceil overhang past padding
        ((1,) * d, (2,) * d, 0, True, (1, 1) + (5,) * d),  # kernel 1, stride 2
        ((3,) * d, (1,) * d, 1, False, (1, 2) + (3,) * d),  # "same"-size output
    ]
    configs = list(fixed)
    max_len = {1: 11, 2: 8, 3: 4}[d]
    while len(configs) < n:
        k = tuple(int(v) for v in g.integers(1, 5, size=d))
        s = None if g.random() < 0.2 else tuple(int(v) for v in g.integers(1, 4, size=d))
        p = tuple(int(g.integers(0, ki // 2 + 1)) for ki in k)
        ceil = bool(g.random() < 0.5)
        spatial = tuple(
            int(g.integers(max(ki - 2 * pi, 1), max(ki - 2 * pi, 1) + max_len))
            for ki, pi in zip(k, p, strict=True)
        )
        shape = (int(g.integers(1, 3)), int(g.integers(1, 3))) + spatial
        configs.append((k, s, p, ceil, shape))
    return configs


CASES = [
    (kind, d, cfg)
    for kind in ("max", "avg")
    for d in (1, 2, 3)
    for cfg in make_configs(d, N_CONFIGS, seed=100 * d + (kind == "max"))
]


def _ids(case):
    kind, d, (k, s, p, ceil, shape) = case
    return f"{kind}{d}d-k{k}-s{s}-p{p}-ceil{int(ceil)}-x{shape}"


def tie_free(shape, rng):
    """Distinct values 1e-2 apart (shuffled): no window has two maxima within the h=1e-6 step."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) - n / 2) * 1e-2


def _pair(kind):
    """(forward, backward returning dx) of the public tier."""
    backward = getattr(P, f"{kind}_pool_backward")
    return getattr(P, f"{kind}_pool_forward"), lambda dy, cache: backward(dy, cache).dx


def _tier(module, kind, suffix):
    backward = getattr(module, f"{kind}_pool_backward{suffix}")
    return getattr(module, f"{kind}_pool_forward{suffix}"), lambda dy, c: backward(dy, c).dx


def _tiers(kind):
    """(forward, backward returning dx) of the loops, the vectorized tier and the public one."""
    return [_tier(PN, kind, "_naive"), _tier(P, kind, "_vectorized"), _tier(P, kind, "")]


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_gradcheck(case, rng):
    kind, d, (k, s, p, ceil, shape) = case
    forward, backward = _pair(kind)
    x = tie_free(shape, rng)
    state = {}

    def f(a):
        y, state["cache"] = forward(a, k, s, p, ceil)
        return y

    (err,) = check_function(f, lambda dy: backward(dy, state["cache"]), [x], rng=rng)
    assert err < 1e-6


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_tiers_equal(case, rng):
    """Loops, window view + reduction, chunked public code: the same y and dx (1e-12, float64),
    and each tier's cache works with the loops' backward."""
    kind, d, (k, s, p, ceil, shape) = case
    x = rng.normal(size=shape)
    (naive_f, naive_b), *others = _tiers(kind)
    y_naive, cache_naive = naive_f(x, k, s, p, ceil)
    assert y_naive.shape == P.pool_output_shape(shape, k, s, p, ceil)
    # the plain call returns the same y (max pooling then skips the first-max index)
    np.testing.assert_array_equal(
        getattr(P, f"{kind}_pool")(x, k, s, p, ceil), others[1][0](x, k, s, p, ceil)[0]
    )
    dy = rng.normal(size=y_naive.shape)
    dx_naive = naive_b(dy, cache_naive)
    for forward, backward in others:
        y, cache = forward(x, k, s, p, ceil)
        np.testing.assert_allclose(y, y_naive, rtol=0, atol=1e-12)
        np.testing.assert_allclose(backward(dy, cache), dx_naive, rtol=0, atol=1e-12)
        np.testing.assert_allclose(naive_b(dy, cache), dx_naive, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", CASES[::9], ids=[_ids(c) for c in CASES[::9]])
def test_image_chunks_equal_the_loops(case, rng, monkeypatch):
    """With CHUNK_BYTES = 1 every image is its own chunk (the path a large batch takes): on a
    batch of 3 the forward, the first-max offsets and the backward still equal the loops."""
    monkeypatch.setattr(_pool_chunked, "CHUNK_BYTES", 1)
    kind, d, (k, s, p, ceil, shape) = case
    (naive_f, naive_b), _, (forward, backward) = _tiers(kind)
    x = rng.integers(0, 3, size=(3,) + shape[1:]).astype(np.float64)  # ties: first max matters
    y, cache = forward(x, k, s, p, ceil)
    y_naive, cache_naive = naive_f(x, k, s, p, ceil)
    np.testing.assert_allclose(y, y_naive, rtol=0, atol=1e-12)
    dy = rng.normal(size=y.shape)
    np.testing.assert_allclose(backward(dy, cache), naive_b(dy, cache_naive), rtol=0, atol=1e-12)


def pool_output_size(length, k, s, p, ceil_mode=False):
    return output_sizes((length,), (k,), (s,), (1,), ((p, p),), ceil_mode)[0]


def test_pool_output_size_by_hand():
    # floor((L + 2p - k) / s) + 1, worked by hand.
    assert pool_output_size(100, 2, 2, 0) == 50
    assert pool_output_size(5, 2, 2, 0) == 2  # 2.5 floored: the last element is dropped
    assert pool_output_size(5, 2, 2, 0, ceil_mode=True) == 3  # a window starting at 4
    # ceil: (5 + 2 - 2) / 2 = 2.5 -> 3, +1 = 4; the 4th window would start at 6 >= L + p = 6:
    # entirely in the right padding, so PyTorch drops it -> 3.
    assert pool_output_size(5, 2, 2, 1, ceil_mode=True) == 3
    assert pool_output_size(4, 3, 2, 1, ceil_mode=True) == 3


def test_avg_pool_1d_by_hand_padding_and_ceil_overhang():
    # L=4, k=3, s=2, p=1, ceil: windows start at -1, 1, 3.
    # [-1, 2): pad, 1, 2 -> 3/3;  [1, 4): 2, 3, 4 -> 9/3;  [3, 6): 4, pad(4), past the padding(5)
    # -> divisor min(6, L + p = 5) - 3 = 2 -> 4/2 (PyTorch's count_include_pad rule).
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    y, cache = PR.avg_pool1d_forward(x, 3, 2, 1, ceil_mode=True)
    np.testing.assert_array_equal(y, [[[1.0, 3.0, 2.0]]])
    dx = P.avg_pool_backward(np.array([[[3.0, 6.0, 2.0]]]), cache).dx
    # x0: 3/3; x1: 3/3 + 6/3; x2: 6/3; x3: 6/3 + 2/2
    np.testing.assert_array_equal(dx, [[[1.0, 3.0, 2.0, 3.0]]])
    y_max, _ = PR.max_pool1d_forward(x, 3, 2, 1, ceil_mode=True)
    np.testing.assert_array_equal(y_max, [[[2.0, 4.0, 4.0]]])


def test_max_pool_floor_mode_ignores_trailing_element():
    x = np.array([[[1.0, 5.0, 3.0, 2.0, 9.0]]])  # k=2, s=2: windows [1,5], [3,2]; 9 unused
    y, cache = PR.max_pool1d_forward(x, 2)
    np.testing.assert_array_equal(y, [[[5.0, 3.0]]])
    np.testing.assert_array_equal(P.max_pool_backward(np.array([[[7.0, 8.0]]]), cache).dx,
                                  [[[0.0, 7.0, 8.0, 0.0, 0.0]]])  # fmt: skip


def test_max_pool_overlapping_windows_accumulate():
    # k=2, s=1 on [1, 4, 2, 0]: windows [1,4] [4,2] [2,0] -> y = [4, 4, 2]; x1 gets dy0 + dy1.
    x = np.array([[[1.0, 4.0, 2.0, 0.0]]])
    y, cache = PR.max_pool1d_forward(x, 2, 1)
    np.testing.assert_array_equal(y, [[[4.0, 4.0, 2.0]]])
    dx = P.max_pool_backward(np.array([[[1.0, 10.0, 100.0]]]), cache).dx
    np.testing.assert_array_equal(dx, [[[0.0, 11.0, 100.0, 0.0]]])


@pytest.mark.parametrize(
    "stride,padding,expected",
    [
        (2, 0, [[0.0, 1.0], [0.0, 0.0]]),  # tiling path: one window, tie -> (0, 1)
        (1, 0, [[0.0, 1.0], [0.0, 0.0]]),  # general path, same single window
        # general path with padding: 3x3 windows of the -inf-padded input, dy = 1..9 in raster
        # order. Worked by hand: x00 gets dy1; x01 gets dy2 + dy3 + dy6 and, from the one
        # window with the tie (the centre, dy5), dy5 -> 16; x10 gets dy4 + dy7 + dy8 = 19;
        # x11 gets dy9. Sending the tie to x10 instead would give [[1, 11], [24, 9]].
        (1, 1, [[1.0, 16.0], [19.0, 9.0]]),
    ],
)
def test_max_pool_ties_first_maximum_gets_gradient(stride, padding, expected):
    # The window [[1, 3], [3, 2]] has maxima at (0, 1) and (1, 0); raster order makes (0, 1)
    # the first, and PyTorch sends the gradient there alone (also checked against torch).
    x = np.array([[[[1.0, 3.0], [3.0, 2.0]]]])
    y, cache = PR.max_pool2d_forward(x, 2, stride, padding)
    dy = np.arange(1.0, y.size + 1).reshape(y.shape)
    dx = P.max_pool_backward(dy, cache).dx
    np.testing.assert_array_equal(dx[0, 0], expected)
    dx_naive = PN.max_pool_backward_naive(
        dy, PN.max_pool_forward_naive(x, 2, stride, padding)[1]
    ).dx
    np.testing.assert_array_equal(dx_naive[0, 0], expected)


@pytest.mark.parametrize("stride", [2, 1])  # 2: tiling path, 1: general path (canvas)
def test_max_pool_all_equal_window_goes_to_first_position(stride):
    x = np.full((1, 1, 2, 2, 2), 5.0)
    y, cache = PR.max_pool3d_forward(x, 2, stride)
    dx = P.max_pool_backward(np.array([[[[[4.0]]]]]), cache).dx
    expected = np.zeros_like(x)
    expected[0, 0, 0, 0, 0] = 4.0
    np.testing.assert_array_equal(dx, expected)


MAX_CASES = [c for c in CASES if c[0] == "max"]


@pytest.mark.parametrize("case", MAX_CASES, ids=[_ids(c) for c in MAX_CASES])
def test_max_pool_naive_equals_fast_with_ties(case, rng):
    # values in {0, 1, 2}: most windows hold tied maxima, so both must pick the same first one
    _, d, (k, s, p, ceil, shape) = case
    x = rng.integers(0, 3, size=shape).astype(np.float64)
    y, cache = P.max_pool_forward(x, k, s, p, ceil)
    dy = rng.normal(size=y.shape)
    naive_cache = PN.max_pool_forward_naive(x, k, s, p, ceil)[1]
    # atol: overlapping windows add their dy to one input in a different order (~1e-16)
    np.testing.assert_allclose(
        P.max_pool_backward(dy, cache).dx,
        PN.max_pool_backward_naive(dy, naive_cache).dx,
        atol=1e-12,
    )


def test_global_avg_pool_by_hand_naive_and_gradcheck(rng):
    x = np.arange(24.0).reshape(2, 3, 4)  # mean of 4 consecutive numbers j..j+3 is j + 1.5
    y, cache = P.global_avg_pool_forward(x)
    np.testing.assert_array_equal(y, np.arange(0.0, 24.0, 4.0).reshape(2, 3) + 1.5)
    dy = rng.normal(size=(2, 3))
    np.testing.assert_allclose(
        P.global_avg_pool_backward(dy, cache).dx, np.repeat(dy[..., None] / 4, 4, -1)
    )
    state = {}

    def f(a):
        out, state["cache"] = P.global_avg_pool_forward(a)
        return out

    for shape in [(2, 3, 5), (1, 2, 3, 4), (2, 1, 2, 3, 2)]:
        x = rng.normal(size=shape)
        (err,) = check_function(
            f, lambda g: P.global_avg_pool_backward(g, state["cache"]).dx, [x], rng=rng
        )
        assert err < 1e-6
        y, c = P.global_avg_pool_forward(x)
        yn, cn = PN.global_avg_pool_forward_naive(x)
        dy = rng.normal(size=y.shape)
        np.testing.assert_allclose(y, yn, rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            P.global_avg_pool_backward(dy, c).dx,
            PN.global_avg_pool_backward_naive(dy, cn).dx,
            atol=1e-12,
        )


@pytest.mark.parametrize("kind,d", list(itertools.product(["max", "avg"], [1, 2, 3])))
def test_float32_kept_and_inputs_not_mutated(kind, d, rng):
    forward, backward = _pair(kind)
    x = rng.normal(size=(2, 3) + (6,) * d).astype(np.float32)
    for k, s, p in [(2, None, 0), (3, 2, 1)]:
        x0 = x.copy()
        y, cache = forward(x, k, s, p)
        dy = rng.normal(size=y.shape).astype(np.float32)
        dy0 = dy.copy()
        dx = backward(dy, cache)
        assert y.dtype == dx.dtype == np.float32
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(dy, dy0)


@pytest.mark.parametrize("fn", [PR.max_pool2d, PR.avg_pool2d])
def test_bad_inputs(fn):
    x = np.zeros((1, 2, 5, 5))
    with pytest.raises(ValueError, match="x must be 4-dimensional"):
        fn(np.zeros((2, 5, 5)), 2)
    with pytest.raises(ValueError, match="kernel_size"):
        fn(x, 6)  # 6 > 5 and no padding
    with pytest.raises(ValueError, match="kernel_size .* larger than the padded input"):
        fn(np.zeros((1, 2, 3, 8)), (6, 2), padding=(1, 0))  # 3 + 2 < 6
    with pytest.raises(ValueError, match="stride"):
        fn(x, 2, stride=0)
    with pytest.raises(ValueError, match="padding"):
        fn(x, 3, padding=2)  # PyTorch: padding at most half the kernel
    with pytest.raises(ValueError, match="padding"):
        fn(x, 2, padding=-1)
    with pytest.raises(TypeError, match="padding"):
        fn(x, 2, padding="same")
    with pytest.raises(TypeError, match="x must have dtype float32 or float64, got int64"):
        fn(np.zeros((1, 2, 5, 5), dtype=np.int64), 2)
    with pytest.raises(TypeError, match="x must have dtype"):
        fn(np.zeros((1, 2, 5, 5), dtype=np.float16), 2)
    with pytest.raises(ValueError, match="kernel_size"):
        fn(x, (2, 2, 2))
    with pytest.raises(TypeError, match="ceil_mode"):
        fn(x, 2, ceil_mode="yes")


def test_bad_inputs_generic_backward_and_global():
    with pytest.raises(ValueError, match="x must be 3-, 4- or 5-dimensional"):
        P.max_pool(np.zeros((2, 3)), 2)
    with pytest.raises(ValueError, match="x must be 3-, 4- or 5-dimensional"):
        P.avg_pool(np.zeros((1, 1, 2, 2, 2, 2)), 2)
    y, cache = P.max_pool_forward(np.zeros((1, 2, 4, 4)), 2)
    with pytest.raises(ValueError, match="dy must have the forward output's shape"):
        P.max_pool_backward(np.zeros((1, 2, 3, 3)), cache)
    with pytest.raises(TypeError, match="dy"):
        P.avg_pool_backward(
            np.zeros((1, 2, 2, 2), dtype=np.int32),
            P.avg_pool_forward(np.zeros((1, 2, 4, 4)), 2)[1],
        )
    with pytest.raises(ValueError, match="x must be 3 or 4 or 5-dimensional"):
        P.global_avg_pool(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="x must have dtype"):
        P.global_avg_pool(np.zeros((2, 3, 4), dtype=np.int64))
