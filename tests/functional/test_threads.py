"""The chunks of images on worker threads (minidl.functional._threads), in the depthwise conv
and the pooling, the batch norm's chunks of images and the pieces of ReLU's arrays: the
threaded result equals the one-thread result and is the same bits run after run, forward and
backward, on shapes that take several chunks; and the thread count follows the user's
setting.

The GEMM-based conv paths (image chunks on im2col's layout and on the wide grids, row blocks,
1x1 convs, first layers' weight gradients) and the dense layer's products run on the workers
too, with BLAS held to one thread meanwhile: their results equal the loops', and repeat bit for
bit; the hold gives BLAS its thread count back."""

import itertools
import math
import threading

import numpy as np
import pytest

from minidl.functional import _conv_blocked as blocked
from minidl.functional import _conv_depthwise as depthwise
from minidl.functional import _conv_images_inner as inner
from minidl.functional import _conv_wide as wide
from minidl.functional import _pool_chunked, _threads, batchnorm
from minidl.functional import pool as P
from minidl.functional.activations import relu_backward, relu_forward
from minidl.functional.batchnorm import batch_norm_backward, batch_norm_forward
from minidl.functional.batchnorm_naive import batch_norm_backward_naive, batch_norm_forward_naive
from minidl.functional.conv import (
    conv_nd_backward,
    conv_nd_backward_naive,
    conv_nd_forward,
    conv_nd_forward_naive,
)

# (name, x shape, weight shape, conv keywords): depthwise convs on both of the path's layouts
PATHS = [
    ("wide grid, 3x3", (7, 4, 9, 9), (4, 1, 3, 3), dict(padding=1, groups=4)),
    ("wide grid, 1-D", (6, 3, 20), (3, 1, 5), dict(padding=2, dilation=2, groups=3)),
    ("strided, 3x2", (6, 3, 9, 8), (3, 1, 3, 2), dict(stride=2, groups=3)),
    ("strided, 3-D", (5, 2, 5, 6, 7), (2, 1, 2, 3, 3), dict(stride=(1, 2, 1), groups=2)),
]
IDS = [p[0] for p in PATHS]


def _run(x, w, b, kw, dy, workers, monkeypatch):
    monkeypatch.setattr(_threads, "WORKERS", workers)
    y, cache = conv_nd_forward(x, w, b, **kw)
    return (y, *conv_nd_backward(dy, cache))


@pytest.fixture
def one_image_chunks(monkeypatch):
    """Every chunk is one image, whatever the thread count: several chunks on tiny inputs."""
    monkeypatch.setattr(depthwise, "CHUNK_BYTES", 1)
    monkeypatch.setattr(depthwise, "THREADED_CHUNK_BYTES", 1)


def _arrays(x_shape, w_shape, kw, dtype, rng):
    x = rng.normal(size=x_shape).astype(dtype)
    w = rng.normal(size=w_shape).astype(dtype)
    b = rng.normal(size=w_shape[0]).astype(dtype)
    y, cache = conv_nd_forward(x, w, b, **kw)
    return x, w, b, rng.normal(size=y.shape).astype(dtype), cache


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "x_shape", "w_shape", "kw"), PATHS, ids=IDS)
def test_threads_give_the_one_thread_bits(name, x_shape, w_shape, kw, dtype, rng, monkeypatch,
                                          one_image_chunks):  # fmt: skip
    """With the same chunks (one image each), 2 and 3 threads give exactly the bits of one
    thread: each chunk's arithmetic is the same wherever it runs, each writes only its own
    images of y and dx, and dW is summed over the chunks' results in the chunks' order. Exact
    equality, not a tolerance: any thread-dependent regrouping of a sum would show."""
    x, w, b, dy, cache = _arrays(x_shape, w_shape, kw, dtype, rng)
    assert depthwise.is_depthwise(x.shape, w.shape, kw["groups"])
    one = _run(x, w, b, kw, dy, 1, monkeypatch)
    for workers in (2, 3):
        for got, want in zip(_run(x, w, b, kw, dy, workers, monkeypatch), one, strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("name", "x_shape", "w_shape", "kw"), PATHS, ids=IDS)
