r"""im2col and col2im as ops: every window of the input as a column, and the scatter-add back.

For spatial axes with kernel :math:`k`, stride :math:`s`, dilation :math:`d` and the padded
input :math:`\tilde x` (zeros around it), output position :math:`i` (raster index
:math:`l`) reads :math:`\tilde x[n, c, s i + d p]` at kernel offset :math:`p` (raster index
:math:`q`, :math:`K = \prod k` offsets):

.. math:: \mathrm{im2col}(x)[n,\; c K + q,\; l] = \tilde x[n,\; c,\; s i + d p]

PyTorch's layout, ``torch.nn.functional.unfold``: (N, C K, L), channel-major rows (all
offsets of channel 0 first), :math:`L = \prod n_{out}` columns (window geometry (3.8) of
:mod:`minidl.functional.windows`). A convolution is then one matrix product,
``weight.reshape(C_out, C K) @ im2col(x)``.

col2im is its adjoint (``torch.nn.functional.fold``): each column entry is *added* back where
it was read from, and the padding cropped,

.. math:: \mathrm{col2im}(z)[n, c, j] = \sum_{(p, i):\ s i + d p - before = j} z[n, cK + q, l]

so :math:`\langle \mathrm{im2col}(x), z\rangle = \langle x, \mathrm{col2im}(z)\rangle`; where
windows overlap (stride < kernel) an input position collects one term per window that reads
it (col2im(im2col(x)) is x times that count, not x). Hence each op's backward is the other:
``im2col_backward`` returns ``col2im(dy)`` and ``col2im_backward`` ``im2col(dy)``.

These are also minidl's own layout-free building blocks: :meth:`Windows.view` /
:meth:`Windows.add_view` (the vectorized code here) serve the convolutions and pools; the loop
twins index every element.
"""

import itertools
import math
from dataclasses import dataclass

import numpy as np

from minidl._validation import check_float_array, check_positive_int
from minidl.functional.contract import InputGrad, check_cache, check_grad
from minidl.functional.windows import Windows, interior, pad_array, window_geometry


@dataclass(frozen=True)
class FoldCache:
    """The window geometry and the image's shape (N, C, *spatial) on the other side."""

    windows: Windows
    image_shape: tuple
    dtype: np.dtype


def _columns_shape(cache):
    n, c = cache.image_shape[:2]
    return (n, c * math.prod(cache.windows.kernel), math.prod(cache.windows.out))


def _im2col_setup(x, kernel_size, dilation, padding, stride, fn):
    x = check_float_array(x, f"{fn} x", ndim=(3, 4, 5))
    win = window_geometry(x.shape[2:], kernel_size, stride, padding, dilation)
    return x, FoldCache(win, x.shape, x.dtype)


