r"""Where the windows of a sliding-window op lie: padding, output sizes, the strided view.

Convolution and pooling are the same walk over the input (tinygrad's "conv is a pool", JAX's
``lax_reference`` pads and strides both the same way); only what is done inside a window differs.
For one spatial axis with input size ``n``, kernel ``k``, stride ``s``, dilation ``d`` and
``before``/``after`` values added, output position ``i`` reads the inputs
``s i + d p - before`` for ``p = 0 .. k - 1``: the window spans ``d (k - 1) + 1`` samples and

.. math:: n_{out} = \left\lfloor \frac{n + before + after - d (k - 1) - 1}{s} \right\rfloor + 1
          \qquad (3.8)

((3.7) and (3.8) are chapter 03's numbers, ``chapters/03_linear_analysis_and_convolution.ipynb``;
with :math:`p = 0`, :math:`d = 1` this is chapter 04's (4.2)). With ``ceil_mode`` (pooling) the
floor is a ceiling, minus one if that last window would start beyond the input and the left
padding, :math:`(n_{out} - 1) s \ge n + before` (PyTorch's rule): such a window hangs past the
right padding, and the canvas below is made long enough for it.

``padding`` may be

- an int ``p`` or a tuple ``(p_1, ..., p_D)``: ``p_i`` values on *both* sides of axis ``i``
  (PyTorch's convention);
- ``'valid'``: no padding;
- ``'same'``: TensorFlow's SAME. The output has :math:`\lceil n / s \rceil` samples and the
  total padding is :math:`\max((n_{out} - 1) s + d (k - 1) + 1 - n, 0)`, split as
  ``before = total // 2`` and ``after = total - before`` (3.7): when the total is odd the extra
  zero goes at the END. With stride 1 and an odd kernel this is the symmetric ``(k - 1) / 2``
  on each side; with stride > 1 (or an even kernel) it is asymmetric, which PyTorch's integer
  ``padding`` cannot express (PyTorch's own ``padding='same'`` exists only for stride 1).

:func:`window_geometry` resolves all of it once into a :class:`Windows`, whose ``canvas`` is
the padded input (``x`` itself when no window reaches outside it), ``view`` the read-only
strided view ``(N, C, *kernel, *out)`` of every window of a canvas (no copy), ``offsets`` the
strided slice holding one kernel offset of every window, and ``columns`` / ``add_columns`` the
im2col copy and its adjoint col2im.
"""

import functools
import itertools
import math
import numbers
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from minidl._validation import as_tuple, check_positive_int

PADDING_MODES = ("valid", "same")


