"""The scratch buffers the fast paths reuse (minidl.functional._scratch): reuse, isolation
between threads, and no result of a public op that shares memory with them."""

import threading

import numpy as np
import pytest

from minidl.functional import (
    _scratch,
    avg_pool_backward,
    avg_pool_forward,
    conv_nd_backward,
    conv_nd_forward,
    max_pool_backward,
    max_pool_forward,
)


def test_a_name_is_one_buffer_reused_and_grown():
    _scratch.release()
    a = _scratch.scratch("t", (4, 5), np.float32)
    b = _scratch.scratch("t", (2, 3), np.float64)
    assert np.shares_memory(a, b)  # the smaller request is a view of the same bytes
    c = _scratch.scratch("t", (100, 100), np.float32)  # larger: a new, kept buffer
    assert not np.shares_memory(a, c)
    assert np.shares_memory(c, _scratch.scratch("t", (10,), np.float32))
    assert not np.shares_memory(c, _scratch.scratch("u", (10,), np.float32))
    assert (_scratch.zeros("t", (3, 3), np.float32) == 0).all()


def test_requests_above_the_cap_are_not_kept(monkeypatch):
    _scratch.release()
    monkeypatch.setattr(_scratch, "MAX_BYTES", 64)
    a = _scratch.scratch("t", (32,), np.float32)  # 128 bytes
    assert not np.shares_memory(a, _scratch.scratch("t", (32,), np.float32))


def test_padded_fills_the_border_and_copies_the_interior():
    x = np.arange(6.0).reshape(1, 1, 2, 3)
    _scratch.scratch("p", (40,), np.float64).fill(7.0)  # stale values from an earlier call
    got = _scratch.padded("p", x, ((1, 0), (0, 2)), fill=-np.inf)
    want = np.full((1, 1, 3, 5), -np.inf)
    want[:, :, 1:, :3] = x
    np.testing.assert_array_equal(got, want)
    assert _scratch.padded("p", x, ((0, 0), (0, 0))) is x


def test_threads_do_not_share_buffers():
    seen = {}

    def grab(key):
        seen[key] = _scratch.scratch("t", (1000,), np.float32)

    threads = [threading.Thread(target=grab, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not np.shares_memory(seen[0], seen[1])


@pytest.mark.parametrize("padding", [0, 1])
def test_results_survive_the_next_call(padding):
    """Every array a public op returns is its own: a second call with other data (reusing
    the scratch buffers) leaves the first call's y and gradients as they were."""
    rng = np.random.default_rng(0)

    def run(seed):
        r = np.random.default_rng(seed)
        x = r.normal(size=(3, 4, 9, 9))
        w = r.normal(size=(5, 4, 3, 3))
        y, cache = conv_nd_forward(x, w, None, padding=padding)
        g = conv_nd_backward(r.normal(size=y.shape), cache)
        py, pcache = max_pool_forward(x, 3, 2, padding)
        pdx = max_pool_backward(r.normal(size=py.shape), pcache)
        ay, acache = avg_pool_forward(x, 3, 2, padding)
        adx = avg_pool_backward(r.normal(size=ay.shape), acache)
        return [y, g.dx, g.dweight, py, pdx.dx, ay, adx.dx]

    first = run(1)
    kept = [a.copy() for a in first]
    run(int(rng.integers(2, 100)))
    for got, want in zip(first, kept, strict=True):
        np.testing.assert_array_equal(got, want)