def _col2im_setup(x, output_size, kernel_size, dilation, padding, stride, fn):
    x = check_float_array(x, f"{fn} x (the columns)", ndim=3)
    if isinstance(output_size, (int, np.integer)):
        raise TypeError(f"{fn} output_size must be a tuple of 1 to 3 ints, got {output_size!r}")
    output_size = tuple(check_positive_int(v, f"{fn} output_size") for v in output_size)
    if not 1 <= len(output_size) <= 3:
        raise ValueError(f"{fn} output_size must have 1 to 3 ints, got {output_size}")
    win = window_geometry(output_size, kernel_size, stride, padding, dilation)
    rows, n_windows = math.prod(win.kernel), math.prod(win.out)
    if x.shape[1] % rows or x.shape[2] != n_windows:
        raise ValueError(
            f"{fn} x (the columns) must be (N, C * {rows}, {n_windows}) for kernel "
            f"{win.kernel} over output_size {output_size} ({win.out} windows), got {x.shape}"
        )
    shape = (x.shape[0], x.shape[1] // rows) + output_size
    return x, FoldCache(win, shape, x.dtype)


def _check_dy(dy, cache, fn, columns):
    """The contract's shared checks: the cache, and ``dy`` of the output's shape (the
    columns' for im2col, the image's for col2im)."""
    cache = check_cache(cache, FoldCache, fn)
    want = _columns_shape(cache) if columns else cache.image_shape
    return check_grad(dy, want, cache.dtype, fn)


def _unfold(x, cache):
    """The windows of ``x`` as (N, C K, L): a reshape (one copy) of the strided window view."""
    win = cache.windows
    return win.view(win.canvas(x)).reshape(_columns_shape(cache))


def _fold(z, cache):
    """Scatter-add the columns ``z`` onto a zero canvas, one strided addition per kernel
    offset (:meth:`Windows.add_view`), and crop the padding."""
    win = cache.windows
    n, c = cache.image_shape[:2]
    spatial = tuple(m + lo + hi for m, (lo, hi) in zip(win.in_sizes, win.canvas_pads, strict=True))
    canvas = np.zeros((n, c) + spatial, z.dtype)
    win.add_view(canvas, z.reshape((n, c) + win.kernel + win.out))
    return np.ascontiguousarray(win.crop(canvas))


def im2col(x, kernel_size, dilation=1, padding=0, stride=1):
    """Every window of ``x`` as a column, PyTorch's ``unfold`` layout.

    Shape: x (N, C, *in) with 1 to 3 spatial axes -> (N, C prod(k), prod(out))
    """
    return im2col_forward(x, kernel_size, dilation, padding, stride)[0]


def im2col_forward(x, kernel_size, dilation=1, padding=0, stride=1):
    r""":math:`y[n, cK + q, l] = \tilde x[n, c, s i + d p]`; returns ``(y, cache)``.
    ``padding``: an int, a tuple, ``'valid'`` or ``'same'`` (:mod:`minidl.functional.windows`)."""
    x, cache = _im2col_setup(x, kernel_size, dilation, padding, stride, "im2col")
    return _unfold(x, cache), cache


def im2col_backward(dy, cache):
    r"""``InputGrad(dx)``, :math:`dx = \mathrm{col2im}(dy)`: the adjoint scatter-add."""
    dy = _check_dy(dy, cache, "im2col_backward", columns=True)
    return InputGrad(_fold(dy, cache))


def col2im(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Add each column back onto the windows it came from (PyTorch's ``fold``).

    Shape: x (N, C prod(k), L) -> (N, C, *output_size)
    """
    return col2im_forward(x, output_size, kernel_size, dilation, padding, stride)[0]


def col2im_forward(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    r""":math:`y[n, c, j] = \sum_{s i + d p - before = j} x[n, cK + q, l]`; returns
    ``(y, cache)``. ``x`` must have ``prod(out)`` columns, the windows of ``output_size``."""
    x, cache = _col2im_setup(x, output_size, kernel_size, dilation, padding, stride, "col2im")
    return _fold(x, cache), cache


def col2im_backward(dy, cache):
    r"""``InputGrad(dx)``, :math:`dx = \mathrm{im2col}(dy)`: every window of ``dy``."""
    dy = _check_dy(dy, cache, "col2im_backward", columns=False)
    return InputGrad(np.ascontiguousarray(_unfold(dy, cache)))


# ------------------------------------------------------------------ loop twins
def _positions(cache):
    """(row offset q, kernel offset p, column l, output position i) for every pair, the
    formula's indices; ``s i + d p`` is the position on the fully padded input."""
    win = cache.windows
    offsets = list(itertools.product(*(range(k) for k in win.kernel)))
    windows = list(itertools.product(*(range(o) for o in win.out)))
    for q, p in enumerate(offsets):
        for l, i in enumerate(windows):  # noqa: E741 - the formula's l
            yield q, l, tuple(
                s * ia + d * pa for s, d, ia, pa in zip(win.stride, win.dilation, i, p, strict=True)
            )


def _unfold_naive(x, cache):
    win = cache.windows
    padded = pad_array(x, win.pads)
    (n, c), k = x.shape[:2], math.prod(win.kernel)
    y = np.zeros(_columns_shape(cache), x.dtype)
    for q, l, at in _positions(cache):  # noqa: E741
        for b in range(n):
            for ch in range(c):
                y[b, ch * k + q, l] = padded[(b, ch) + at]
    return y


def _fold_naive(z, cache):
    win = cache.windows
    (n, c), k = cache.image_shape[:2], math.prod(win.kernel)
    spatial = tuple(m + lo + hi for m, (lo, hi) in zip(win.in_sizes, win.pads, strict=True))
    padded = np.zeros((n, c) + spatial, z.dtype)
    for q, l, at in _positions(cache):  # noqa: E741
        for b in range(n):
            for ch in range(c):
                padded[(b, ch) + at] += z[b, ch * k + q, l]
    return padded[interior(win.pads, win.in_sizes)].copy()


def im2col_forward_naive(x, kernel_size, dilation=1, padding=0, stride=1):
    """Loop twin of :func:`im2col_forward`: each entry read from the padded input."""
    x, cache = _im2col_setup(x, kernel_size, dilation, padding, stride, "im2col")
    return _unfold_naive(x, cache), cache


def im2col_backward_naive(dy, cache):
    """Loop twin of :func:`im2col_backward`: each entry of dy added where it was read."""
    dy = _check_dy(dy, cache, "im2col_backward", columns=True)
    return InputGrad(_fold_naive(dy, cache))


def col2im_forward_naive(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Loop twin of :func:`col2im_forward`."""
    x, cache = _col2im_setup(x, output_size, kernel_size, dilation, padding, stride, "col2im")
    return _fold_naive(x, cache), cache


def col2im_backward_naive(dy, cache):
    """Loop twin of :func:`col2im_backward`."""
    dy = _check_dy(dy, cache, "col2im_backward", columns=False)
    return InputGrad(_unfold_naive(dy, cache))


__all__ = [
    "FoldCache",
    "col2im",
    "col2im_backward",
    "col2im_backward_naive",
    "col2im_forward",
    "col2im_forward_naive",
    "im2col",
    "im2col_backward",
    "im2col_backward_naive",
    "im2col_forward",
    "im2col_forward_naive",
]