def test_threaded_chunks_equal_the_loops_and_repeat(name, x_shape, w_shape, kw, rng, monkeypatch):
    """At the default chunk sizes two threads cut the batch into (at least) two chunks where
    one thread takes it whole, so dW is summed in another grouping: y, dx, dW and db equal the
    one-thread results to 1e-12 relative in float64 (a regrouped sum of ~10^2 products of O(1)
    numbers differs by a few ulps, ~1e-15 relative), y and dx the loops to 1e-12; five
    threaded runs give the same bits."""
    x, w, b, dy, cache = _arrays(x_shape, w_shape, kw, np.float64, rng)
    one = _run(x, w, b, kw, dy, 1, monkeypatch)
    calls = []
    monkeypatch.setattr(_threads, "map_ordered", _counting(_threads.map_ordered, calls))
    two = _run(x, w, b, kw, dy, 2, monkeypatch)
    assert min(calls) >= 2  # both passes took several chunks
    for got, want in zip(two, one, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    y_naive, cache_naive = conv_nd_forward_naive(x, w, b, **kw)
    np.testing.assert_allclose(two[0], y_naive, rtol=1e-12, atol=1e-12)
    dx_naive = conv_nd_backward_naive(dy, cache_naive).dx
    np.testing.assert_allclose(two[1], dx_naive, rtol=1e-12, atol=1e-12)
    for _ in range(5):
        for got, want in zip(_run(x, w, b, kw, dy, 2, monkeypatch), two, strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("workers", "one_image_on"), [(1, "CHUNK_BYTES"),
                                                      (2, "THREADED_CHUNK_BYTES")])  # fmt: skip
def test_depthwise_chunks_follow_the_thread_count(workers, one_image_on, rng, monkeypatch):
    """On one thread the depthwise conv cuts its batch by ``CHUNK_BYTES``, on the workers by
    ``THREADED_CHUNK_BYTES`` (fewer hand-offs): shrunk to one image, that one gives one chunk
    per image, and the other, large, leaves the batch in as few chunks as the threads."""
    name, x_shape, w_shape, kw = PATHS[0]
    monkeypatch.setattr(depthwise, one_image_on, 1)
    x, w, b, dy, cache = _arrays(x_shape, w_shape, kw, np.float64, rng)
    calls = []
    monkeypatch.setattr(_threads, "map_ordered", _counting(_threads.map_ordered, calls))
    _run(x, w, b, kw, dy, workers, monkeypatch)
    assert calls == [x_shape[0], x_shape[0]]  # forward and backward, one image a chunk
    calls.clear()
    monkeypatch.setattr(depthwise, one_image_on, 2**30)
    _run(x, w, b, kw, dy, workers, monkeypatch)
    assert calls == [workers, workers]


POOLS = [  # (kind, kernel, stride, padding, x shape): tiling, overlapping, padded, 1-D, 3-D
    ("max", 2, None, 0, (7, 3, 8, 8)),
    ("max", 3, 2, 1, (6, 2, 9, 7)),
    ("avg", 3, 2, 1, (6, 2, 9, 7)),
    ("avg", 2, None, 0, (5, 3, 8, 6)),
    ("max", 3, 1, 1, (5, 2, 12)),
    ("avg", 2, 1, 0, (5, 2, 4, 5, 3)),
]


@pytest.mark.parametrize("chunk_bytes", [1, None])
@pytest.mark.parametrize(("kind", "k", "s", "p", "x_shape"), POOLS)
def test_pooling_on_threads_gives_the_one_thread_bits(kind, k, s, p, x_shape, chunk_bytes, rng,
                                                      monkeypatch):  # fmt: skip
    """Max and average pooling, forward and backward, on 2 and 3 threads, in one-image chunks
    and at the default chunk size (one chunk on one thread, one per thread otherwise): exactly
    the bits of one thread, every run. Exact, because each output (and each dx element) is
    computed within one chunk by the same operations in the same order whatever the chunks:
    windows do not straddle images, and nothing is summed across images. Integer-valued x makes
    ties, so max pooling's first-maximum rule is exercised too."""
    if chunk_bytes is not None:
        monkeypatch.setattr(_pool_chunked, "CHUNK_BYTES", chunk_bytes)
    forward, backward = {"max": (P.max_pool_forward, P.max_pool_backward),
                         "avg": (P.avg_pool_forward, P.avg_pool_backward)}[kind]  # fmt: skip
    x = rng.integers(0, 3, size=x_shape).astype(np.float32)

    def run(workers):
        monkeypatch.setattr(_threads, "WORKERS", workers)
        y, cache = forward(x, k, s, p)
        return y, backward(dy, cache)

    monkeypatch.setattr(_threads, "WORKERS", 1)
    dy = rng.normal(size=forward(x, k, s, p)[0].shape).astype(np.float32)
    one = run(1)
    for workers in (2, 3, 2):
        for got, want in zip(run(workers), one, strict=True):
            np.testing.assert_array_equal(got, want)


def _counting(map_ordered, calls):
    def wrapped(fn, items, *args):
        items = list(items)
        calls.append(len(items))
        return map_ordered(fn, items, *args)

    return wrapped


def test_map_ordered_runs_items_on_two_threads_at_once(monkeypatch):
    """Two items that each wait for the other (a barrier of two) finish only if two threads
    run them at the same time; the results come back in the items' order."""
    monkeypatch.setattr(_threads, "WORKERS", 2)
    barrier = threading.Barrier(2, timeout=10)

    def item(i):
        barrier.wait()
        return i * 10, threading.get_ident()

    results = _threads.map_ordered(item, [1, 2])
    assert [r[0] for r in results] == [10, 20]
    assert results[0][1] != results[1][1]


def test_one_thread_means_no_pool(monkeypatch):
    """One thread: every item runs on the caller's thread, in order."""
    monkeypatch.setattr(_threads, "WORKERS", 1)
    seen = []
    _threads.map_ordered(lambda i: seen.append((i, threading.get_ident())), range(4))
    assert seen == [(i, threading.get_ident()) for i in range(4)]


def test_an_error_in_a_worker_is_raised(monkeypatch):
    monkeypatch.setattr(_threads, "WORKERS", 2)

    def item(i):
        if i == 3:
            raise ValueError("item 3")
        return i

    with pytest.raises(ValueError, match="item 3"):
        _threads.map_ordered(item, range(6))


def test_thread_count_follows_the_environment(monkeypatch):
    """OPENBLAS_NUM_THREADS first, then OMP_NUM_THREADS, then the CPUs this process may use."""
    monkeypatch.setattr(_threads, "WORKERS", None)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _threads.count() == 1
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    assert _threads.count() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda pid: {0, 1, 5}, raising=False)
    assert _threads.count() == 3
    # a small op stays on one thread: the hand-off would cost more than the work
    assert _threads.count(_threads.MIN_BYTES - 1) == 1
    assert _threads.count(_threads.MIN_BYTES) == 3


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_on_threads_gives_the_one_thread_bits(workers, dtype, rng, monkeypatch):
    """ReLU works element by element, so its pieces on 2 or 3 threads give the bits of one
    call: compared exactly (with zeros, ties at 0, NaN and infinities in x), and with
    ``[x > 0] dy`` written out by hand."""
    x = rng.normal(size=(5, 3, 7, 11)).astype(dtype)
    x.flat[[0, 7, 100, 1154]] = [0.0, np.nan, -np.inf, np.inf]
    dy = rng.normal(size=x.shape).astype(dtype)
    monkeypatch.setattr(_threads, "WORKERS", 1)
    y1, cache1 = relu_forward(x)
    dx1 = relu_backward(dy, cache1).dx
    monkeypatch.setattr(_threads, "WORKERS", workers)
    y, cache = relu_forward(x)
    dx = relu_backward(dy, cache).dx
    np.testing.assert_array_equal(y, y1)
    np.testing.assert_array_equal(dx, dx1)
    np.testing.assert_array_equal(y, np.where(x > 0, x, np.where(np.isnan(x), x, 0)))
    np.testing.assert_array_equal(dx, np.where(x > 0, dy, 0))


