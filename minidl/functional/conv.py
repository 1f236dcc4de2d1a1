r"""N-d convolution (1-D, 2-D, 3-D from one core): forward, backward and their loop twins.

Numbers (3.k) are the formula numbers of chapter 03
(``chapters/03_linear_analysis_and_convolution.ipynb``).

Source article 002 writes the convolution sum :math:`y(s) = \sum_t x(s - t)\, k(t)` (3.3). Every
framework (PyTorch, TensorFlow, Keras, cuDNN) actually computes the *cross-correlation*

.. math:: y[n, o, \mathbf{i}] = b[o] + \sum_{c} \sum_{\mathbf{p}}
          x[n, g(o) C_g + c, \mathbf{s} \odot \mathbf{i} + \mathbf{d} \odot \mathbf{p}]\,
          w[o, c, \mathbf{p}]                                                        (3.4)

(:math:`\mathbf{i}`, :math:`\mathbf{p}` multi-indices over the D spatial axes, ``s`` stride,
``d`` dilation, ``x`` zero-padded, :math:`C_g = C_{in} / groups` input channels per group and
``g(o)`` the group of output channel ``o``). The two differ only by flipping the kernel:
the article's sum with kernel ``k`` equals this one with ``w = k[::-1]`` on every spatial axis
(for stride 1, no padding, the "valid" part): identity (3.5). Since the kernel is learned, the
flip changes nothing about what a network can represent, so minidl follows the frameworks and
loads their weights as is; ``tests/functional/test_conv.py`` checks the flip against
``np.convolve``.

Shapes: ``x`` (N, C_in, *in), ``weight`` (C_out, C_in / groups, *k), ``bias`` (C_out,) or
None, ``y`` (N, C_out, *out); padding as in :mod:`minidl.functional.padding`.

Vectorized with im2col: a strided view of the padded input lists every window, a copy
gathers it channels-first into ``col`` of shape (N, groups, C_g prod(k), L) (rows contiguous
along the output's last axis, which is what makes the copy fast), and the sum (3.4) is a
batched float32 GEMM ``w @ col``. The backward gathers the windows again, this time with the
batch inside the columns, (groups, C_g prod(k), N L), so that ``dw = dy col^T`` sums over
images and positions in one GEMM (per image, these GEMMs are too small to run fast);
``dcol = w^T dy`` is one more, and col2im is prod(k) strided slice additions into a zero
array. The first layer of a network skips ``dcol`` and col2im (``input_grad=False``).

``col`` is prod(k) times larger than the input (61 MiB for article 000's 64 images of
100x100 and a 5x5 kernel), so it is never built whole: the output is cut into blocks of rows
along its first spatial axis (and its second, when one row is already too much), each
block's windows are gathered into a buffer of at most ``BLOCK_BYTES`` and multiplied at once
(one batched ``np.matmul`` per block, all N images in it; a small input is a single block).
The gather then stays in cache, nothing of size ``col`` is kept between the forward and the
backward, and peak memory stays near PyTorch's. The backward works on chunks of whole images
with at most ``BACKWARD_BYTES`` of windows each.
``conv_nd_naive`` / ``conv_nd_backward_naive`` are the same sums as plain loops; tests hold
them equal.
"""

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from minidl._validation import as_tuple, check_float_array, check_positive_int
from minidl.functional.padding import interior, output_sizes, pad_array, resolve_padding

# Block size (see the module docstring), in output positions per image: at most BLOCK_BYTES
# of gathered windows for the whole batch (2 MiB sits in this machine's caches: 1 MiB L2 per
# core, 32 MiB L3, so the GEMM reads back what the gather just wrote), and per image a GEMM of
# at most GEMM_MACS multiply-adds, which OpenBLAS runs on one thread: a second thread only
# pays off on larger products, and on a loaded 2-core machine each hand-off to it waits for a
# scheduler slot (measured: 5-10x slower steps). MIN_COLUMNS keeps each GEMM wide enough to be
# efficient when the kernel is big (deep layers), where threads do help. Tests shrink these.
BLOCK_BYTES = 2 * 2**20
GEMM_MACS = 2**19
MIN_COLUMNS = 256
# The backward works on chunks of whole images with at most BACKWARD_BYTES of gathered windows
# (at least one image): LeNet-5 and article 003's CNN at batch 128 fit in one or two chunks,
# while article 000's 100x100 images stay bounded in memory.
BACKWARD_BYTES = 16 * 2**20


