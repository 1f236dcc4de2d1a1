r"""Transposed convolution (1-D, 2-D, 3-D from one core), as PyTorch's ``conv_transpose*``.

The transposed convolution is the adjoint of the convolution (3.4) in its input: each input
value scatters a weighted copy of the kernel onto the output,

.. math:: y[n, g C'_g + o, \mathbf{s} \odot \mathbf{i} + \mathbf{d} \odot \mathbf{p} - \mathbf{pad}]
          \mathrel{+}= x[n, c, \mathbf{i}]\; w[c, o, \mathbf{p}], \qquad y \mathrel{+}= b

for input channel ``c`` of group ``g`` and output channel ``o`` of that group
(:math:`C'_g = C_{out} / groups`). PyTorch's weight layout is ``(C_in, C_out / groups, *k)``:
exactly the layout of the convolution ``y -> x`` it is the adjoint of. Output size per axis:

.. math:: O = (L - 1)\, s - 2\, pad + d (k - 1) + output\_padding + 1

(``output_padding`` < max(stride, dilation) adds rows at the end, to pick one of the sizes a
strided convolution maps onto the same L). So the forward is that convolution's input
gradient (col2im of :math:`w^\top x`, :meth:`Windows.add_columns`) and the backward is that
convolution itself: :math:`dx = \mathrm{conv}(dy, w)`, :math:`dw = x\, \mathrm{col}(dy)^\top`.
Where the work pays for it, both run on the convolution's own fast paths (blocked im2col,
Winograd, worker threads): the forward as :func:`~minidl.functional.conv.conv_nd_input_grad`,
the backward as :func:`~minidl.functional.conv.conv_nd_forward` (dx) and the weight gradient
of :func:`~minidl.functional.conv.conv_nd_backward` (dw); ``*_vectorized`` are the same in a
few lines, and the loop twins scatter term by term.
"""

import math
from dataclasses import dataclass

import numpy as np

from minidl._validation import as_tuple, check_float_array, check_positive_int
from minidl.functional.contract import ParamGrads, check_cache, check_grad
from minidl.functional.conv import conv_nd_backward, conv_nd_forward, conv_nd_input_grad
from minidl.functional.windows import Windows, pad_array, window_geometry


@dataclass(frozen=True)
class ConvTransposeCache:
    """The input, the weight, the groups, the window geometry of the adjoint convolution over
    the padded output (``canvas``), and the crop (``pads``, per axis) from canvas to output."""

    x: np.ndarray
    weight: np.ndarray
    has_bias: bool
    groups: int
    windows: Windows
    pads: tuple
    out: tuple


def _setup(x, weight, bias, stride, padding, output_padding, groups, dilation, name):
    weight = check_float_array(weight, f"{name} weight")
    nd = weight.ndim - 2
    if nd < 1:
        raise ValueError(f"{name} weight must be (C_in, C_out/groups, *kernel), got {weight.shape}")
    x = check_float_array(x, f"{name} x", ndim=nd + 2)
    if x.dtype != weight.dtype:
        raise TypeError(f"{name} weight dtype {weight.dtype} must equal x dtype {x.dtype}")
    groups = check_positive_int(groups, "groups")
    c_in, c_out = x.shape[1], weight.shape[1] * groups
    if weight.shape[0] != c_in or c_in % groups:
        raise ValueError(f"{name} weight {weight.shape} is (C_in, C_out/groups, *k): C_in must be "
                         f"x's {c_in} channels, divisible by groups={groups}")  # fmt: skip
    if bias is not None:
        bias = check_float_array(bias, f"{name} bias", ndim=1)
        if bias.shape != (c_out,) or bias.dtype != x.dtype:
            raise ValueError(f"{name} bias must have shape ({c_out},) and dtype {x.dtype}, "
                             f"got {bias.shape} {bias.dtype}")  # fmt: skip
    kernel = weight.shape[2:]
    stride, dilation = as_tuple(stride, nd, "stride"), as_tuple(dilation, nd, "dilation")
    pads = as_tuple(padding, nd, "padding", minimum=0)
    extra = as_tuple(output_padding, nd, "output_padding", minimum=0)
    for e, s, d in zip(extra, stride, dilation, strict=True):
        if e >= max(s, d):
            raise ValueError(
                f"output_padding must be smaller than stride or dilation, got "
                f"output_padding={extra}, stride={stride}, dilation={dilation}"
            )
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + e + 1 for n, s, p, d, k, e in
                zip(x.shape[2:], stride, pads, dilation, kernel, extra, strict=True))  # fmt: skip
    if min(out) < 1:
        raise ValueError(f"{name} output size {out} must be positive: padding {pads} too large")
    canvas = tuple(o + 2 * p for o, p in zip(out, pads, strict=True))
    # the convolution canvas -> x; its output covers x (and more when output_padding >= stride)
    win = window_geometry(canvas, kernel, stride, 0, dilation, name=f"{name} weight kernel")
    return x, weight, bias, ConvTransposeCache(x, weight, bias is not None, groups, win, pads, out)


