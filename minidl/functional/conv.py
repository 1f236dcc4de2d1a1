r"""N-d convolution (1-D, 2-D, 3-D from one core) in three tiers: loops, im2col, blocked im2col.

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
None, ``y`` (N, C_out, *out); padding and output sizes as in :mod:`minidl.functional.windows`.

Three tiers compute (3.4) and its gradients, and the tests hold them equal:

1. ``conv_nd_forward_naive`` / ``conv_nd_backward_naive``: the sums as plain loops;
2. ``conv_nd_forward_vectorized`` / ``conv_nd_backward_vectorized``: im2col (every window
   becomes a column of a matrix) and one GEMM, a dozen lines each: read these;
3. ``conv_nd_forward`` / ``conv_nd_backward``: the same im2col, block by block so that the
   windows stay in cache (:mod:`minidl.functional._conv_blocked`); what the layers run. A
   depthwise convolution (one channel per group) sums over kernel offsets instead
   (:mod:`minidl.functional._conv_depthwise`): its per-channel GEMMs are too thin to be fast.
   With stride 1, the windows are gathered as contiguous runs of the flattened input
   (:mod:`minidl.functional._conv_wide`), or, for short output rows, with the images of a
   chunk innermost, so that a run is one output row of all of them
   (:mod:`minidl.functional._conv_images_inner`). A 2-D 3x3 stride-1 conv of 64 channels and
   more (a group's; on one thread from 16; an Intel CPU with AVX-512 has its own thresholds:
   :mod:`minidl.functional._machine`), and a 3-D k x 3 x 3 one from 4, runs Winograd's
   F(2x2, 3x3) instead (:mod:`minidl.functional._conv_winograd`, ``applies``): the same sums
   in 2.25 times fewer multiplications, at a few units in float32's last place; a 2-D 5x5
   one of 64 channels and more (on one thread from 12, as above) F(2x2, 5x5), 2.78 times fewer, at
   about 3e-6 of the largest output in float32; a 1-D conv of 3 taps from 16 channels (of 5
   from 64; as above by the machine) F(2, 3) or F(2, 5) along its axis, 1.5 or 1.67 times fewer
   (:mod:`minidl.functional._conv_winograd_1d`). A conv whose batch's windows fit in
   ``SMALL_COLUMNS_BYTES`` (256 KiB) runs as one chunk on the wide grid, without the chunk
   loops' bookkeeping, which would be most of its time (``_conv_wide.whole_forward``).

``conv_nd_sums`` runs the fast paths without Winograd's: every output the plain sum of its
products, so on integers whose sums the dtype holds it is the exact integer (the integer
layers' accumulator, :mod:`minidl.compression.int_layers`).

The fixed-rank ops ``conv1d``, ``conv2d``, ``conv3d`` are in :mod:`minidl.functional.conv_ranks`.
"""

import math
from dataclasses import dataclass

import numpy as np

from minidl._validation import check_float_array, check_positive_int
from minidl.functional import (
    _conv_blocked,
    _conv_depthwise,
    _conv_images_inner,
    _conv_wide,
    _conv_winograd,
    _conv_winograd_1d,
    _threads,
)
from minidl.functional.contract import ParamGrads, check_cache, check_grad
from minidl.functional.windows import Windows, window_geometry


@dataclass(frozen=True)
class ConvCache:
    """What the backward needs: the input (never its im2col matrix), the weight, the geometry."""

    x: np.ndarray
    weight: np.ndarray
    has_bias: bool
    groups: int
    windows: Windows


# A conv whose whole im2col matrix (every window of the batch) is at most SMALL_COLUMNS_BYTES
# runs as one chunk, one gather and one GEMM per group for the batch (_conv_wide.whole_forward
# and whole_backward): the chunk loops' bookkeeping (chunks, slabs, scratch buffers, their
# worker hand-off) costs some 30-70 us a call, most of a small conv. It first ran as the
# vectorized tier below; forward + backward with dx (without), the chunk loops against that
# tier, us, one thread, best of 7 x 300 (Intel Xeon, December 2026): 1 x 3 x 32 x 32 -> 16
# (3x3, 108 KiB of windows) 194 against 164 (129 against 79); 2 images of it 268 against 248
# (183 against 145); 1 x 1 x 28 x 28 -> 6 (5x5) 148 against 128 (104 against 58); 1 x 6 x 14 x
# 14 -> 16 (5x5) 178 against 149; 1 x 32 x 13 x 13 -> 64 352 against 297; 1 x 1 x 28 x 28 ->
# 32 (3x3, 23 KiB) 152 against 86 (96 against 53); the same at two threads. Above it the chunks
# win or tie: 4 x 3 x 32 x 32 -> 16 (432 KiB) 533 against 579, 8 x 6 x 14 x 14 -> 16 (468 KiB)
# 501 against 646, 1 x 16 x 28 x 28 -> 32 (441 KiB) a tie. The one chunk on the wide grid
# against the vectorized tier: _conv_wide.whole_backward.
SMALL_COLUMNS_BYTES = 256 * 2**10