def resolve_padding(padding, in_sizes, kernel_size, stride, dilation):
    """Return ``((before_1, after_1), ..., (before_D, after_D))`` for the given ``padding``.

    ``in_sizes``, ``kernel_size``, ``stride`` and ``dilation`` are D-tuples of ints (already
    validated by the caller); ``'same'`` follows (3.7). Raises ``ValueError`` naming ``padding``
    for an unknown string, a negative amount or a tuple of the wrong length.
    """
    nd = len(in_sizes)
    expected = f"padding must be an int, a tuple of {nd} ints, 'valid' or 'same', got {padding!r}"
    if isinstance(padding, str):
        mode = padding.lower()
        if mode not in PADDING_MODES:
            raise ValueError(expected)
        if mode == "valid":
            return ((0, 0),) * nd
        pads = []
        for n, k, s, d in zip(in_sizes, kernel_size, stride, dilation, strict=True):
            total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
            pads.append((total // 2, total - total // 2))  # odd total: extra zero at the end
        return tuple(pads)
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        padding = (padding,) * nd
    try:
        padding = tuple(padding)
    except TypeError:
        raise TypeError(expected) from None
    if len(padding) != nd:
        raise ValueError(expected)
    return tuple((p, p) for p in (check_positive_int(p, "padding", minimum=0) for p in padding))


def output_sizes(
    in_sizes, kernel_size, stride, dilation, pads, ceil_mode=False, name="kernel_size"
):
    """Output size per axis, (3.8) in the module docstring; checks the window fits.

    Raises ``ValueError`` naming ``name`` when the dilated kernel is larger than the padded
    input on some axis (the output would be empty).
    """
    out = []
    for axis, (n, k, s, d, (lo, hi)) in enumerate(
        zip(in_sizes, kernel_size, stride, dilation, pads, strict=True)
    ):
        span = d * (k - 1) + 1
        if span > n + lo + hi:
            raise ValueError(
                f"{name} {tuple(kernel_size)} (dilated extent {span} on spatial axis {axis}) is "
                f"larger than the padded input ({n} + {lo} + {hi} = {n + lo + hi}); "
                f"input spatial size {tuple(in_sizes)}"
            )
        room = n + lo + hi - span
        size = (-(-room // s) if ceil_mode else room // s) + 1
        if ceil_mode and (size - 1) * s >= n + lo:  # the last window would start in the padding
            size -= 1
        out.append(size)
    return tuple(out)


def padded_shape(shape, pads):
    """The shape of an array of ``shape`` (N, C, *spatial) padded by ``pads``."""
    return tuple(shape[:2]) + tuple(
        n + lo + hi for n, (lo, hi) in zip(shape[2:], pads, strict=True)
    )


def pad_array(x, pads, value=0.0, out=None):
    """Return ``x`` with ``pads[i] = (before, after)`` values added around spatial axis ``i``.

    The first two axes (N, C) are not padded. Returns ``x`` itself when nothing is padded,
    else a new array of the same dtype (an empty array filled once and one slice assignment,
    cheaper than ``np.pad``), or ``out`` (of the padded shape) filled that way.
    """
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return x
    if out is None:
        out = np.empty(padded_shape(x.shape, pads), dtype=x.dtype)
    out.fill(value)
    out[interior(pads, x.shape[2:])] = x
    return out


def interior(pads, in_sizes):
    """The index that selects the unpadded input back out of a padded array."""
    return (slice(None), slice(None)) + tuple(
        slice(lo, lo + n) for (lo, _), n in zip(pads, in_sizes, strict=True)
    )


@dataclass(frozen=True)
class Windows:
    """Where every window of a sliding-window op lies, per spatial axis (all D-tuples).

    ``pads`` are the ``(before, after)`` amounts the op's formula counts (an average pool
    divides by them); ``out`` the output sizes (3.8).
    """

    in_sizes: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    pads: tuple
    out: tuple

    @functools.cached_property  # a Windows is frozen, and the fast paths ask for it often
    def canvas_pads(self):
        """The padding a canvas needs so that every window lies on it: ``before`` as given,
        ``after`` only as far as the last window reaches (past ``pads`` in ceil mode)."""
        return tuple(
            (lo, max(0, (o - 1) * s + d * (k - 1) + 1 - n - lo))
            for n, k, s, d, (lo, _), o in zip(
                self.in_sizes, self.kernel, self.stride, self.dilation, self.pads, self.out,
                strict=True,
            )
        )  # fmt: skip

    def canvas(self, x, fill=0.0):
        """``x`` padded with ``fill`` (``x`` itself when no window reaches outside it)."""
        return pad_array(x, self.canvas_pads, fill)

    def crop(self, canvas):
        """The part of a canvas-shaped array that lies on ``x``."""
        return canvas[self._interior]

    @functools.cached_property
    def _interior(self):
        return interior(self.canvas_pads, self.in_sizes)

    def view(self, canvas):
        """Read-only view ``(N, C, *kernel, *out)`` of a canvas: element ``[n, c, p, i]`` is
        ``canvas[n, c, s i + d p]``. No copy; a reshape of it is the im2col matrix."""
        sn, sc, *ss = canvas.strides
        strides = (sn, sc) + tuple(a * d for a, d in zip(ss, self.dilation, strict=True))
        strides += tuple(a * s for a, s in zip(ss, self.stride, strict=True))
        shape = canvas.shape[:2] + self.kernel + self.out
        return as_strided(canvas, shape, strides, writeable=False)

    def columns(self, canvas, out=None):
        """im2col: the windows of a canvas copied into the columns of a matrix of shape
        (C prod(k), N prod(out)); row (c, p), column (n, i) holds ``canvas[n, c, s i + d p]``.
        ``out``, if given, is a C-contiguous array of that many elements to copy into."""
        nd = len(self.kernel)
        perm = (1, *range(2, 2 + nd), 0, *range(2 + nd, 2 + 2 * nd))  # (C, *k, N, *out)
        rows = canvas.shape[1] * math.prod(self.kernel)
        windows = self.view(canvas).transpose(perm)
        if out is None:
            return windows.reshape(rows, -1)
        np.copyto(out.reshape(windows.shape), windows)
        return out.reshape(rows, -1)

    def add_view(self, dcanvas, dview):
        """The adjoint of :meth:`view`: ``dcanvas[n, c, s i + d p] += dview[n, c, p, i]``, one
        strided slice addition per kernel offset ``p`` (no ``np.add.at``)."""
        for p, window in zip(self._kernel_offsets, self._offset_slices, strict=True):
            dcanvas[window] += dview[(slice(None), slice(None)) + p]

    @functools.cached_property
    def _kernel_offsets(self):
        return tuple(np.ndindex(*self.kernel))

    def add_columns(self, dcanvas, dcol):
        """col2im, the adjoint of :meth:`columns`: ``dcanvas[n, c, s i + d p] += dcol[(c, p),
        (n, i)]``."""
        n, c = dcanvas.shape[:2]
        dview = np.moveaxis(dcol.reshape((c, *self.kernel, n, *self.out)), 1 + len(self.kernel), 1)
        # (C, N, ...) on both sides: each addition runs along dcol's own memory order
        self.add_view(dcanvas.swapaxes(0, 1), dview)

    def offsets(self):
        """For each kernel offset ``p`` (raster order), the index of the strided slice of a
        canvas that holds offset ``p`` of every window: ``[..., d p + s i]`` over ``i``."""
        return iter(self._offset_slices)

    @functools.cached_property  # made once per geometry: the ops walk them at every call
    def _offset_slices(self):
        return tuple(
            (Ellipsis,) + tuple(
                slice(d * q, d * q + s * (o - 1) + 1, s)
                for q, d, s, o in zip(p, self.dilation, self.stride, self.out, strict=True)
            )
            for p in itertools.product(*(range(k) for k in self.kernel))
        )  # fmt: skip


def window_geometry(
    in_sizes, kernel_size, stride, padding, dilation=1, ceil_mode=False, name="kernel_size"
):
    """Validate the window arguments for input spatial sizes ``in_sizes``; return ``Windows``.

    ``kernel_size``, ``stride`` and ``dilation`` are ints or D-tuples (each >= 1); ``padding``
    as in the module docstring. Errors name the argument.

    A layer asks for the same geometry at every call, and working it out again with its
    argument checks was a good part of a small conv's fixed cost, so results are remembered
    per arguments (errors are not). With the wide grid's layout remembered too, a conv layer's
    forward + backward of one 3 x 32 x 32 image into 16 channels went from 235 to 170 us.
    """
    args = (in_sizes, kernel_size, stride, padding, dilation, ceil_mode, name)
    key = _typed(args)
    try:
        return _GEOMETRIES[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable argument (a list): worked out, not remembered
        return _window_geometry(*args)
    win = _window_geometry(*args)
    if len(_GEOMETRIES) >= 1024:
        _GEOMETRIES.clear()
    _GEOMETRIES[key] = win
    return win


_GEOMETRIES = {}


def _typed(args):
    """``args`` with the type of each argument and of each entry of a tuple beside them: 2, 2.0
    and True are equal keys of a dict, but only the int is a valid stride. (One level is
    enough: no valid argument nests tuples.)"""
    return args, tuple(tuple(map(type, a)) if type(a) is tuple else type(a) for a in args)


def _window_geometry(in_sizes, kernel_size, stride, padding, dilation, ceil_mode, name):
    nd = len(in_sizes)
    kernel = as_tuple(kernel_size, nd, "kernel_size")
    stride = as_tuple(stride, nd, "stride")
    dilation = as_tuple(dilation, nd, "dilation")
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"ceil_mode must be a bool, got {ceil_mode!r}")
    pads = resolve_padding(padding, in_sizes, kernel, stride, dilation)
    out = output_sizes(in_sizes, kernel, stride, dilation, pads, bool(ceil_mode), name)
    return Windows(tuple(in_sizes), kernel, stride, dilation, pads, out)
