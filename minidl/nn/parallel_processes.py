r"""``ProcessDataParallel``: :class:`~minidl.nn.DataParallel`'s parts of the batch on processes.

The sums are :class:`~minidl.nn.DataParallel`'s: the batch's gradient is the sum of its parts'
gradients, each part's forward and backward the model's own on its rows,

.. math:: \frac{\partial \ell}{\partial \theta}
          = \sum_{k=1}^{K} \Big( \frac{1}{N} \sum_{n \in B_k}
            \frac{\partial \ell_n}{\partial \theta} \Big),

added in the parts' order, so the numbers are those of :class:`~minidl.nn.DataParallel` with
the same parts, bit for bit (``tests/test_parallel_processes.py``).

Why processes: the parts of a small batch on threads wait for each other's Python, since one
interpreter runs one thread's Python at a time (LeNet-5 at batch 32, forward + backward: 4.5 ms
on two threads against 3.2 on one). A process has an interpreter of its own. Part 0 runs in
this process; each other part in a worker process forked from it at the first forward, which
so starts with a copy of the model. What must stay the same on both sides lives in memory the
processes share (anonymous ``MAP_SHARED`` mappings made before the fork):

- the parameters and buffers: the model's arrays are replaced by views of one shared region
  (the values copied), so an optimizer's in-place update (``np.copyto``, as minidl's do) is the
  workers' too; arrays replaced later (a loaded ``state_dict`` that swaps them, a layer
  replaced) are noticed at the next forward, and the workers started afresh;
- per worker, its part's gradients (its layers write into them) and four slots for the
  arrays a call passes: ``x`` and ``y`` of a forward, ``dy`` and ``dx`` of a backward. An
  array larger than its slot goes through the pipe instead (pickled), and the next forward
  starts the workers with slots large enough (doubled until they fit).

The pipe (``multiprocessing.Pipe``) carries only the calls and their replies; each forward and
each backward is one round trip per worker. The workers run every op on one thread, BLAS
included, as this process does while its part runs (:func:`minidl.functional._threads.apart`).
They stop at :meth:`ProcessDataParallel.close` (``with`` does it), when the object is
collected, or when this process ends.

Where: POSIX systems that can fork (Linux; macOS forks too, but its Accelerate BLAS is not
fork-safe: there, use :class:`~minidl.nn.DataParallel`). Elsewhere the constructor raises.
"""

import contextlib
import math
import mmap
import multiprocessing
import os
import pickle
import signal
import sys
import time
import warnings
import weakref

import numpy as np

from minidl.functional import _threads
from minidl.nn.parallel import BatchParts

# A part of the batch gets a process of its own from this many forward multiply-adds on. The
# hand-off is two round trips through a pipe per step (the forward's and the backward's), about
# 45 us each, and the parts then run without waiting for each other. Forward + backward, one
# process against two parts: LeNet-5 (0.42 M multiply-adds a sample) at batch 4 0.94 ms against
# 0.93, at 8 1.34 against 1.15, at 16 1.99 against 1.53; article 003's CNN (2.6 M a sample) at
# batch 2 1.39 against 1.49, at 4 2.4 against 1.6 (Intel Xeon, 2 cores, December 2026).
MIN_PART_MACS = 2**21
# The first slots hold this many bytes at least (x, y, dy, dx of a part each).
MIN_SLOT_BYTES = 2**20
# Arrays in a shared region start at multiples of this many bytes (a cache line, and what
# NumPy's SIMD loops like).
ALIGN = 64


def _shared(nbytes):
    """An anonymous mapping that a forked child shares with its parent (at least one byte)."""
    return mmap.mmap(-1, max(1, nbytes), flags=mmap.MAP_SHARED)