def _small(x_shape, weight_shape, win, itemsize):
    """Whether the batch's im2col matrix (the windows the chunk loops would gather, as their
    threads weigh them) is at most ``SMALL_COLUMNS_BYTES``."""
    window_bytes, _ = _conv_blocked.gemm_work(x_shape[0], x_shape[1], weight_shape, win,
                                              math.prod(win.out), itemsize)  # fmt: skip
    return window_bytes <= SMALL_COLUMNS_BYTES


def _setup(x, weight, bias, stride, padding, dilation, groups, name):
    """Validate the arguments; return ``(x, weight, bias, cache)`` (D = ``weight.ndim - 2``)."""
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
    if c_in == 0 or c_out == 0 or 0 in weight.shape[2:]:
        raise ValueError(
            f"{name}: in_channels, out_channels and every kernel size must be >= 1, got input "
            f"x of shape {x.shape} and weight of shape {weight.shape} (C_out, C_in/groups, "
            "*kernel)"
        )
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
    win = window_geometry(
        x.shape[2:], weight.shape[2:], stride, padding, dilation, name=f"{name} weight kernel"
    )
    return x, weight, bias, ConvCache(x, weight, bias is not None, groups, win)


def _winograd(x_shape, weight_shape, groups, win):
    """The Winograd module that runs this conv (the 1-D one for 1-D convs), or None."""
    module = _conv_winograd_1d if len(x_shape) == 3 else _conv_winograd
    return module if module.applies(x_shape, weight_shape, groups, win) else None


def _empty_batch_y(weight, win):
    """The output of a batch of N = 0 images: (0, C_out, *out), as PyTorch."""
    return np.zeros((0, weight.shape[0]) + win.out, dtype=weight.dtype)


def _empty_batch_grads(cache, input_grad):
    """The gradients of a batch of N = 0 images: sums over no image, so zero ``dweight`` and
    ``dbias`` and an empty ``dx`` (as PyTorch)."""
    x, weight = cache.x, cache.weight
    dbias = np.zeros(weight.shape[0], dtype=x.dtype) if cache.has_bias else None
    dx = np.zeros(x.shape, dtype=x.dtype) if input_grad else None
    return ParamGrads(dx, np.zeros_like(weight), dbias)


def _check_dy(dy, cache, name):
    """The contract's checks of a backward's arguments (cache type, dy's dtype and shape)."""
    cache = check_cache(cache, ConvCache, name)
    want = (cache.x.shape[0], cache.weight.shape[0]) + cache.windows.out
    return check_grad(dy, want, cache.x.dtype, name)


