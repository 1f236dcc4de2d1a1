"""Scratch buffers that the fast paths reuse from one call to the next (private).

A fresh NumPy array of more than a few hundred KiB is fresh memory from the kernel (glibc
serves it with ``mmap`` and gives it back on ``free``): its first write costs one page fault
per 4 KiB page. For a convolution's temporaries (the padded input, the gathered windows, their
gradient) that is most of a small layer's time: a 3x3 conv of 8 x 16 x 28 x 28 into 32
channels ran its backward in 8.2 ms with fresh arrays and in 2.6 ms with memory already mapped
(benchmarks/bench_sweep.py, 1 thread, December 2026), against PyTorch's 2.0 ms for both passes.

So the blocked convolution and the chunked pooling take their temporaries from here.
``scratch(name, shape, dtype)`` returns a view of this thread's buffer ``name``, grown when too
small and kept for the next call. A view is valid until the next request for the same name on
the same thread, so a function uses each name for one temporary at a time and never returns a
view (outputs are always fresh arrays). Buffers above ``MAX_BYTES`` are not kept: they are
rare, and their page faults are small next to the work done on them.
"""

import math
import threading

import numpy as np

from minidl.functional.windows import pad_array, padded_shape

# Kept per name and thread at most: the blocked convolution's chunks are bounded (4-16 MiB of
# windows), so this keeps every temporary of the networks in benchmarks/ and chapters/.
MAX_BYTES = 64 * 2**20

_local = threading.local()


def scratch(name, shape, dtype):
    """An uninitialized array of ``shape`` and ``dtype``, a view of buffer ``name``."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_BYTES:
        return np.empty(shape, dtype=dtype)
    buffers = _local.__dict__.setdefault("buffers", {})
    buffer = buffers.get(name)
    if buffer is None or buffer.size < nbytes:
        buffer = buffers[name] = np.empty(nbytes, dtype=np.uint8)
    return buffer[:nbytes].view(dtype).reshape(shape)


def zeros(name, shape, dtype):
    """:func:`scratch` filled with zeros."""
    out = scratch(name, shape, dtype)
    out.fill(0)
    return out


def padded(name, x, pads, fill=0.0):
    """``windows.pad_array(x, pads, fill)`` in buffer ``name``; ``x`` itself when nothing is
    padded."""
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return x
    return pad_array(x, pads, fill, out=scratch(name, padded_shape(x.shape, pads), x.dtype))


def release():
    """Drop this thread's buffers (their memory goes back once no view of them is alive)."""
    _local.__dict__.pop("buffers", None)
