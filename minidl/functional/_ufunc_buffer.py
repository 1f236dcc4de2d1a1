"""NumPy's ufunc buffer, made smaller inside the fast paths' strided loops (private).

NumPy 2.x runs a ufunc on operands that are not one contiguous run (rows of a 2-D view, a
per-channel broadcast over (N, C, L)) through its iterator, and where a row is shorter than
about a third of the ufunc buffer (8192 elements by default) the iterator copies several rows
at a time into the buffer and computes there, then copies back. For rows of a few hundred to
2,700 elements that costs more than it saves: ``np.add`` of 64 rows of 838 float32 (col2im's
runs on a 28 x 28 image) ran at 2.0-2.4 elements a nanosecond with the default buffer, at 7.1
with a buffer of 1,024 elements, where each row is computed in place; one contiguous run of
the same size goes at 10 (AMD EPYC, NumPy 2.4.6, December 2026). The threshold follows the
buffer: rows of 500 ran slow at 2,048 and fast at 1,024, rows of 2,730 fast at 8,192.

A smaller buffer is not better everywhere: an op that must cast (a comparison into a float
array, ReLU's backward) then works in more, smaller pieces, which paid there (they stay in L1)
but not in the pooling paths, whose max pool ran 3-28% slower at 256-1,024 elements. So the
buffer is set only around the loops measured to gain, by :func:`with_rows_in_place`, and given back
on the way out: the GEMM convs' backward chunks (col2im adds a run per channel and image),
the depthwise conv's chunks, the batch norm's passes (a per-channel broadcast over rows of
H x W) and ReLU's backward. One thread, in one process with the two buffers interleaved (best
of 10-12, AMD EPYC, December 2026): the backward of 32 x 16 x 28 x 28 -> 32 (3x3) 11.2 -> 10.1
ms, of 32 x 64 x 28 x 28 -> 64 59.3 -> 53.4, of the same with 4 groups 27.6 -> 23.6; the batch
norm's forward + backward of 32 x 64 x 28 x 28 6.9 -> 5.5 ms, of 128 x 32 x 28 x 28 14.7 ->
11.1; ReLU's backward of 128 x 32 x 28 x 28 2.5 -> 1.8 ms; the depthwise 32 x 64 x 28 x 28
forward + backward 19.1 -> 17.1. NumPy keeps the setting per thread, so a loop run on
the worker threads sets it in each of them: the items are wrapped, not the caller.
"""

import functools

import numpy as np

# Elements: rows of at least a third of this (341) are computed in place, not buffered.
ROW_BUFFER = 1024
# NumPy 2 ties the buffer size to np.errstate's context, which gives it back on the way out;
# NumPy 1.x keeps it apart (np.errstate restores the error settings alone), so there it is set
# back by hand (np.setbufsize returns the size it replaces).
_ERRSTATE_RESTORES = int(np.__version__.split(".")[0]) >= 2


def with_rows_in_place(fn):
    """``fn`` run with NumPy's ufunc buffer at ``ROW_BUFFER`` elements on whichever thread
    calls it (the items of a worker loop), and the size it replaced given back afterwards. A
    small conv's chunk pays this once per call: on NumPy 2, 2.0 us through np.errstate,
    against 5 through a generator context manager, or 4 for ``np.setbufsize`` there and back,
    which builds NumPy's settings dict twice; a 1 x 3 x 32 x 32 -> 16 backward takes 100."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        if _ERRSTATE_RESTORES:
            with np.errstate():
                np.setbufsize(ROW_BUFFER)
                return fn(*args, **kwargs)
        before = np.setbufsize(ROW_BUFFER)
        try:
            return fn(*args, **kwargs)
        finally:
            np.setbufsize(before)

    return wrapped