def _region(arrays):
    """One shared mapping holding a copy of each array: ``(mapping, views)``."""
    offsets, total = [], 0
    for a in arrays:
        offsets.append(total)
        total += -(-a.nbytes // ALIGN) * ALIGN
    buf = _shared(total)
    views = []
    for a, offset in zip(arrays, offsets, strict=True):
        view = np.frombuffer(buf, a.dtype, a.size, offset).reshape(a.shape)
        np.copyto(view, a)
        views.append(view)
    return buf, views


class _Slot:
    """A shared buffer through which one array at a time goes to the other process."""

    def __init__(self, nbytes):
        self.nbytes, self.buf = nbytes, _shared(nbytes)

    def put(self, a):
        """``a`` written into the slot, as the message that lets :meth:`get` read it; the
        array itself (pickled by the pipe) when it does not fit."""
        a = np.asarray(a)
        if a.nbytes > self.nbytes:
            return ("inline", a)
        np.copyto(self._view(a.shape, a.dtype), a)
        return ("slot", a.shape, a.dtype.str)

    def get(self, message):
        """The array of a message of :meth:`put`: a view of the slot, or the array sent."""
        if message[0] == "inline":
            return message[1]
        return self._view(message[1], np.dtype(message[2]))

    def _view(self, shape, dtype):
        return np.frombuffer(self.buf, dtype, math.prod(shape)).reshape(shape)


class _Worker:
    """One worker process, the pipe to it, its slots and its gradients' region (the model's
    ``grads`` layout, (layer, key) in order)."""

    def __init__(self, context, model, slot_bytes, siblings, spin):
        self.spin = spin  # seconds to poll for a reply before sleeping on the pipe
        keys = [(i, key) for i, layer in enumerate(model.layers) for key in layer.grads]
        self.keys = keys
        self._grad_region, self.grads = _region([model.layers[i].grads[k] for i, k in keys])
        self.x, self.y, self.dy, self.dx = (_Slot(slot_bytes) for _ in range(4))
        self.conn, child = context.Pipe()
        # the child closes its copies of this end and of the siblings' (so that a pipe whose
        # parent end is closed reads as ended), and watches that its parent is alive
        ends = [self.conn] + [s.conn for s in siblings]
        self.process = context.Process(target=_serve, args=(child, model, self, ends, os.getpid()),
                                       daemon=True, name="minidl-part")  # fmt: skip
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a process with threads may deadlock the child, when
            # another thread holds a lock the child needs. The child here takes none of this
            # process's locks: minidl's pool is made afresh after a fork (_threads), OpenBLAS
            # restarts its threads by its own fork handlers, and the child runs on one thread.
            warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
            self.process.start()
        child.close()

    def call(self, *message):
        self.conn.send(message)

    def reply(self):
        """The worker's reply to the last call; its exception raised here."""
        try:
            _poll(self.conn, self.spin)
            status, value = self.conn.recv()
        except (EOFError, OSError) as error:
            self.process.join(timeout=1)  # its exit code, once it is gone
            raise RuntimeError(
                f"a ProcessDataParallel worker process ended (exit code "
                f"{self.process.exitcode}) before answering"
            ) from error
        if status == "error":
            raise value
        return value

    def stop(self):
        try:
            self.conn.send(("stop",))
        except OSError:  # ended already
            pass
        self.conn.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


# A worker checks that its parent is alive every this many seconds while it waits for a call:
# a parent killed outright closes no pipe that a sibling worker also holds.
PARENT_CHECK_SECONDS = 1.0
# Each side polls its pipe this long before it sleeps on it, where every process has a CPU of
# its own: a sleeping CPU of these VMs is woken through the hypervisor, and a round trip took
# 75 us sleeping against 45 polling (a forward + backward of a 2 -> 2 dense layer on two
# parts: 150 against 90 us; LeNet-5's training step at batch 32 2.75 -> 2.55 ms, at 128 6.6 ->
# 6.3; Intel Xeon, December 2026). The poll costs a CPU that would otherwise idle.
SPIN_SECONDS = 0.002


def _poll(conn, seconds):
    """Return once ``conn`` has something to read, or after ``seconds`` of polling."""
    end = time.perf_counter() + seconds
    while not conn.poll(0) and time.perf_counter() < end:
        pass


def _serve(conn, model, worker, parent_ends, parent):
    """The worker process: its part's forward and backward, call after call, until told to
    stop, its pipe ends, or its parent is gone."""
    for end in parent_ends:
        end.close()
    # Ctrl-C in a terminal reaches the whole process group: the parent handles it (and stops
    # the workers, whose replies it will not read); a worker finishes its call undisturbed
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for (i, key), grad in zip(worker.keys, worker.grads, strict=True):
        model.layers[i].grads[key] = grad  # the layers' backwards write the shared arrays
    _threads.one_blas_thread_for_good()  # this process's one thread runs everything
    with _threads.apart():
        while True:
            try:
                _poll(conn, worker.spin)
                while not conn.poll(PARENT_CHECK_SECONDS):
                    if os.getppid() != parent:
                        return
                message = conn.recv()
            except (EOFError, OSError):
                return
            if message[0] == "stop":
                return
            try:
                conn.send(("ok", _answer(model, worker, *message)))
            except Exception as error:  # noqa: BLE001 - any error of the part goes back
                conn.send(("error", _picklable(error)))


def _answer(model, worker, call, *args):
    if call == "forward":
        message, training = args
        if model.training != training:
            model.train() if training else model.eval()
        return worker.y.put(model.forward(worker.x.get(message)))
    message, input_grad = args  # "backward"
    dx = model.backward(worker.dy.get(message), input_grad=input_grad)
    for (i, key), grad in zip(worker.keys, worker.grads, strict=True):
        written = model.layers[i].grads[key]
        if written is not grad:  # a layer of the user's that rebinds its gradient arrays
            np.copyto(grad, written)
            model.layers[i].grads[key] = grad
    return None if dx is None else worker.dx.put(dx)


def _picklable(error):
    """``error`` if the pipe can carry it, else a RuntimeError with its type and message."""
    try:
        pickle.dumps(error)
        return error
    except Exception:  # noqa: BLE001 - whatever pickling raises
        return RuntimeError(f"{type(error).__name__}: {error}")


def _stop_all(workers):
    for worker in workers:
        worker.stop()
    workers.clear()


class ProcessDataParallel(BatchParts):
    """``model`` (a :class:`~minidl.nn.Sequential`) run on ``parts`` parts of each batch at
    once, part 0 in this process and each other part in a worker process.

    As :class:`~minidl.nn.DataParallel` (the same checks, parts and interface: ``forward``,
    ``backward``, ``params``, ``grads``, ``train``, ``eval``, ``fit``, ``evaluate``,
    ``predict``), with ``MIN_PART_MACS`` of this module. The parameters and buffers stay the
    model's own arrays, moved into memory the workers share (module docstring). The workers
    start at the first forward that cuts a batch; :meth:`close` stops them (``with
    ProcessDataParallel(model) as dp:`` does it at the end of the block).
    """

    def __init__(self, model, parts=None):
        if not hasattr(os, "fork") or sys.platform == "darwin":
            raise RuntimeError(
                f"ProcessDataParallel forks worker processes, which {sys.platform} cannot do "
                "safely; use minidl.nn.DataParallel (threads) there"
            )
        super().__init__(model, parts)
        self._workers = []
        # (the shared mapping, [(layer, attr, key, view)] of its arrays, the model's layers)
        self._shared = None
        self._slot_bytes = MIN_SLOT_BYTES
        self._out_bytes = 0  # the largest part of y so far
        self._split = None  # the last forward's parts, None when it ran as the model
        self._stopper = weakref.finalize(self, _stop_all, self._workers)

    def min_part_macs(self):
        return MIN_PART_MACS

    # --- computing ---------------------------------------------------------------------------

    def forward(self, x):
        """The model's forward of each part of ``x``, part 0 here, the others on the workers;
        the rows in order."""
        x, bounds = self._input(x)
        self._split = None
        if len(bounds) <= 1:
            return self.model.forward(x)
        parts = [x[a:b] for a, b in bounds]
        part_bytes = max(self._out_bytes, *(p.nbytes for p in parts[1:]))
        workers = self._ready(len(parts) - 1, part_bytes)
        with self._calls():
            for worker, part in zip(workers, parts[1:], strict=True):
                worker.call("forward", worker.x.put(part), self.model.training)
            outs = self._here_and_there(
                lambda: self.model.forward(parts[0]),
                [lambda w=w: w.y.get(w.reply()) for w in workers],
            )
        self._split = bounds
        self._out_bytes = max(out.nbytes for out in outs)  # the next slots fit y (and dy) too
        return np.concatenate(outs)

    def backward(self, dy, input_grad=True):
        """Each part's backward on its rows of ``dy``; the parameter gradients (the model's
        arrays) are the parts' sums, added in the parts' order."""
        if self._split is None:
            return self.model.backward(dy, input_grad=input_grad)
        bounds = self._split
        dy = self._output_grad(dy, bounds)
        workers = self._workers[: len(bounds) - 1]
        here = dy[bounds[0][0] : bounds[0][1]]

        def there(w):
            message = w.reply()
            return None if message is None else w.dx.get(message)

        with self._calls():
            for worker, (a, b) in zip(workers, bounds[1:], strict=True):
                worker.call("backward", worker.dy.put(dy[a:b]), input_grad)
            dxs = self._here_and_there(
                lambda: self.model.backward(here, input_grad=input_grad),
                [lambda w=w: there(w) for w in workers],
            )
        for worker in workers:  # in the parts' order: the same sums on every run
            for (i, key), grad in zip(worker.keys, worker.grads, strict=True):
                self.model.layers[i].grads[key] += grad
        return np.concatenate(dxs) if input_grad else None

    @staticmethod
    def _here_and_there(here, replies):
        """Part 0's result, computed here while the workers compute theirs, then each
        worker's: every reply is read even when a part failed, so that the pipes stay in
        step; the first error is raised."""
        results, error = [], None
        try:
            with _threads.apart(), _threads.one_blas_thread():
                results.append(here())
        except Exception as e:  # noqa: BLE001 - raised below, once the workers have answered
            error = e
        for reply in replies:
            try:
                results.append(reply())
            except Exception as e:  # noqa: BLE001
                error = error or e
        if error is not None:
            raise error
        return results

    @contextlib.contextmanager
    def _calls(self):
        """Around the calls to the workers and the reading of their replies: interrupted
        there (Ctrl-C: a BaseException that is no Exception), the workers are stopped, since a
        reply left unread in a pipe would answer the next call."""
        try:
            yield
        except Exception:
            raise
        except BaseException:
            self.close()
            raise

    # --- the workers -------------------------------------------------------------------------

    def _ready(self, count, part_bytes):
        """``count`` workers whose copy of the model is this model's and whose slots fit a part
        of ``part_bytes``: the running ones, or new ones."""
        fits = part_bytes <= self._slot_bytes
        alive = all(w.process.is_alive() for w in self._workers)
        if len(self._workers) < count or not fits or not alive or not self._still_shared():
            self.close()
            while self._slot_bytes < part_bytes:
                self._slot_bytes *= 2
            self._share()
            context = multiprocessing.get_context("fork")
            # poll only where every process has a CPU: else a poll takes the CPU a part needs
            spin = SPIN_SECONDS if count + 1 <= _threads.cpus() else 0.0
            for _ in range(count):
                self._workers.append(
                    _Worker(context, self.model, self._slot_bytes, list(self._workers), spin)
                )
        return self._workers[:count]

    def _share(self):
        """The model's parameters and buffers moved into one shared region (values copied)."""
        entries = [(layer, attr, key)
                   for layer in self.model.layers for attr in ("params", "buffers")
                   for key in getattr(layer, attr)]  # fmt: skip
        buf, views = _region([getattr(layer, attr)[key] for layer, attr, key in entries])
        for (layer, attr, key), view in zip(entries, views, strict=True):
            getattr(layer, attr)[key] = view
        self._shared = (buf, [(*entry, view) for entry, view in zip(entries, views, strict=True)],
                        list(self.model.layers))  # fmt: skip

    def _still_shared(self):
        """Whether the model still has the layers and the shared arrays the workers have."""
        if self._shared is None:
            return False
        _, entries, layers = self._shared
        if len(layers) != len(self.model.layers) or any(
            a is not b for a, b in zip(layers, self.model.layers, strict=True)
        ):
            return False
        count = sum(len(layer.params) + len(layer.buffers) for layer in layers)
        return count == len(entries) and all(
            getattr(layer, attr).get(key) is view for layer, attr, key, view in entries
        )

    def close(self):
        """Stop the worker processes (the next forward that cuts a batch starts new ones)."""
        _stop_all(self._workers)
        self._split = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