@dataclass
class ConvCache:
    """What ``conv_nd_backward`` needs from the forward: the input, never its im2col matrix."""

    x: np.ndarray
    weight: np.ndarray
    has_bias: bool
    stride: tuple
    dilation: tuple
    groups: int
    pads: tuple
    out: tuple


def _setup(x, weight, bias, stride, padding, dilation, groups, name="conv_nd"):
    """Validate the arguments; return (x, weight, bias, stride, dilation, groups, pads, out).

    The number of spatial axes D comes from the weight, (C_out, C_in/groups, *kernel).
    """
    weight = check_float_array(weight, f"{name} weight")
    nd = weight.ndim - 2
    if nd < 1:
        raise ValueError(
            f"{name} weight must be (C_out, C_in/groups, *kernel) with >= 1 spatial axis, "
            f"got shape {weight.shape}"
        )
    x = check_float_array(x, f"{name} input x", ndim=nd + 2)
    if x.dtype != weight.dtype:
        raise TypeError(f"{name} weight dtype {weight.dtype} must equal input x dtype {x.dtype}")
    groups = check_positive_int(groups, "groups")
    c_in, c_out = x.shape[1], weight.shape[0]
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"groups={groups} must divide in_channels ({c_in}) and out_channels ({c_out})"
        )
    if weight.shape[1] * groups != c_in:
        raise ValueError(
            f"{name} input x has {c_in} channels but weight {weight.shape} with groups={groups} "
            f"expects {weight.shape[1] * groups}"
        )
    if bias is not None:
        bias = check_float_array(bias, f"{name} bias", ndim=1)
        if bias.shape != (c_out,) or bias.dtype != x.dtype:
            raise ValueError(
                f"{name} bias must have shape ({c_out},) and dtype {x.dtype}, "
                f"got {bias.shape} {bias.dtype}"
            )
    kernel = weight.shape[2:]
    stride = as_tuple(stride, nd, "stride")
    dilation = as_tuple(dilation, nd, "dilation")
    pads = resolve_padding(padding, x.shape[2:], kernel, stride, dilation)
    out = output_sizes(x.shape[2:], kernel, stride, dilation, pads, name=f"{name} weight kernel")
    return x, weight, bias, stride, dilation, groups, pads, out


def _windows(xp, kernel, stride, dilation, out):
    """Read-only view (N, C, *kernel, *out) of the padded input: element [n, c, p, i] is
    xp[n, c, s*i + d*p]. No copy; the copy happens once, in the caller's reshape."""
    sn, sc, *ss = xp.strides
    strides = (sn, sc) + tuple(a * d for a, d in zip(ss, dilation, strict=True))
    strides += tuple(a * s for a, s in zip(ss, stride, strict=True))
    return as_strided(xp, xp.shape[:2] + tuple(kernel) + tuple(out), strides, writeable=False)