# ------------------------------------------------------------------------ the public tier
def conv_nd(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""N-d cross-correlation (3.4); D = ``weight.ndim - 2`` spatial axes. Returns ``y``."""
    return conv_nd_forward(x, weight, bias, stride, padding, dilation, groups)[0]


def conv_nd_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""(3.4) by blocked im2col; returns ``(y, cache)`` for :func:`conv_nd_backward`.

    The windows of ``x`` become the columns of a matrix, so the sum is a matrix product
    (:func:`conv_nd_forward_vectorized`), computed block by block of output rows so that the
    windows stay in cache (:mod:`minidl.functional._conv_blocked`); or, for the 3x3 stride-1
    convs of 64 channels and more (on one thread from 16, by the machine: ``_machine``) and the
    k x 3 x 3 ones from 4, by Winograd's F(2x2, 3x3), and the 5x5 stride-1 ones of 64 channels
    and more (on one thread from 12) by F(2x2, 5x5) (:mod:`minidl.functional._conv_winograd`);
    the 1-D stride-1 ones of 3 taps from 16 channels (5 taps from 64; by the machine too) by
    F(2, 3) or F(2, 5) (:mod:`minidl.functional._conv_winograd_1d`); and a small one
    (``SMALL_COLUMNS_BYTES`` of windows for the batch) by one GEMM for the batch, its windows
    gathered as runs of the wide grid (``_conv_wide.whole_forward``).
    """
    x, weight, bias, cache = _setup(x, weight, bias, stride, padding, dilation, groups, "conv_nd")
    return _forward(x, weight, bias, cache.groups, cache.windows), cache


def conv_nd_sums(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""(3.4) with every output the plain sum of its products: ``y`` as :func:`conv_nd`, by the
    same paths but never Winograd's, whose transforms divide (F(2x2, 5x5)'s G holds 1/6 and
    1/24). So on integer-valued ``x`` and ``weight`` whose products and partial sums the dtype
    holds exactly (below 2^53 in float64, 2^24 in float32) every output is the exact integer,
    in any order of summation: the integer layers' accumulator
    (:mod:`minidl.compression.int_layers`), which truncates it to int32."""
    x, weight, bias, cache = _setup(x, weight, bias, stride, padding, dilation, groups, "conv_nd")
    return _forward(x, weight, bias, cache.groups, cache.windows, winograd=False)


def _forward(x, weight, bias, groups, win, winograd=True):
    """y of (3.4) by the fast paths (:func:`conv_nd_forward`); ``winograd=False`` keeps to
    im2col's GEMMs and the depthwise offsets' sums (:func:`conv_nd_sums`)."""
    if x.shape[0] == 0:
        return _empty_batch_y(weight, win)
    if _conv_depthwise.is_depthwise(x.shape, weight.shape, groups):
        return _conv_depthwise.forward(x, weight, bias, win)
    module = _winograd(x.shape, weight.shape, groups, win) if winograd else None
    if module is not None:
        macs = module.macs(x.shape, weight.shape, win)
        with _threads.blas_held_for(x.shape[0], macs):  # as the chunk loops below
            return module.forward(x, weight, bias, groups, win)
    macs = _conv_blocked.gemm_macs(x.shape[0], math.prod(win.out), weight.shape)
    if _small(x.shape, weight.shape, win, x.itemsize):
        with _threads.blas_held_for(x.shape[0], macs):
            return _conv_wide.whole_forward(x, weight, bias, groups, win)
    fast = _chunk_loops(x.shape, weight.shape, groups, win)
    if fast is _conv_wide and _conv_blocked.rows_forward(x.shape, weight.shape, win):
        fast = _conv_blocked  # image by image, by _conv_blocked's row blocks
    with _threads.blas_held_for(x.shape[0], macs):  # the workers' GEMMs, one BLAS thread each
        return fast.forward(x, weight, bias, groups, win)


def conv_nd_backward(dy, cache, input_grad=True):
    r"""Gradients of ``sum(y * dy)`` for (3.4): ``ParamGrads(dx, dweight, dbias)``.

    .. math:: \frac{\partial L}{\partial b[o]} = \sum_{n, \mathbf{i}} dy[n, o, \mathbf{i}],
              \qquad
              \frac{\partial L}{\partial w[o, c, \mathbf{p}]} = \sum_{n, \mathbf{i}}
              dy[n, o, \mathbf{i}]\, x[n, c', \mathbf{s i} + \mathbf{d p}],

    .. math:: \frac{\partial L}{\partial x[n, c', \mathbf{j}]} =
              \sum_{o, \mathbf{p}, \mathbf{i} : \mathbf{s i} + \mathbf{d p} = \mathbf{j}}
              dy[n, o, \mathbf{i}]\, w[o, c, \mathbf{p}]

    (:math:`c' = g(o) C_g + c`): ``dweight = dy col^T`` and ``dcol = w^T dy`` scattered back by
    col2im, chunk by chunk of images (:mod:`minidl.functional._conv_blocked`). ``dbias`` is None
    when the forward had no bias. ``input_grad=False`` skips ``dx`` (None): the first layer of
    a network needs only its weight gradient, and ``dcol`` plus col2im are half the work; for
    its small windows (1-3 channels) ``dweight`` is then summed image by image, reading ``dy``
    in place (``_conv_blocked.weight_grads``).
    """
    dy = _check_dy(dy, cache, "conv_nd_backward")
    if cache.x.shape[0] == 0:
        return _empty_batch_grads(cache, input_grad)
    return ParamGrads(*_backward(dy, cache, input_grad))


def _backward(dy, c, input_grad, weight_grad=True):
    """``(dx, dweight, dbias)`` by the fast paths; ``weight_grad=False`` skips dW (None), for
    :func:`conv_nd_input_grad`."""
    if _conv_depthwise.is_depthwise(c.x.shape, c.weight.shape, c.groups):
        return _conv_depthwise.backward(dy, c.x, c.weight, c.has_bias, c.windows, input_grad,
                                        weight_grad)  # fmt: skip
    winograd = _winograd(c.x.shape, c.weight.shape, c.groups, c.windows)
    if winograd is not None:
        macs = winograd.macs(c.x.shape, c.weight.shape, c.windows)
        with _threads.blas_held_for(c.x.shape[0], macs):
            return winograd.backward(dy, c.x, c.weight, c.has_bias, c.groups, c.windows,
                                     input_grad, weight_grad)  # fmt: skip
    macs = _conv_blocked.gemm_macs(c.x.shape[0], math.prod(c.windows.out), c.weight.shape)
    with _threads.blas_held_for(c.x.shape[0], macs):  # the workers' GEMMs, one BLAS thread each
        if _small(c.x.shape, c.weight.shape, c.windows, c.x.itemsize):
            return _conv_wide.whole_backward(dy, c.x, c.weight, c.has_bias, c.groups, c.windows,
                                             input_grad, weight_grad)  # fmt: skip
        if not input_grad and _conv_blocked.weight_grads_per_image(c.weight.shape, c.windows):
            return _conv_blocked.weight_grads(dy, c.x, c.weight, c.has_bias, c.groups, c.windows)
        fast = _chunk_loops(c.x.shape, c.weight.shape, c.groups, c.windows)
        return fast.backward(dy, c.x, c.weight, c.has_bias, c.groups, c.windows, input_grad,
                             weight_grad)  # fmt: skip


def conv_nd_input_grad(dy, weight, x_shape, stride=1, padding=0, dilation=1, groups=1):
    r"""``dx`` of (3.4) alone, for an input of ``x_shape``: :math:`\partial L / \partial x`
    of :func:`conv_nd_backward` by the same fast paths, the weight gradient skipped. This is
    the transposed convolution's forward (:mod:`minidl.functional.conv_transpose`), whose
    input plays ``dy``: no ``x`` exists, so a read-only zero view of ``x_shape`` stands in
    (the im2col chunk loops still pad it into their canvas, whose shape their col2im needs)."""
    x = np.broadcast_to(np.zeros((), dtype=weight.dtype), x_shape)
    win = window_geometry(x_shape[2:], weight.shape[2:], stride, padding, dilation,
                          name="conv_nd_input_grad weight kernel")  # fmt: skip
    cache = ConvCache(x, weight, False, groups, win)
    dy = _check_dy(dy, cache, "conv_nd_input_grad")
    if x_shape[0] == 0:
        return np.zeros(x_shape, dtype=weight.dtype)
    return _backward(dy, cache, True, weight_grad=False)[0]


def _chunk_loops(x_shape, weight_shape, groups, win):
    """The module whose layout the GEMM conv's chunk loops run on: im2col with the images
    innermost for short output rows (``_conv_images_inner``), else the wide grid where its extra
    columns cost little (``_conv_wide``), else plain im2col (``_conv_blocked``)."""
    if _conv_images_inner.applies(x_shape, weight_shape, win):
        return _conv_images_inner
    if _conv_wide.applies(x_shape, weight_shape, groups, win):
        return _conv_wide
    return _conv_blocked


# -------------------------------------------------------------------- the vectorized tier
def conv_nd_forward_vectorized(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""(3.4) as im2col and one GEMM: ``y = w col + b``, the plain version of the fast path.

    ``col`` (groups, C_g prod(k), N prod(out)) holds every window of the padded input as a
    column, so for each group the sum over channels and kernel offsets is one matrix product.
    """
    x, weight, bias, cache = _setup(x, weight, bias, stride, padding, dilation, groups, "conv_nd")
    if x.shape[0] == 0:  # reshape(..., -1, 0) below cannot infer -1 from no values
        return _empty_batch_y(weight, cache.windows), cache
    return _vectorized_forward(x, weight, bias, cache), cache


def _vectorized_forward(x, weight, bias, cache):
    """y of :func:`conv_nd_forward_vectorized` on checked arguments (a non-empty batch)."""
    win, n, c_out, groups = cache.windows, x.shape[0], weight.shape[0], cache.groups
    col = win.columns(win.canvas(x)).reshape(groups, -1, n * math.prod(win.out))
    y = weight.reshape(groups, c_out // groups, -1) @ col  # (groups, C_out/groups, N prod(out))
    y = y.reshape((c_out, n) + win.out).swapaxes(0, 1)
    if bias is not None:
        y = y + bias.reshape((c_out,) + (1,) * len(win.out))
    return np.ascontiguousarray(y)


def conv_nd_backward_vectorized(dy, cache, input_grad=True):
    r"""The gradients of :func:`conv_nd_backward` as three GEMM-sized steps on the whole batch:
    ``dweight = dy col^T``, ``dcol = w^T dy``, and col2im adds ``dcol`` back onto the windows."""
    dy = _check_dy(dy, cache, "conv_nd_backward_vectorized")
    if cache.x.shape[0] == 0:
        return _empty_batch_grads(cache, input_grad)
    return ParamGrads(*_vectorized_grads(dy, cache, input_grad))


def _vectorized_grads(dy, cache, input_grad, weight_grad=True):
    """``(dx, dweight, dbias)`` of :func:`conv_nd_backward_vectorized` on checked arguments (a
    non-empty batch); ``weight_grad=False`` skips dW (None), as ``_backward``."""
    x, weight, groups, win = cache.x, cache.weight, cache.groups, cache.windows
    c_out, xp, columns = weight.shape[0], win.canvas(x), x.shape[0] * math.prod(win.out)
    dyc = dy.swapaxes(0, 1).reshape(groups, c_out // groups, columns)  # y's layout above
    dw = None
    if weight_grad:
        col = win.columns(xp).reshape(groups, -1, columns)
        dw = (dyc @ col.swapaxes(1, 2)).reshape(weight.shape)
    db = dy.sum(axis=(0, *range(2, dy.ndim))) if cache.has_bias else None
    if not input_grad:
        return None, dw, db
    dcol = weight.reshape(groups, c_out // groups, -1).swapaxes(1, 2) @ dyc
    dxp = np.zeros(xp.shape, dtype=x.dtype)
    win.add_columns(dxp, dcol)
    return np.ascontiguousarray(win.crop(dxp)), dw, db


# ------------------------------------------------------------------------- the loop tier
def conv_nd_forward_naive(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""Equation (3.4) as plain loops: the reference the other tiers are tested against,

    .. math:: y[n, o, \mathbf{i}] = b[o] + \sum_{c, \mathbf{p}}
              x[n, c, \mathbf{s i} + \mathbf{d p}]\, w[o, c, \mathbf{p}].

    This is article 002's convolution sum (3.3) :math:`y(s) = \sum_t x(s - t) k(t)` written as a
    cross-correlation (``+ d p`` where the article has ``- t``), the convention of every
    framework: with ``w = k`` flipped along each spatial axis the two are the same sum ((3.5), for
    stride 1, no padding; ``tests/functional/test_conv.py`` checks it with ``np.convolve``).
    Padding is never materialized: a tap that falls outside the input contributes zero.
    """
    x, weight, bias, cache = _setup(x, weight, bias, stride, padding, dilation, groups, "conv_nd")
    c_out, c_g, *kernel = weight.shape
    o_g, win = c_out // groups, cache.windows
    y = np.zeros((x.shape[0], c_out) + win.out, dtype=x.dtype)
    for n in range(x.shape[0]):
        for o in range(c_out):
            for i in np.ndindex(*win.out):
                acc = bias[o] if bias is not None else 0.0
                for c in range(c_g):
                    for p in np.ndindex(*kernel):
                        j = _tap(i, p, win)
                        if j is not None:
                            acc += x[(n, (o // o_g) * c_g + c) + j] * weight[(o, c) + p]
                y[(n, o) + i] = acc
    return y, cache


def conv_nd_backward_naive(dy, cache, input_grad=True):
    """The backward formulas of :func:`conv_nd_backward` as plain loops over (3.4)'s terms:
    each product x * w in the forward sends dy * w to x and dy * x to w."""
    dy = _check_dy(dy, cache, "conv_nd_backward_naive")
    x, weight, win = cache.x, cache.weight, cache.windows
    c_out, c_g, *kernel = weight.shape
    o_g = c_out // cache.groups
    dx, dw = np.zeros_like(x), np.zeros_like(weight)
    db = np.zeros(c_out, dtype=x.dtype) if cache.has_bias else None
    for n in range(x.shape[0]):
        for o in range(c_out):
            for i in np.ndindex(*win.out):
                g = dy[(n, o) + i]
                if db is not None:
                    db[o] += g
                for c in range(c_g):
                    for p in np.ndindex(*kernel):
                        j = _tap(i, p, win)
                        if j is not None:
                            ci = (o // o_g) * c_g + c
                            dx[(n, ci) + j] += g * weight[(o, c) + p]
                            dw[(o, c) + p] += g * x[(n, ci) + j]
    return ParamGrads(dx if input_grad else None, dw, db)


def _tap(i, p, win):
    """Unpadded input index s*i + d*p - before, or None when it falls in the zero padding."""
    j = tuple(
        s * a + d * b - lo
        for a, b, s, d, (lo, _) in zip(i, p, win.stride, win.dilation, win.pads, strict=True)
    )
    return j if all(0 <= t < m for t, m in zip(j, win.in_sizes, strict=True)) else None
