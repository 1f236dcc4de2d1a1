"""Hypotheses for im2col and col2im (protocol in :mod:`minidl.conformance.diagnose`).

The row order (kernel-major ``(p, c)`` rows where PyTorch's are channel-major ``(c, p)``),
minidl's own im2col matrix layout ``(C K, N L)`` (:meth:`Windows.columns`), and a col2im that
writes where it must add (``img[...] = col`` in the loop over kernel offsets: the last offset
wins where windows overlap) or averages the overlaps (the inverse of im2col, not its adjoint).
The same col2im slips show in im2col's gradient, which *is* a col2im."""

import math

import numpy as np

from minidl.conformance.hypothesis import kwarg, registrar
from minidl.functional.windows import interior, window_geometry

HYPOTHESES = {}
hypothesis = registrar(HYPOTHESES)
ASSIGNS = "writes each kernel offset's columns with = where col2im must add (+=): "
OVERWRITE = ASSIGNS + "where windows overlap the last one wins"


def _windows(family, case):
    """The image's shape (N, C, *spatial) and the window geometry of the case."""
    shape = case.inputs["x"].shape
    spatial = tuple(kwarg(case, "output_size")) if family.name == "col2im" else shape[2:]
    kw = {k: kwarg(case, k, d) for k, d in (("stride", 1), ("padding", 0), ("dilation", 1))}
    win = window_geometry(spatial, kwarg(case, "kernel_size"), **kw)
    if family.name == "col2im":  # x: the columns (N, C K, L)
        return (shape[0], shape[1] // math.prod(win.kernel)) + spatial, win
    return shape, win


def _fold(z, image, win, mode):
    """col2im of columns ``z`` (N, C K, L): ``'add'`` (right), ``'assign'`` (the last kernel
    offset wins) or ``'average'`` (the sum divided by how many windows cover a position)."""
    spatial = tuple(m + lo + hi for m, (lo, hi) in zip(win.in_sizes, win.pads, strict=True))
    canvas, count = np.zeros(image[:2] + spatial), np.zeros(image[:2] + spatial)
    blocks = z.reshape(image[:2] + (-1,) + win.out)
    for q, window in enumerate(win.offsets()):
        if mode == "assign":
            canvas[window] = blocks[:, :, q]
        else:
            canvas[window] += blocks[:, :, q]
        count[window] += 1
    if mode == "average":
        canvas = np.where(count > 0, canvas / np.maximum(count, 1), 0.0)
    return canvas[interior(win.pads, win.in_sizes)]


def _reorder(cols, c, to_kernel_major):
    """The rows (c, p) of (N, C K, L) columns reordered as (p, c), or back."""
    n, rows, length = cols.shape
    split = (n, c, rows // c, length) if to_kernel_major else (n, rows // c, c, length)
    return cols.reshape(split).swapaxes(1, 2).reshape(cols.shape)


@hypothesis("im2col")
def im2col_layouts(family, case, run, got):
    y, c = case.outputs["y"], case.inputs["x"].shape[1]
    if c > 1:
        yield (
            "orders the rows kernel-major, (p, c): all channels of offset 0 first; PyTorch's "
            "unfold is channel-major, row c K + p",
            {"y": _reorder(y, c, to_kernel_major=True)},
            got,
        )
    yield (
        "returns minidl's (C K, N L) im2col matrix (Windows.columns): the layout here is "
        "PyTorch's (N, C K, L)",
        {"y": y.transpose(1, 0, 2).reshape(y.shape[1], -1)},
        got,
    )
    if case.dy is not None:
        image, win = _windows(family, case)
        for mode, detail in (("assign", OVERWRITE), ("average", "averages the overlaps")):
            yield (
                f"backward (a col2im) {detail}",
                {"grad x": _fold(case.dy, image, win, mode)},
                got,
            )


@hypothesis("col2im")
def col2im_slips(family, case, run, got):
    image, win = _windows(family, case)
    x = case.inputs["x"]
    yield OVERWRITE, {"y": _fold(x, image, win, "assign")}, got
    yield (
        "averages the overlapping windows (the inverse of im2col); fold is its adjoint and "
        "sums them",
        {"y": _fold(x, image, win, "average")},
        got,
    )
    if image[1] > 1:
        yield (
            "reads the rows kernel-major, (p, c); PyTorch's fold reads row c K + p",
            {"y": _fold(_reorder(x, image[1], to_kernel_major=False), image, win, "add")},
            got,
        )