def _col_blocks(xp, weight_shape, stride, dilation, out, groups):
    """Yield ``(first, sizes, flat, col)`` for each block of output positions.

    A block spans ``sizes[0]`` rows of the first spatial output axis from ``first[0]`` (and,
    when one such row alone is more than a block, ``sizes[1]`` rows of the second axis from
    ``first[1]``), all of the remaining axes. ``col`` (N, groups, C_g prod(k), prod(sizes))
    holds the block's windows, gathered channels-first by one copy of the strided view;
    ``flat`` is the block's slice of the flattened output positions (contiguous, because the
    blocked axes are the slowest).
    """
    n, c_in = xp.shape[:2]
    kernel = tuple(weight_shape[2:])
    nd = len(kernel)
    win = _windows(xp, kernel, stride, dilation, out)
    rows_of_col = c_in * math.prod(kernel)  # = groups * C_g prod(k)
    macs_per_column = weight_shape[0] // groups * weight_shape[1] * math.prod(kernel)
    positions = min(BLOCK_BYTES // (n * rows_of_col * xp.itemsize), GEMM_MACS // macs_per_column)
    positions = max(positions, MIN_COLUMNS, 1)
    split = 1 if nd == 1 or positions >= math.prod(out[1:]) else 2
    inner = math.prod(out[split:])  # positions in one row of the last blocked axis
    step = max(1, positions // inner)
    for outer in np.ndindex(*out[: split - 1]):  # () when split == 1
        start = sum(i * math.prod(out[j + 1 : split]) for j, i in enumerate(outer))
        for a in range(0, out[split - 1], step):
            b = min(a + step, out[split - 1])
            first = outer + (a,) + (0,) * (nd - split)
            sizes = (1,) * len(outer) + (b - a,) + tuple(out[split:])
            index = tuple(
                slice(f, f + m) for f, m in zip(first[:split], sizes[:split], strict=True)
            )
            block = win[(slice(None),) * (2 + nd) + index]
            flat = slice((start + a) * inner, (start + b) * inner)
            yield first, sizes, flat, block.reshape(n, groups, -1, (b - a) * inner)


def conv_nd(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, return_cache=False):
    r"""N-d cross-correlation (3.4); D = ``weight.ndim - 2`` spatial axes.

    Returns ``y`` of shape (N, C_out, *out), or ``(y, cache)`` with ``return_cache=True`` for
    :func:`conv_nd_backward`. Vectorized by im2col + a batched GEMM per block of output rows
    (module docstring).
    """
    x, weight, bias, stride, dilation, groups, pads, out = _setup(
        x, weight, bias, stride, padding, dilation, groups
    )
    n, c_out = x.shape[0], weight.shape[0]
    w2 = weight.reshape(groups, c_out // groups, -1)
    y = np.empty((n, groups, c_out // groups, math.prod(out)), dtype=x.dtype)
    xp = pad_array(x, pads)
    for _, _, flat, col in _col_blocks(xp, weight.shape, stride, dilation, out, groups):
        yb = np.matmul(w2, col, out=y[..., flat])  # (N, groups, C_out/groups, block)
        if bias is not None:
            yb += bias.reshape(groups, c_out // groups, 1)  # while the block is in cache
    y = y.reshape((n, c_out) + out)
    if not return_cache:
        return y
    return y, ConvCache(x, weight, bias is not None, stride, dilation, groups, pads, out)


def conv_nd_backward(dy, cache, input_grad=True):
    r"""Gradients of ``sum(y * dy)`` for (3.4): returns ``(dx, dweight, dbias)``.

    .. math:: \frac{\partial L}{\partial b[o]} = \sum_{n, \mathbf{i}} dy[n, o, \mathbf{i}],
              \qquad
              \frac{\partial L}{\partial w[o, c, \mathbf{p}]} = \sum_{n, \mathbf{i}}
              dy[n, o, \mathbf{i}]\, x[n, c', \mathbf{s i} + \mathbf{d p}],

    .. math:: \frac{\partial L}{\partial x[n, c', \mathbf{j}]} =
              \sum_{o, \mathbf{p}, \mathbf{i} : \mathbf{s i} + \mathbf{d p} = \mathbf{j}}
              dy[n, o, \mathbf{i}]\, w[o, c, \mathbf{p}]

    (:math:`c' = g(o) C_g + c`). As GEMMs, chunk by chunk of images: the windows are gathered
    with the batch *inside* the columns, ``col`` (groups, C_g prod(k), images x positions), so
    the sum over images and positions in ``dweight += dy col^T`` is one GEMM per group rather
    than one per image; ``dcol = w^T dy`` and col2im scatters it back: for each kernel offset
    ``p`` one strided slice addition ``dxp[:, :, d p + s i] += dcol[:, p, :, i]`` (prod(k)
    additions per chunk, no ``np.add.at``, no loop over the batch). ``dbias`` is None when the
    forward had no bias. ``input_grad=False`` skips ``dx`` (returned as None): the first layer
    of a network needs only its weight gradient, and ``dcol`` plus col2im are half the work.
    """
    x, weight, groups = cache.x, cache.weight, cache.groups
    n, c_in, *in_sizes = x.shape
    c_out, c_g, *kernel = weight.shape
    out, o_g, positions = cache.out, c_out // groups, math.prod(cache.out)
    dy = check_float_array(dy, "conv_nd_backward dy")
    if dy.shape != (n, c_out) + out:
        raise ValueError(f"conv_nd_backward dy must have shape {(n, c_out) + out}, got {dy.shape}")
    dy = dy.astype(x.dtype, copy=False)
    db = dy.sum(axis=(0, *range(2, dy.ndim))) if cache.has_bias else None
    w2 = weight.reshape(groups, o_g, -1)
    dw = np.zeros(w2.shape, dtype=x.dtype)
    xp = pad_array(x, cache.pads)
    dxp = np.zeros(xp.shape, dtype=x.dtype) if input_grad else None
    chunk = max(1, BACKWARD_BYTES // (c_in * math.prod(kernel) * positions * x.itemsize))
    for a in range(0, n, chunk):
        m = min(chunk, n - a)
        col = _batch_inside_cols(xp[a : a + m], kernel, cache.stride, cache.dilation, out, groups)
        # dy of these images as (groups, C_out/groups, images x positions), matching col
        dyc = dy[a : a + m].reshape(m, groups, o_g, positions).transpose(1, 2, 0, 3)
        dyc = dyc.reshape(groups, o_g, m * positions)
        dw += np.matmul(dyc, col.swapaxes(-1, -2))  # dW[g, o, ck] = sum_(n,l) dy col
        if dxp is not None:
            dcol = np.matmul(w2.swapaxes(-1, -2), dyc)  # (groups, C_g prod(k), m positions)
            _col2im(dcol, dxp[a : a + m], kernel, cache.stride, cache.dilation, out)
    dx = None if dxp is None else dxp[interior(cache.pads, in_sizes)]
    return dx, dw.reshape(weight.shape), db


def _batch_inside_cols(xp, kernel, stride, dilation, out, groups):
    """Copy of the windows as (groups, C_g prod(k), N prod(out)): row (c, p), column (n, i)
    holds xp[n, c, s i + d p]. One copy of the strided view, transposed so the batch sits
    inside the columns."""
    nd = len(kernel)
    win = _windows(xp, kernel, stride, dilation, out)  # (N, C, *k, *out)
    perm = (1, *range(2, 2 + nd), 0, *range(2 + nd, 2 + 2 * nd))  # (C, *k, N, *out)
    return win.transpose(perm).reshape(groups, -1, xp.shape[0] * math.prod(out))


def _col2im(dcol, dxp, kernel, stride, dilation, out):
    """dxp[n, c, s i + d p] += dcol[c, p, n, i] for every kernel offset p: one strided slice
    addition per offset (``dcol`` as returned by the GEMM, (groups, C_g prod(k), N prod(out)))."""
    n, c_in = dxp.shape[:2]
    dcol = dcol.reshape((c_in, *kernel, n, *out))
    by_channel = dxp.swapaxes(0, 1)  # (C, N, *padded): a view, additions land in dxp
    for p in np.ndindex(*kernel):
        # outputs i read input d p + s i: a strided slice of dxp
        window = tuple(
            slice(d * q, d * q + s * (m - 1) + 1, s)
            for q, d, s, m in zip(p, dilation, stride, out, strict=True)
        )
        by_channel[(slice(None), slice(None)) + window] += dcol[(slice(None),) + p]


def conv_nd_naive(
    x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, return_cache=False
):
    r"""Equation (3.4) as plain loops: the reference ``conv_nd`` is tested against,

    .. math:: y[n, o, \mathbf{i}] = b[o] + \sum_{c, \mathbf{p}}
              x[n, c, \mathbf{s i} + \mathbf{d p}]\, w[o, c, \mathbf{p}].

    This is article 002's convolution sum (3.3) :math:`y(s) = \sum_t x(s - t) k(t)` written as a
    cross-correlation (``+ d p`` where the article has ``- t``), the convention of every
    framework: with ``w = k`` flipped along each spatial axis the two are the same sum ((3.5), for
    stride 1, no padding; ``tests/functional/test_conv.py`` checks it with ``np.convolve``).
    Padding is never materialized: a tap that falls outside the input contributes zero.
    """
    x, weight, bias, stride, dilation, groups, pads, out = _setup(
        x, weight, bias, stride, padding, dilation, groups, name="conv_nd_naive"
    )
    n_batch, c_in, *in_sizes = x.shape
    c_out, c_g, *kernel = weight.shape
    o_g = c_out // groups
    y = np.zeros((n_batch, c_out) + out, dtype=x.dtype)
    for n in range(n_batch):
        for o in range(c_out):
            for i in np.ndindex(*out):
                acc = bias[o] if bias is not None else 0.0
                for c in range(c_g):
                    for p in np.ndindex(*kernel):
                        j = _tap(i, p, stride, dilation, pads, in_sizes)
                        if j is not None:
                            acc += x[(n, (o // o_g) * c_g + c) + j] * weight[(o, c) + p]
                y[(n, o) + i] = acc
    if not return_cache:
        return y
    return y, ConvCache(x, weight, bias is not None, stride, dilation, groups, pads, out)


def conv_nd_backward_naive(dy, cache):
    """The backward formulas of :func:`conv_nd_backward` as plain loops over (3.4)'s terms:
    each product x * w in the forward sends dy * w to x and dy * x to w."""
    x, weight, groups = cache.x, cache.weight, cache.groups
    n_batch, c_in, *in_sizes = x.shape
    c_out, c_g, *kernel = weight.shape
    o_g = c_out // groups
    dx, dw = np.zeros_like(x), np.zeros_like(weight)
    db = np.zeros(c_out, dtype=x.dtype) if cache.has_bias else None
    for n in range(n_batch):
        for o in range(c_out):
            for i in np.ndindex(*cache.out):
                g = dy[(n, o) + i]
                if db is not None:
                    db[o] += g
                for c in range(c_g):
                    for p in np.ndindex(*kernel):
                        j = _tap(i, p, cache.stride, cache.dilation, cache.pads, in_sizes)
                        if j is not None:
                            ci = (o // o_g) * c_g + c
                            dx[(n, ci) + j] += g * weight[(o, c) + p]
                            dw[(o, c) + p] += g * x[(n, ci) + j]
    return dx, dw, db


def _tap(i, p, stride, dilation, pads, in_sizes):
    """Unpadded input index s*i + d*p - before, or None when it falls in the zero padding."""
    j = tuple(
        s * a + d * b - lo for a, b, s, d, (lo, _) in zip(i, p, stride, dilation, pads, strict=True)
    )
    return j if all(0 <= t < m for t, m in zip(j, in_sizes, strict=True)) else None


def _fixed_rank(nd):
    def forward(
        x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, return_cache=False
    ):
        name = f"conv{nd}d"
        check_float_array(x, f"{name} input x", ndim=nd + 2)
        check_float_array(weight, f"{name} weight", ndim=nd + 2)
        return conv_nd(x, weight, bias, stride, padding, dilation, groups, return_cache)

    forward.__name__ = forward.__qualname__ = f"conv{nd}d"
    forward.__doc__ = (
        f"{nd}-D cross-correlation: :func:`conv_nd` with x {_LAYOUT[nd]} and weight "
        f"(C_out, C_in/groups, *{nd} kernel sizes); same arguments, same return."
    )
    return forward


_LAYOUT = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
conv1d, conv2d, conv3d = _fixed_rank(1), _fixed_rank(2), _fixed_rank(3)
# The backward is rank-agnostic: the cache knows the shapes.
conv1d_backward = conv2d_backward = conv3d_backward = conv_nd_backward