def test_elementwise_cuts_the_arrays_into_one_piece_per_thread(monkeypatch):
    """Three threads: three contiguous pieces that tile the flattened arrays, each on its own
    thread at once (a barrier of three); non-contiguous arrays take one plain call."""
    monkeypatch.setattr(_threads, "WORKERS", 3)
    barrier = threading.Barrier(3, timeout=10)
    x, out = np.arange(20.0).reshape(4, 5), np.zeros((4, 5))
    seen = []

    def piece(a, b):
        barrier.wait()
        seen.append(a.size)
        np.multiply(a, 2, out=b)

    _threads.elementwise(piece, x, out)
    assert sorted(seen) == [6, 7, 7]
    np.testing.assert_array_equal(out, 2 * x)
    calls = []
    _threads.elementwise(lambda a, b: calls.append(a.shape), x.T, out.T)  # not C-contiguous
    assert calls == [(5, 4)]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("x_shape", [(7, 3, 5, 4), (5, 2, 9), (4, 3, 2, 3, 2), (1, 5, 6)])
def test_batch_norm_on_threads_gives_the_one_thread_bits(x_shape, affine, training, rng,
                                                          monkeypatch):  # fmt: skip
    """The batch norm's blocks (one thread: one or two channels of an image, two images, or
    the whole batch; 2 and 3 threads: one block each, channels of the one image cut when the
    batch has a single one) give exactly the bits of one block on one thread (each image's
    and channel's sums are the same wherever they are taken, and the images' sums are added
    in order), forward, backward and the running estimates; and equal the loop twins."""
    c = x_shape[1]
    x, dy = rng.normal(size=x_shape).astype(np.float32), rng.normal(size=x_shape).astype(np.float32)
    w, b = (rng.normal(size=c).astype(np.float32) for _ in range(2)) if affine else (None, None)
    stats = rng.normal(size=c).astype(np.float32), rng.uniform(0.5, 2, size=c).astype(np.float32)

    channel_bytes = math.prod(x_shape[2:]) * x.itemsize

    def run(workers, block_bytes=None):
        monkeypatch.setattr(_threads, "WORKERS", workers)
        if block_bytes is not None:
            monkeypatch.setattr(batchnorm, "BLOCK_BYTES", block_bytes)
        mean, var = stats[0].copy(), stats[1].copy()
        y, cache = batch_norm_forward(x, w, b, mean, var, training=training)
        return (y, mean, var, *batch_norm_backward(dy, cache))

    one = run(1, block_bytes=x.nbytes)
    block_sizes = (channel_bytes, 2 * channel_bytes, 2 * c * channel_bytes)
    for workers, block_bytes in itertools.product((1, 2, 3), block_sizes):
        for got, want in zip(run(workers, block_bytes), one, strict=True):
            if want is None:
                assert got is None
            else:
                np.testing.assert_array_equal(got, want)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    w64, b64 = (None, None) if w is None else (w.astype(np.float64), b.astype(np.float64))
    monkeypatch.setattr(_threads, "WORKERS", 3)
    y, cache = batch_norm_forward(x64, w64, b64, training=training, running_mean=stats[0] * 1.0,
                                  running_var=stats[1] * 1.0)  # fmt: skip
    y_loops, cache_loops = batch_norm_forward_naive(x64, w64, b64, training=training,
                                                    running_mean=stats[0] * 1.0,
                                                    running_var=stats[1] * 1.0)  # fmt: skip
    np.testing.assert_allclose(y, y_loops, rtol=1e-10, atol=1e-12)
    for got, want in zip(batch_norm_backward(dy64, cache),
                         batch_norm_backward_naive(dy64, cache_loops), strict=True):  # fmt: skip
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


