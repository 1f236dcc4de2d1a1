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
(:mod:`minidl.functional.batchnorm`) runs its passes over blocks of images (or of one image's
channels) through :func:`map_ordered`, its sums taken per image and channel and added in
order.

The GEMM-based conv paths run their chunks of images on the threads too (:func:`map_gemms`),
with BLAS held to one thread meanwhile: each worker's GEMMs then run on its own core, beside
its copies, where BLAS's threads would split every GEMM across the cores while the copies
between them ran on one. BLAS is held through threadpoolctl; where it finds no BLAS to hold,
those loops stay on the caller's thread and BLAS keeps its threads, as before.

The thread count follows the user's setting, as OpenBLAS's does: ``OPENBLAS_NUM_THREADS``, else
``OMP_NUM_THREADS``, else the CPUs this process may run on. One thread means no pool at all:
the loop runs on the caller's thread, as before. Scratch buffers are per thread
(:mod:`minidl.functional._scratch`), so each worker keeps its own.
"""

import contextlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:
    import threadpoolctl
except ImportError:  # a runtime dependency; without it the GEMM loops keep BLAS's threads
    threadpoolctl = None

# Tests set this to force a thread count (None: from the environment, see count()).
WORKERS = None
# Below this many bytes of input an op runs on one thread: waking a worker and handing it a
# chunk costs tens of microseconds on an idle core and far more on a busy one, which is most of
# a small op (a 2x2 max pool of 32 x 32 x 28 x 28, 3.2 MB: 1.7-1.9 ms forward + backward on one
# thread, 2.2-2.8 ms on two; a 3x3 one of 32 x 64 x 56 x 56, 26 MB: 43-45 ms against 28-34;
# bench_sweep.py, load 1.3-1.5, December 2026).
MIN_BYTES = 4 * 2**20
# A loop whose items run GEMMs shares them out from MIN_BYTES of windows, or from this many
# multiply-adds on, whatever their bytes: a chunk loop's GEMMs are work the
# bytes do not count (8 x 16 x 28 x 28 -> 32, 3x3: 3.9 MB of windows, 29 M multiply-adds a
# pass, forward + backward 2.0-2.1 ms on two workers against 2.9 on one; LeNet-5 at batch 32:
# its first conv, 2.5 MB and 3.8 M, forward 0.49 ms on two workers against 0.43 on one). Its
# second conv (1.9 MB, 7.7 M) stays on one thread too since one thread runs it with its images
# innermost in L2-sized chunks: LeNet-5's training step at batch 32, two threads, 4.08-4.14 ms
# with it on the workers (2**22), 3.93-3.98 without (Intel Xeon, December 2026).
CHUNK_MIN_MACS = 2**23
# From this many multiply-adds a lone matrix product (the dense layer's) keeps BLAS's own
# threads: OpenBLAS packs the right-hand matrix once for all its threads, where two workers each
# packed all of it (256 x 784 by 784 x 512, 103 M: the dense layer's forward + backward 2.4-2.6
# ms against 3.2-3.4 on two workers with BLAS held, an MLP's training step 24-26 ms against
# 28-30). Below it such a product runs on one thread, BLAS held as for every op (holds_blas):
# its halves on two workers ran slower than the whole on one (64 x 1600 by 1600 x 128, 13 M:
# 257 us against 220; a worker's hand-off costs 50-90 us), and BLAS's threads, woken by the
# dense layers of LeNet-5 and article 003's CNN, slowed the ops after them (Intel Xeon,
# December 2026).
GEMM_MIN_MACS = 2**26
# Below this many multiply-adds an op's GEMMs leave BLAS as it is: OpenBLAS ran products of up
# to 64 x 64 x 96 on the caller's thread alone (its other threads took no CPU time over half a
# second of them) and woke its threads for 32 x 400 x 120, 1.5 M (Intel Xeon, December 2026).
HOLD_MIN_MACS = 2**18

_pool = None
_pool_lock = threading.Lock()
_apart = threading.local()  # .inside: this thread runs an item of map_apart


def env_threads():
    """``OPENBLAS_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the CPUs this process may run
    on (OpenBLAS's own default). Read at each call: cheap, and a test may change it."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return cpus()


def cpus():
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def count(nbytes=None):
    """Threads the chunk loops may use: ``WORKERS`` if set (tests force threads on tiny inputs
    so), else :func:`env_threads`, but one for an op on fewer than ``MIN_BYTES`` of input
    (``nbytes``, if given), and one inside an item of :func:`map_apart`."""
    if getattr(_apart, "inside", False):
        return 1
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
    """In a forked child the pool's threads do not exist: start afresh. A hold of BLAS open
    in the parent (on another thread) has no thread left to close it: give BLAS its count."""
    global _pool, _pool_lock, _held_lock
    _pool, _pool_lock, _held_lock = None, threading.Lock(), threading.Lock()
    if _held["depth"] > 0 and _blas:
        for lib, threads in zip(_blas, _held["counts"], strict=True):
            lib.set_num_threads(threads)
    _held["depth"] = 0


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


class BiasGrad:
    """``db = sum(dy)`` over the images and positions of a conv's ``dy`` (N, C, ...). In
    float32, the speed path, summed image by image inside a chunk loop (:meth:`add`: on the
    chunk's worker, while its dy is in cache), then over the images in their order
    (:meth:`result`): the same bits whatever the chunks and threads. One pass of ``dy.sum`` on
    the caller's thread took 25-35% of a first layer's backward on two threads (64 x 3 x 32 x
    32 -> 32, 3x3, without dx: 1.45-2.0 ms with the bias, 1.19-1.26 summed so; AMD EPYC,
    December 2026). Other dtypes (float64, the reference's) keep ``dy.sum``'s pairwise sums,
    whose bits the stored conformance files hold and which no BLAS kernel changes."""

    def __init__(self, dy, has_bias):
        self.dy, self.has_bias = dy, has_bias
        self.per_image = None
        if has_bias and dy.dtype == np.float32:
            self.per_image = np.empty(dy.shape[:2], dtype=dy.dtype)

    def add(self, a, m):
        """Sum images ``a .. a + m - 1``'s dy per channel, by ``np.einsum``: three times the
        speed of ``np.sum``'s pairwise sums (64 x 32 x 32 x 32 float32: 0.11 ms against 0.35;
        its blocks of accumulators err by a few units in float32's last place, as the
        gradients' other sums). A product by a vector of ones ran as fast on one thread, but
        BLAS threads it where no op holds BLAS to one thread (the depthwise conv): its threads
        then spun on the cores the workers wanted (32 x 64 x 28 x 28 depthwise, two threads,
        4.8-6.1x PyTorch's time against 3.0-3.1)."""
        if self.per_image is not None:
            part = self.dy[a : a + m].reshape(m * self.dy.shape[1], -1)
            np.einsum("ij->i", part, out=self.per_image[a : a + m].reshape(-1))

    def result(self):
        """``db`` (C,), or None without a bias."""
        if not self.has_bias:
            return None
        if self.per_image is None:
            return self.dy.sum(axis=(0, *range(2, self.dy.ndim)))
        return self.per_image.sum(axis=0)


def summed(shares):
    """The chunks' shares (of a weight gradient) added in the chunks' order, into the first
    (each share is a fresh array of its chunk's): the same bits on every run, whatever the
    threads that computed them."""
    total = shares[0]
    for share in shares[1:]:
        total += share
    return total


def summed_gemms(fn, items, nbytes=None, macs=0):
    """``summed(map_gemms(fn, items, nbytes, macs))`` (None if the items return None), but on
    one thread each share is added as soon as its item returns: the same additions in the
    same order, the same bits, with two shares alive at a time instead of all of them, so that
    the next item's product reuses the memory the one before was added from. Kept whole, each
    share was a fresh allocation the size of the weight, whose pages the system hands out
    anew: four chunks of 32 x 256 x 7 x 7 -> 256 (3x3), backward, their dW^T products 3.9,
    5.0, 5.1, 5.1 ms where one alone runs in 3.7 (Intel Xeon, one thread, December 2026)."""
    if _on_workers(items, nbytes, macs):
        shares = map_ordered(fn, items)
        return None if shares[0] is None else summed(shares)
    total = None
    for item in items:
        share = fn(item)
        if total is None:
            total = share
        elif share is not None:  # None: no weight gradient asked
            total += share
    return total


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


_blas = None  # NumPy's BLAS as threadpoolctl controls it, found on first use (False: none)
_held = {"depth": 0, "counts": None}  # the holds open now, and the counts to give back
_held_lock = threading.Lock()


def _blas_libraries():
    """threadpoolctl's controllers of the BLAS libraries loaded (NumPy's), or None."""
    global _blas
    if _blas is None:
        found = None
        if threadpoolctl is not None:
            found = threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers
        _blas = found or False
    return _blas or None


@contextlib.contextmanager
def one_blas_thread():
    """BLAS held to one thread inside the block, and given back its thread count when the
    last block open in the process closes: for the ops whose workers run GEMMs side by side.
    The setting is the process's: a GEMM on another thread of the program meanwhile runs on
    one thread too. A no-op where threadpoolctl finds no BLAS."""
    libraries = _blas_libraries()
    if libraries is None:
        yield
        return
    with _held_lock:
        if _held["depth"] == 0:
            _held["counts"] = [lib.get_num_threads() for lib in libraries]
            for lib in libraries:
                lib.set_num_threads(1)
        _held["depth"] += 1
    try:
        yield
    finally:
        with _held_lock:
            # (depth 0 already: given back in a forked child, by _forget_pool)
            closing = _held["depth"] == 1
            _held["depth"] = max(0, _held["depth"] - 1)
            if closing:
                for lib, threads in zip(libraries, _held["counts"], strict=True):
                    lib.set_num_threads(threads)


def one_blas_thread_for_good():
    """BLAS set to one thread for the rest of the process (a worker process that runs
    everything on its one thread: :class:`minidl.nn.ProcessDataParallel`)."""
    for lib in _blas_libraries() or ():
        lib.set_num_threads(1)


def holds_blas(images, macs):
    """Whether an op on a batch of ``images`` whose GEMMs make ``macs`` multiply-adds runs them
    with BLAS held to one thread (:func:`one_blas_thread`): whenever minidl may run worker
    threads itself and BLAS can be held, for a batch of more than one image and from
    ``HOLD_MIN_MACS`` on. BLAS's own threads, once woken, spin on their cores for a while after
    each GEMM, and a worker thread of the next op that lands there waits: an op that left BLAS
    its threads beside ops that run workers slowed both (LeNet-5's training step at batch 128,
    two threads: 14.9 ms against 11.8 with every op holding BLAS; article 003's CNN 47.4
    against 35.0; Intel Xeon, December 2026). A single image keeps BLAS's threads: its GEMMs are
    all there is to share out; and smaller GEMMs never wake BLAS's threads, so holding them
    would only cost its few microseconds."""
    if images < 2 or macs < HOLD_MIN_MACS or count() < 2:
        return False
    return WORKERS is not None or _blas_libraries() is not None


def held():
    """Whether BLAS is held to one thread now (:func:`one_blas_thread`; tests force workers
    with ``WORKERS``, which holds nothing but counts as held)."""
    return _held["depth"] > 0 or WORKERS is not None


def blas_held_for(images, macs):
    """The context an op on a batch of ``images`` runs its GEMMs (``macs`` multiply-adds) in:
    :func:`one_blas_thread` if :func:`holds_blas`, else none."""
    return one_blas_thread() if holds_blas(images, macs) else contextlib.nullcontext()


def gemm_workers(nbytes=None, macs=0):
    """Threads for a loop whose items run GEMMs: one while BLAS has its threads (not
    :func:`held`), else as :func:`count`, but one below both ``MIN_BYTES`` and
    ``CHUNK_MIN_MACS``. A 3x3 conv of
    32 x 64 x 28 x 28 into 64 channels, backward: 21 ms on two workers with one BLAS thread
    each, 28-29 ms on one thread with two BLAS threads, 30-32 ms on two workers with two BLAS
    threads each (Intel Xeon, 2 cores, December 2026)."""
    if not held():
        return 1
    small = nbytes is not None and nbytes < MIN_BYTES and macs < CHUNK_MIN_MACS
    if small and WORKERS is None:
        return 1
    return count()


def shares(n, workers):
    """``(start, count)`` of one even share of ``n`` items (images, rows) per worker."""
    return even_chunks(n, -(-n // max(1, workers)))


def map_gemms(fn, items, nbytes=None, macs=0):
    """:func:`map_ordered` for items that run GEMMs, on :func:`gemm_workers` threads (on the
    caller's thread alone while BLAS has its threads)."""
    if not _on_workers(items, nbytes, macs):
        return [fn(item) for item in items]
    return map_ordered(fn, items)


def _on_workers(items, nbytes, macs):
    """Whether a loop of GEMM items goes to the workers: more than one item, and
    :func:`gemm_workers` more than one thread."""
    return len(items) > 1 and gemm_workers(nbytes, macs) > 1


def gemm_held_for(rows, macs):
    """The context a lone product of ``rows`` rows and ``macs`` multiply-adds (the dense
    layer's) runs in: BLAS's own threads from ``GEMM_MIN_MACS`` on, else :func:`blas_held_for`.
    An outer hold (:func:`map_apart`'s) stays held."""
    if macs >= GEMM_MIN_MACS:
        return contextlib.nullcontext()
    return blas_held_for(rows, macs)


def matmul(a, b):
    """``a @ b`` of two matrices. An inner dimension of one (a dense layer's weight gradient at
    batch 1) is the outer product, the same bits (one term each): OpenBLAS took 220 us for
    (128 x 1)(1 x 1600), against 75 for ``np.multiply`` and 29 for a batch of two (Intel Xeon,
    one thread, December 2026)."""
    if a.shape[1] == 1:
        return np.multiply(a, b)
    return a @ b


@contextlib.contextmanager
def apart():
    """Every op inside on the caller's thread alone (:func:`count` is 1 there), for a whole
    computation that runs beside others (a part of a batch, :class:`minidl.nn.DataParallel`):
    a nested loop would hand chunks to workers that are busy with the other parts. BLAS's own
    threads are for :func:`map_apart` (or the caller) to hold."""
    before = getattr(_apart, "inside", False)
    _apart.inside = True
    try:
        yield
    finally:
        _apart.inside = before


def map_apart(fn, items):
    """:func:`map_ordered` for items that are whole computations (the parts of a batch in
    :class:`minidl.nn.DataParallel`), one per thread, each :func:`apart`, with BLAS held to one
    thread."""

    def one(item):
        with apart():
            return fn(item)

    if len(items) <= 1 or count() <= 1:
        return [fn(item) for item in items]
    with one_blas_thread():
        return map_ordered(one, items)