def _check_dy(dy, cache, name):
    """The contract's shared checks: the cache, and ``dy`` of the output's shape."""
    cache = check_cache(cache, ConvTransposeCache, name)
    want = (cache.x.shape[0], cache.weight.shape[1] * cache.groups) + cache.out
    return check_grad(dy, want, cache.x.dtype, name)


def _x_on_windows(x, win):
    """x zero-padded at the end to the adjoint convolution's output size (the windows)."""
    return pad_array(x, tuple((0, o - n) for o, n in zip(win.out, x.shape[2:], strict=True)))


def _crop(canvas, pads, out):
    return canvas[(slice(None), slice(None)) + tuple(
        slice(p, p + o) for p, o in zip(pads, out, strict=True))]  # fmt: skip


def conv_transpose_nd(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                      dilation=1):  # fmt: skip
    r"""N-d transposed convolution (module docstring); D = ``weight.ndim - 2``. Returns ``y``."""
    return conv_transpose_nd_forward(x, weight, bias, stride, padding, output_padding, groups,
                                     dilation)[0]  # fmt: skip


def conv_transpose_nd_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1):  # fmt: skip
    r"""``y = crop(col2im(w^T x)) + b``, the input gradient of the adjoint convolution with
    ``x`` as its output's gradient, by the convolution's fast paths
    (:func:`~minidl.functional.conv.conv_nd_input_grad`: chunked col2im, Winograd, worker
    threads) where the work pays for them (``_fast_forward``), else by
    :func:`conv_transpose_nd_forward_vectorized`; returns ``(y, cache)``."""
    x, weight, bias, cache = _setup(x, weight, bias, stride, padding, output_padding, groups,
                                    dilation, "conv_transpose_nd")  # fmt: skip
    if not _fast_forward(cache):
        return _forward_vectorized(x, weight, bias, cache), cache
    win, n = cache.windows, x.shape[0]
    y_shape = (n, weight.shape[1] * groups) + cache.out
    y = conv_nd_input_grad(_x_on_windows(x, win), weight, y_shape, win.stride, cache.pads,
                           win.dilation, groups)  # fmt: skip
    if bias is not None:
        y += bias.reshape((-1,) + (1,) * len(cache.out))
    return y, cache


def conv_transpose_nd_forward_vectorized(x, weight, bias=None, stride=1, padding=0,
                                         output_padding=0, groups=1, dilation=1):  # fmt: skip
    r"""``y = crop(col2im(w^T x)) + b``: for each group one GEMM
    (C'_g prod(k), C_g) x (C_g, N L) and the columns added back onto a zero canvas."""
    x, weight, bias, cache = _setup(x, weight, bias, stride, padding, output_padding, groups,
                                    dilation, "conv_transpose_nd")  # fmt: skip
    return _forward_vectorized(x, weight, bias, cache), cache