# (name, x shape, weight shape, conv keywords): the GEMM-based paths
GEMM_PATHS = [
    ("wide grid", (7, 4, 9, 9), (6, 4, 3, 3), dict(padding=1)),
    ("wide grid on phases", (6, 3, 11, 9), (5, 3, 3, 3), dict(stride=2, padding=1)),
    ("im2col chunks", (5, 4, 8, 7), (6, 2, 3, 2), dict(stride=(1, 2), groups=2, dilation=2)),
    ("images inner", (7, 4, 9, 8), (6, 2, 3, 3), dict(padding=2, groups=2, dilation=2)),
    ("row blocks", (6, 2, 12, 10), (4, 2, 3, 3), dict(padding=1)),
    ("1x1", (7, 6, 5, 4), (8, 3, 1, 1), dict(groups=2)),
    ("3-D", (5, 2, 4, 5, 6), (3, 2, 2, 3, 3), dict(padding=1)),
]


@pytest.mark.usefixtures("fresh_path_choices")  # the tests patch the wide grid's threshold
@pytest.mark.parametrize(("name", "x_shape", "w_shape", "kw"), GEMM_PATHS,
                         ids=[p[0] for p in GEMM_PATHS])  # fmt: skip
def test_gemm_paths_on_workers_equal_the_loops_and_repeat(name, x_shape, w_shape, kw, rng,
                                                          monkeypatch):  # fmt: skip
    """Forced onto 2 and 3 workers with tiny chunks (and blocks), each GEMM-based path cuts
    its work into several items that run on the workers: y, dx, dW and db equal the loops to
    1e-12 (float64: the items regroup only the sum over images of dW), and three runs give the
    same bits. The first layer's weight gradient alone (input_grad=False) too."""
    x, w = rng.normal(size=x_shape), rng.normal(size=w_shape)
    b = rng.normal(size=w_shape[0])
    y_naive, cache_naive = conv_nd_forward_naive(x, w, b, **kw)
    win = cache_naive.windows
    # one image per chunk; two for im2col's chunks, whose forward takes chunks from two on,
    # and for the images-innermost layout
    images = 2 if name in ("im2col chunks", "images inner") else 1
    chunk = images * blocked._image_bytes(x_shape[1], w_shape[0], win, math.prod(win.out), 8)
    monkeypatch.setattr(blocked, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(blocked, "BLOCK_BYTES", 1)
    monkeypatch.setattr(blocked, "MIN_COLUMNS", 1)
    monkeypatch.setattr(blocked, "FIRST_LAYER_WINDOW", 0 if name != "row blocks" else 32)
    monkeypatch.setattr(wide, "MAX_EXTRA_WORK", 1e9 if "wide" in name else -1)
    monkeypatch.setattr(inner, "MAX_ROW", 10**9 if "inner" in name else 0)
    dy = rng.normal(size=y_naive.shape)
    want = (y_naive, *conv_nd_backward_naive(dy, cache_naive))
    calls = []
    monkeypatch.setattr(_threads, "map_ordered", _counting(_threads.map_ordered, calls))
    for workers in (2, 3):
        runs = [_run(x, w, b, kw, dy, workers, monkeypatch) for _ in range(3)]
        for got, expected in zip(runs[0], want, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        for run in runs[1:]:
            for got, first in zip(run, runs[0], strict=True):
                np.testing.assert_array_equal(got, first)
        _, cache = conv_nd_forward(x, w, b, **kw)
        no_dx = conv_nd_backward(dy, cache, input_grad=False)
        assert no_dx.dx is None
        np.testing.assert_allclose(no_dx.dweight, want[2], rtol=1e-12, atol=1e-12)
    assert max(calls) >= 2  # the items really were shared out


@pytest.fixture
def blas_threads():
    """A reader of BLAS's thread counts through threadpoolctl (independent of the hold's own
    bookkeeping), with BLAS at two threads for the test."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if _threads._blas_libraries() is None:
        pytest.skip("threadpoolctl finds no BLAS to hold here")

    def read():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]  # fmt: skip

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        yield read


def test_blas_is_held_to_one_thread_and_given_back(blas_threads):
    """Inside one_blas_thread BLAS runs one thread, nested holds included; the count it had
    (two, set by the fixture) comes back when the outer hold closes, after an exception too."""
    before = blas_threads()
    assert max(before) == 2
    with pytest.raises(RuntimeError, match="inside"):
        with _threads.one_blas_thread():
            assert set(blas_threads()) == {1}
            with _threads.one_blas_thread():
                assert set(blas_threads()) == {1}
            assert set(blas_threads()) == {1}  # the inner hold gave nothing back yet
            raise RuntimeError("inside")
    assert blas_threads() == before


def test_a_single_image_keeps_blas_threads(monkeypatch):
    """holds_blas: never for one image (its GEMMs are the whole op), nor for GEMMs too small
    to wake BLAS's threads, nor on one thread."""
    big = _threads.HOLD_MIN_MACS
    monkeypatch.setattr(_threads, "WORKERS", 2)
    assert not _threads.holds_blas(1, big)
    assert _threads.holds_blas(2, big)
    assert not _threads.holds_blas(2, big - 1)
    monkeypatch.setattr(_threads, "WORKERS", 1)
    assert not _threads.holds_blas(2, big)


def test_a_lone_product_keeps_blas_threads_from_gemm_min_macs(blas_threads, monkeypatch):
    """gemm_held_for (the dense layer's products): BLAS keeps its two threads from
    GEMM_MIN_MACS multiply-adds on, is held to one below it (with workers allowed), and an
    outer hold stays held."""
    monkeypatch.setattr(_threads, "WORKERS", 2)
    big = _threads.GEMM_MIN_MACS
    with _threads.gemm_held_for(8, big):
        assert max(blas_threads()) == 2
    with _threads.gemm_held_for(8, big - 1):
        assert set(blas_threads()) == {1}
    with _threads.one_blas_thread(), _threads.gemm_held_for(8, big):
        assert set(blas_threads()) == {1}
    assert max(blas_threads()) == 2


def test_dense_on_either_side_of_gemm_min_macs_equals_the_loops(rng, monkeypatch):
    """The dense layer's y, dx, dW and db equal the index-sum loops (dense_*_naive) to
    float64 precision with its products held to one BLAS thread and with BLAS's threads
    (GEMM_MIN_MACS moved across this case's 180 multiply-adds)."""
    from minidl.functional.dense import (
        dense_backward,
        dense_backward_naive,
        dense_forward,
        dense_forward_naive,
    )

    x, w, b = rng.normal(size=(9, 5)), rng.normal(size=(4, 5)), rng.normal(size=4)
    dy = rng.normal(size=(9, 4))
    y_loops, cache_loops = dense_forward_naive(x, w, b)
    want = dense_backward_naive(dy, cache_loops)
    monkeypatch.setattr(_threads, "WORKERS", 2)
    monkeypatch.setattr(_threads, "HOLD_MIN_MACS", 1)
    for gemm_min in (1, 10**6):
        monkeypatch.setattr(_threads, "GEMM_MIN_MACS", gemm_min)
        y, cache = dense_forward(x, w, b)
        np.testing.assert_allclose(y, y_loops, rtol=1e-13, atol=1e-13)
        for got, expected in zip(dense_backward(dy, cache), want, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


def test_a_forked_child_gets_blas_back(blas_threads):
    """A child forked while a hold is open (on a thread the child does not have) starts with
    BLAS's count given back and no hold open (the fork handler, called here directly)."""
    before = blas_threads()
    with _threads.one_blas_thread():
        assert set(blas_threads()) == {1}
        _threads._forget_pool()  # what os.fork runs in the child
        assert blas_threads() == before and not _threads.held()
    assert blas_threads() == before  # the parent's hold, closing late, changes nothing


@pytest.mark.parametrize("shape", [(5, 3, 7, 6), (4, 2, 3, 4, 5), (3, 4, 11)])
def test_bias_grad_summed_per_image_whatever_the_chunks(shape, rng):
    """float32: per image on the chunks, then over the images in order: the same bits for any
    cut of the batch, within float32's rounding of the float64 sum; float64 keeps np.sum's."""
    dy = rng.normal(loc=0.5, size=shape)
    want = dy.sum(axis=(0, *range(2, dy.ndim)))
    sums = []
    for cuts in ([(0, shape[0])], [(a, 1) for a in range(shape[0])], [(0, 2), (2, shape[0] - 2)]):
        grad = _threads.BiasGrad(dy.astype(np.float32), True)
        for a, m in cuts:
            grad.add(a, m)
        sums.append(grad.result())
    for got in sums[1:]:
        np.testing.assert_array_equal(got, sums[0])
    assert sums[0].dtype == np.float32
    # a sum of at most 5 x 7 x 6 float32 roundings of inputs near 0.5 (each within 2**-24)
    np.testing.assert_allclose(sums[0], want, rtol=2e-6)
    grad = _threads.BiasGrad(dy, True)
    grad.add(0, shape[0])
    np.testing.assert_array_equal(grad.result(), want)
    assert _threads.BiasGrad(dy, False).result() is None


@pytest.mark.parametrize("workers", [1, 2])
def test_summed_gemms_adds_the_shares_in_order_as_summed_does(workers, rng, monkeypatch):
    """On one thread the shares are added as they come, on two they are kept and summed: both
    the same additions in the items' order, so the same bits as ``summed`` of the list (float32
    values of mixed magnitude, where another order of the additions changes the last bits)."""
    monkeypatch.setattr(_threads, "WORKERS", workers)
    shares = [(rng.standard_normal((5, 7)) * 10.0 ** rng.integers(-4, 4, (5, 7))).astype(np.float32)
              for _ in range(6)]  # fmt: skip
    want = shares[0].copy()
    for share in shares[1:]:
        want += share
    backwards = shares[5].copy()
    for share in shares[4::-1]:
        backwards += share
    assert not np.array_equal(want, backwards)  # the order shows in the bits at these values
    got = _threads.summed_gemms(lambda i: shares[i].copy(), list(range(6)), 2**30, 2**30)
    assert got.dtype == np.float32 and np.array_equal(got, want)


@pytest.mark.parametrize("workers", [1, 2])
def test_summed_gemms_of_no_gradient_is_none(workers, monkeypatch):
    """Items that return None (a backward asked for no weight gradient) sum to None."""
    monkeypatch.setattr(_threads, "WORKERS", workers)
    assert _threads.summed_gemms(lambda i: None, [0, 1, 2], 2**30, 2**30) is None
