"""Worker threads for the fast paths' chunk loops (private).

NumPy releases the GIL inside its copies, ufuncs and matrix products, so the chunks of images
that :mod:`minidl.functional._conv_blocked` and :mod:`minidl.functional._conv_depthwise` cut the
batch into can run on several cores from plain Python threads. :func:`map_ordered` runs
``fn(item)`` for each item on :func:`count` threads (the caller's and ``count() - 1`` pool
threads) and returns the results in the items' order, so that:

- each chunk writes its own slice of the output (no two threads write the same element), and
- what is summed over chunks (a weight gradient) is summed by the caller, in the items' order,
  from the per-chunk results: a run gives the same bits as the one before, whatever thread
  finished first.

:func:`elementwise` does the same for an op that works element by element (ReLU): one
contiguous piece of the flattened arrays per thread, the same bits as one call. The batch norm
(:mod:`minidl.functional.batchnorm`) runs its passes over chunks of images through
:func:`map_ordered`, its sums taken image by image and added in order.

The thread count follows the user's setting, as OpenBLAS's does: ``OPENBLAS_NUM_THREADS``, else
``OMP_NUM_THREADS``, else the CPUs this process may run on. One thread means no pool at all:
the loop runs on the caller's thread, as before. Scratch buffers are per thread
(:mod:`minidl.functional._scratch`), so each worker keeps its own.
"""

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

# Tests set this to force a thread count (None: from the environment, see count()).
WORKERS = None
# Below this many bytes of input an op runs on one thread: waking a worker and handing it a
# chunk costs tens of microseconds on an idle core and far more on a busy one, which is most of
# a small op (a 2x2 max pool of 32 x 32 x 28 x 28, 3.2 MB: 1.7-1.9 ms forward + backward on one
# thread, 2.2-2.8 ms on two; a 3x3 one of 32 x 64 x 56 x 56, 26 MB: 43-45 ms against 28-34;
# bench_sweep.py, load 1.3-1.5, December 2026).
MIN_BYTES = 4 * 2**20

_pool = None
_pool_lock = threading.Lock()


def env_threads():
    """``OPENBLAS_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the CPUs this process may run
    on (OpenBLAS's own default). Read at each call: cheap, and a test may change it."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def count(nbytes=None):
    """Threads the chunk loops may use: ``WORKERS`` if set (tests force threads on tiny inputs
    so), else :func:`env_threads`, but one for an op on fewer than ``MIN_BYTES`` of input
    (``nbytes``, if given)."""
    if nbytes is not None and nbytes < MIN_BYTES and WORKERS is None:
        return 1
    return max(1, WORKERS if WORKERS is not None else env_threads())


def _executor(workers):
    """The pool of ``workers`` threads, made on first use (and again after a fork or when the
    count changed)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers != workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="minidl")
        return _pool


def _forget_pool():
    """In a forked child the pool's threads do not exist: start afresh."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def even_chunks(n, per_chunk):
    """``(start, images)`` of each chunk of a batch of ``n``: as few chunks as ``per_chunk``
    images each allow, their sizes within one of each other. 8 images at 7 a chunk are 4 + 4,
    not 7 + 1: a one-image chunk's GEMMs are thin (8 x 16 x 28 x 28 -> 32, 3x3, one thread,
    best of 15 in four alternating runs: 3.7-4.5 ms forward + backward against 3.9-5.1;
    December 2026; the conv's chunks of images, and the threads' below)."""
    pieces = -(-n // per_chunk)
    if pieces == 0:  # an empty batch: no chunk
        return []
    bounds = [n * i // pieces for i in range(pieces + 1)]
    return [(a, b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def image_chunks(x_shape, itemsize, chunk_bytes):
    """Slices of the batch axis of an input of ``x_shape``, each of at most ``chunk_bytes`` of
    input (at least one image) and, with more than one worker thread, at least one per thread
    so that every thread gets work; as even as :func:`even_chunks` makes them."""
    n, image_bytes = x_shape[0], math.prod(x_shape[1:]) * itemsize
    step = max(1, chunk_bytes // max(1, image_bytes))
    return [slice(a, a + m) for a, m in thread_chunks(n, step, n * image_bytes)]


def thread_chunks(n, per_chunk, nbytes):
    """:func:`even_chunks` of at most ``per_chunk`` images and, with more than one worker
    thread for ``nbytes`` of work, at least one chunk per thread."""
    workers = count(nbytes)
    if workers > 1:
        per_chunk = max(1, min(per_chunk, -(-n // workers)))
    return even_chunks(n, per_chunk)


def elementwise(fn, *arrays):
    """``fn(*arrays)`` for an ``fn`` that works element by element (each output element depends
    only on the same element of the inputs), cut into :func:`count` contiguous pieces of the
    flattened arrays that the threads take one each: the same bits as one call, whatever the
    threads. One call on the arrays themselves when they are not all C-contiguous arrays of
    one shape, or below ``MIN_BYTES`` (judged on the first array)."""
    first = arrays[0]
    threads = count(first.nbytes)
    plain = threads <= 1 or any(
        a.shape != first.shape or not a.flags.c_contiguous for a in arrays
    )
    if plain:
        fn(*arrays)
        return
    flat = [a.reshape(-1) for a in arrays]  # views: C-contiguous
    bounds = [first.size * i // threads for i in range(threads + 1)]
    pieces = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    map_ordered(lambda s: fn(*(f[s] for f in flat)), pieces)


def map_ordered(fn, items, nbytes=None):
    """``[fn(item) for item in items]``, the items shared out among ``count(nbytes)`` threads
    (the caller's included); the results in the items' order. An exception in any item is
    raised here once every thread has stopped."""
    items = list(items)
    if len(items) <= 1:  # nothing to share out (a small batch): no thread count, no hand-off
        return [fn(item) for item in items]
    threads = min(count(nbytes), len(items))
    if threads <= 1:
        return [fn(item) for item in items]
    results = [None] * len(items)
    taken = iter(range(len(items)))
    lock = threading.Lock()

    def drain():
        while True:
            with lock:
                i = next(taken, None)
            if i is None:
                return
            results[i] = fn(items[i])

    pool = _executor(count() - 1)
    futures = [pool.submit(drain) for _ in range(threads - 1)]
    try:
        drain()
    finally:
        errors = [f.exception() for f in futures]  # waits for every worker
    for error in errors:
        if error is not None:
            raise error
    return results