def _forward_vectorized(x, weight, bias, cache):
    groups, win, n, c_in = cache.groups, cache.windows, x.shape[0], x.shape[1]
    c_out = weight.shape[1] * groups
    xg = _x_on_windows(x, win).swapaxes(0, 1).reshape(groups, c_in // groups, -1)
    cols = weight.reshape(groups, c_in // groups, -1).swapaxes(1, 2) @ xg
    canvas = np.zeros((n, c_out) + win.in_sizes, dtype=x.dtype)
    win.add_columns(canvas, cols)
    y = _crop(canvas, cache.pads, cache.out)
    if bias is not None:
        y = y + bias.reshape((c_out,) + (1,) * len(cache.out))
    return np.ascontiguousarray(y)


# Both passes run on the convolution's fast paths from FAST_MIN_MACS multiply-adds (of one
# product); below, the vectorized lines (one GEMM on the whole batch, its dy gathered once for
# both products in the backward) cost less than the conv's calls. The backward, which makes two
# conv calls that gather dy once each, needs more at a stride above 1: FAST_MIN_MACS_STRIDED on
# inputs of at least FAST_MIN_POSITIONS positions an image. Best of 10, one thread, vectorized
# against the conv's paths (AMD EPYC, December 2026). Forward: 32 x 64 x 28 x 28 -> 64 (3x3)
# 46.3 -> 18.1 ms, 8 x 32 x 56 x 56 -> 32 (4x4, stride 2) 48.5 -> 14.9, 32 x 64 x 14 x 14 ->
# 32 (4x4, stride 2) 9.1 -> 7.2, 8 x 128 x 7 x 7 -> 64 (same) 2.07 -> 1.81, but 2 x 16 x 8 x 8
# -> 8 (3x3) 0.08 -> 0.12. Backward: 32 x 64 x 28 x 28 -> 64 66.3 -> 36.6, 32 x 16 x 28 x 28
# -> 16 6.2 -> 4.7, 32 x 64 x 7 x 7 -> 64 3.7 -> 3.3, but 8 x 32 x 7 x 7 -> 16 0.19 -> 0.28;
# stride 2: 8 x 64 x 28 x 28 -> 32 (3x3) 13.3 -> 8.2, 8 x 32 x 56 x 56 -> 32 (4x4) 41.3 ->
# 31.2; on 14 x 14 inputs within 10% either way (32 x 64 -> 32, 4x4, 13.0 -> 12.2; 32 x 128 ->
# 64 43.2 -> 41.6; 8 x 64 -> 32 2.9 -> 3.2), and slower on smaller ones (32 x 128 x 7 x 7 ->
# 64 11.1 -> 12.0, 64 x 256 x 4 x 4 -> 128 26.2 -> 29.6).
FAST_MIN_MACS = 2**23
FAST_MIN_MACS_STRIDED = 2**25
FAST_MIN_POSITIONS = 400


def _macs(cache):
    """Multiply-adds of one product of the transposed conv, and its input's positions."""
    x, weight = cache.x, cache.weight
    positions = math.prod(x.shape[2:])
    return x.shape[0] * positions * weight.shape[0] * math.prod(weight.shape[1:]), positions


def _fast_forward(cache):
    """Whether the forward takes the convolution's paths (above)."""
    return _macs(cache)[0] >= FAST_MIN_MACS


def _fast_backward(cache):
    """Whether the backward takes the convolution's paths (above)."""
    macs, positions = _macs(cache)
    if all(s == 1 for s in cache.windows.stride):
        return macs >= FAST_MIN_MACS
    return macs >= FAST_MIN_MACS_STRIDED and positions >= FAST_MIN_POSITIONS


def conv_transpose_nd_backward(dy, cache):
    r"""``ParamGrads(dx, dweight, dbias)`` by the convolution's own fast paths: the adjoint
    convolution (stride, dilation, groups, and ``padding`` the crop) of ``dy`` by ``w`` is
    :math:`dx` (:func:`~minidl.functional.conv.conv_nd_forward`: blocked im2col, Winograd,
    worker threads), and that convolution's weight gradient, with ``x`` as its output's
    gradient, is :math:`dw` (:func:`~minidl.functional.conv.conv_nd_backward`);
    :math:`db = \sum dy`. The same sums as :func:`conv_transpose_nd_backward_vectorized`, which
    runs instead where the work is too small to pay for two conv calls (``_fast_backward``)."""
    dy = _check_dy(dy, cache, "conv_transpose_nd_backward")
    if not _fast_backward(cache):
        return conv_transpose_nd_backward_vectorized(dy, cache)
    x, weight, groups, win = cache.x, cache.weight, cache.groups, cache.windows
    dx, conv_cache = conv_nd_forward(dy, weight, None, win.stride, cache.pads, win.dilation,
                                     groups)  # fmt: skip
    dx = _crop(dx, (0,) * (x.ndim - 2), x.shape[2:])  # the windows may overhang x's end
    dw = conv_nd_backward(_x_on_windows(x, win), conv_cache, input_grad=False).dweight
    db = dy.sum(axis=(0, *range(2, dy.ndim))) if cache.has_bias else None
    return ParamGrads(np.ascontiguousarray(dx), dw, db)


def conv_transpose_nd_backward_vectorized(dy, cache):
    r"""``ParamGrads(dx, dweight, dbias)``: with ``col`` the im2col of ``dy`` padded back to the
    canvas, :math:`dx = w\, \mathrm{col}` (the convolution of dy by w), :math:`dw = x\,
    \mathrm{col}^\top`, :math:`db = \sum dy`: three lines to read beside the fast path."""
    dy = _check_dy(dy, cache, "conv_transpose_nd_backward_vectorized")
    x, weight, groups, win = cache.x, cache.weight, cache.groups, cache.windows
    n, c_in = x.shape[:2]
    dy_canvas = pad_array(dy, tuple((p, p) for p in cache.pads))
    col = win.columns(dy_canvas).reshape(groups, -1, n * math.prod(win.out))
    w = weight.reshape(groups, c_in // groups, -1)
    dx = (w @ col).reshape((c_in, n) + win.out).swapaxes(0, 1)
    dx = _crop(dx, (0,) * (x.ndim - 2), x.shape[2:])
    xg = _x_on_windows(x, win).swapaxes(0, 1).reshape(groups, c_in // groups, -1)
    dw = (xg @ col.swapaxes(1, 2)).reshape(weight.shape)
    db = dy.sum(axis=(0, *range(2, dy.ndim))) if cache.has_bias else None
    return ParamGrads(np.ascontiguousarray(dx), dw, db)


def conv_transpose_nd_forward_naive(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                                    groups=1, dilation=1):  # fmt: skip
    """Loop twin of :func:`conv_transpose_nd_forward`: every product x * w scattered to its
    output position (dropped when it falls in the cropped padding)."""
    x, weight, bias, cache = _setup(x, weight, bias, stride, padding, output_padding, groups,
                                    dilation, "conv_transpose_nd")  # fmt: skip
    c_in, o_g, *kernel = weight.shape
    c_g = c_in // groups
    y = np.zeros((x.shape[0], o_g * groups) + cache.out, dtype=x.dtype)
    for n in range(x.shape[0]):
        for c in range(c_in):
            for i in np.ndindex(*x.shape[2:]):
                for o in range(o_g):
                    for p in np.ndindex(*kernel):
                        j = _target(i, p, cache)
                        if j is not None:
                            y[(n, (c // c_g) * o_g + o) + j] += x[(n, c) + i] * weight[(c, o) + p]
    if bias is not None:
        for o in range(y.shape[1]):
            y[:, o] += bias[o]
    return y, cache


def conv_transpose_nd_backward_naive(dy, cache):
    """Loop twin of :func:`conv_transpose_nd_backward`: each product x * w of the forward
    sends dy * w to x and dy * x to w."""
    dy = _check_dy(dy, cache, "conv_transpose_nd_backward")
    x, weight = cache.x, cache.weight
    c_in, o_g, *kernel = weight.shape
    c_g = c_in // cache.groups
    dx, dw = np.zeros_like(x), np.zeros_like(weight)
    for n in range(x.shape[0]):
        for c in range(c_in):
            for i in np.ndindex(*x.shape[2:]):
                for o in range(o_g):
                    for p in np.ndindex(*kernel):
                        j = _target(i, p, cache)
                        if j is not None:
                            g = dy[(n, (c // c_g) * o_g + o) + j]
                            dx[(n, c) + i] += g * weight[(c, o) + p]
                            dw[(c, o) + p] += g * x[(n, c) + i]
    db = dy.sum(axis=(0, *range(2, dy.ndim))) if cache.has_bias else None
    return ParamGrads(dx, dw, db)


def _target(i, p, cache):
    """Output index s*i + d*p - pad, or None when it falls outside the output."""
    win = cache.windows
    j = tuple(s * a + d * b - pad for a, b, s, d, pad in
              zip(i, p, win.stride, win.dilation, cache.pads, strict=True))  # fmt: skip
    return j if all(0 <= t < o for t, o in zip(j, cache.out, strict=True)) else None
