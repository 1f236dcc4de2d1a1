r"""Batch normalization (Ioffe & Szegedy, 2015) with PyTorch's conventions; source article 003.

Input ``(N, C)``, ``(N, C, L)``, ``(N, C, H, W)`` or ``(N, C, D, H, W)``: every channel ``c``
is normalized with statistics over all other axes, :math:`n = N \cdot L` values (``L`` the
product of the spatial sizes). Numbers (4.10) and (4.11) are chapter 04's
(``chapters/04_cnn_optimization.ipynb``). In training, with the batch statistics

.. math::

    \mu_c = \frac1n \sum_i x_i, \qquad v_c = \frac1n \sum_i (x_i - \mu_c)^2 \quad
    \text{(biased)}, \qquad \hat x_i = \frac{x_i - \mu_c}{\sqrt{v_c + \epsilon}}, \qquad
    y_i = \gamma_c \hat x_i + \beta_c,    \qquad (4.10)

and the running estimates, with ``momentum`` :math:`m` the weight of the *new* value
(PyTorch's convention; Keras' ``momentum=0.99`` is :math:`1 - m`) and the *unbiased*
variance :math:`\frac{n}{n-1} v_c`:

.. math::

    \bar\mu \leftarrow (1 - m)\,\bar\mu + m\,\mu_c, \qquad
    \bar v \leftarrow (1 - m)\,\bar v + m\,\tfrac{n}{n-1}\,v_c.    \qquad (4.11)

In evaluation :math:`\hat x = (x - \bar\mu)/\sqrt{\bar v + \epsilon}`, a fixed affine map.

**Backward (training).** Write :math:`\sigma = \sqrt{v + \epsilon}` and
:math:`g_i = \partial L/\partial \hat x_i = \gamma\, dy_i`. Because
:math:`\partial \mu / \partial x_j = 1/n` and
:math:`\partial \sigma / \partial x_j = \frac{1}{2\sigma} \cdot \frac2n (x_j - \mu) = \hat x_j / n`
(the :math:`\mu`-term of :math:`\partial v` vanishes since :math:`\sum_i (x_i - \mu) = 0`),

.. math::

    \frac{\partial \hat x_i}{\partial x_j}
      = \frac{1}{\sigma}\Big(\delta_{ij} - \frac1n\Big)
        - \frac{x_i - \mu}{\sigma^2}\,\frac{\hat x_j}{n}
      = \frac{1}{\sigma}\Big(\delta_{ij} - \frac1n - \frac{\hat x_i \hat x_j}{n}\Big),

so :math:`dx_j = \sum_i g_i\, \partial \hat x_i / \partial x_j` is the compact formula

.. math::

    dx = \frac{\gamma}{n \sigma}\Big(n\, dy - \sum_i dy_i - \hat x \sum_i dy_i \hat x_i\Big),
    \qquad d\gamma = \sum_i dy_i \hat x_i, \qquad d\beta = \sum_i dy_i.

In evaluation the statistics are constants, so :math:`dx = \gamma\, dy / \sqrt{\bar v + \epsilon}`.

The article writes only :math:`x_{normalized} = (x - \mu)/\sigma`; :func:`batch_norm_literal`
keeps that version and says what it lacks. The loop twins in
:mod:`minidl.functional.batchnorm_naive` go channel by channel with explicit sums, and the
backward twin follows the step-by-step chain rule (through :math:`v` and :math:`\mu`) rather than
the compact formula, so the two are independent.
"""

from dataclasses import dataclass

import numpy as np

from minidl._validation import check_float_array, check_fraction, check_nonnegative
from minidl.functional import _threads
from minidl.functional._ufunc_buffer import with_rows_in_place
from minidl.functional.contract import ParamGrads, check_cache, check_grad


def check_batch_norm_args(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """Validate the arguments of :func:`batch_norm`; return ``(x, n, momentum, eps)`` with
    ``n`` the number of values per channel."""
    fn = "batch_norm"
    x = check_float_array(x, f"{fn} x", ndim=(2, 3, 4, 5))
    c = x.shape[1]
    if c == 0:
        raise ValueError(f"{fn}: x must have at least 1 channel (axis 1), got shape {x.shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fn}: give both running_mean and running_var, or neither")
    per_channel = {
        "weight": weight,
        "bias": bias,
        "running_mean": running_mean,
        "running_var": running_var,
    }
    for name, a in per_channel.items():
        if a is None:
            continue
        check_float_array(a, f"{fn} {name}", ndim=1)
        if training and name.startswith("running") and not a.flags.writeable:
            raise ValueError(
                f"{fn}: {name} is read-only, but training=True updates it in place; pass a "
                "writeable array (e.g. its .copy()), or training=False"
            )
        if a.shape != (c,):
            raise ValueError(
                f"{fn}: {name} must have shape ({c},), one entry per channel of x "
                f"{x.shape}, got {a.shape}"
            )
        if name in ("weight", "bias") and a.dtype != x.dtype:
            raise TypeError(f"{fn}: {name} has dtype {a.dtype} but x has {x.dtype}")
    if not training and running_mean is None:
        raise ValueError(f"{fn}: training=False needs running_mean and running_var")
    n = x.size // c
    if training and n == 1:
        raise ValueError(
            f"{fn}: expected more than 1 value per channel when training, got input x of "
            f"shape {x.shape}"
        )
    return x, n, check_fraction(momentum, "momentum"), check_nonnegative(eps, "eps")


@dataclass(frozen=True)
class BatchNormCache:
    r"""What the backward needs: the input, the per-channel mean and :math:`1/\sigma` that
    normalized it (batch statistics in training, the running ones in evaluation), gamma (None
    without affine), the mode and eps."""

    x: np.ndarray
    mean: np.ndarray
    invstd: np.ndarray
    weight: np.ndarray | None
    training: bool
    eps: float


def check_dy(dy, cache):
    """The contract's checks of a backward's arguments (cache type, dy's dtype and shape)."""
    cache = check_cache(cache, BatchNormCache, "batch_norm_backward")
    return check_grad(dy, cache.x.shape, cache.x.dtype, "batch_norm_backward")


def empty_batch(x, weight, training, eps):
    """``(y, cache)`` of a batch with no values (N = 0 or an empty spatial axis): an empty
    output and no statistics, so the running estimates stay as they were (as PyTorch)."""
    c = x.shape[1]
    mean, invstd = np.zeros(c, dtype=x.dtype), np.ones(c, dtype=x.dtype)
    return np.empty(x.shape, dtype=x.dtype), BatchNormCache(x, mean, invstd, weight, training, eps)


def empty_batch_grads(cache):
    """The gradients of an empty batch: an empty ``dx`` and zero ``dweight``/``dbias`` (sums
    over nothing), as PyTorch."""
    x = cache.x
    dx = np.empty(x.shape, dtype=x.dtype)
    if cache.weight is None:
        return ParamGrads(dx, None, None)
    return ParamGrads(dx, np.zeros(x.shape[1], dtype=x.dtype), np.zeros(x.shape[1], dtype=x.dtype))


# The sums over (N, L) are taken per image and channel first (pairwise along L), then over the
# images in their order. So every pass below runs block by block of ``x`` viewed as (N, C, L),
# a block some whole images or, for an image larger than a block, some channels of one image:
# a block writes only its own part of the output and returns its (images, channels) sums,
# which the caller puts in place and adds up over the images in order. The same bits for any
# blocks and at any thread count (tests/functional/test_threads.py). On one thread a block of
# BLOCK_BYTES stays in a core's L2 from one step of a pass to the next (x - mean, then its dot
# products; the backward's four in-place steps), so only a pass's first step goes to memory:
# 32 x 64 x 28 x 28, training forward + backward, 5.1-5.3 ms with each step over the whole
# batch, 4.6-4.8 in blocks; 128 x 32 x 28 x 28 10.0-10.2 and 9.6-9.7 (Intel Xeon, alternating
# runs, December 2026). On more threads, one block per thread: many small steps on two threads
# hand Python's lock back and forth more than the cache saves (32 x 64 x 28 x 28: 3.6-4.0 ms in
# 512 KiB blocks, 3.4-3.6 in one block per thread).
BLOCK_BYTES = 512 * 2**10


def _slices(pieces):
    """``(start, count)`` pieces (``_threads.even_chunks``, ``_threads.shares``) as slices."""
    return [slice(a, a + m) for a, m in pieces]


def _blocks(x3):
    """The blocks of ``x3`` (N, C, L) as ``(images, channels)`` slices: on one thread at most
    about ``BLOCK_BYTES`` each, on more one block per thread; whole images, or some channels
    of one image where an image is larger than a block or the images fewer than the threads."""
    n, c, length = x3.shape
    threads = _threads.count(x3.nbytes)
    image_bytes = c * length * x3.itemsize
    if threads > 1:
        if n >= threads:
            return [(images, slice(None)) for images in _slices(_threads.shares(n, threads))]
        channels = _threads.shares(c, -(-threads // n))
    elif image_bytes <= BLOCK_BYTES:
        images = _threads.even_chunks(n, BLOCK_BYTES // image_bytes)
        return [(block, slice(None)) for block in _slices(images)]
    else:
        channels = _threads.even_chunks(c, max(1, BLOCK_BYTES // (length * x3.itemsize)))
    return [(slice(i, i + 1), ch) for i in range(n) for ch in _slices(channels)]


def _per_channel(blocks, block_sums, shape):
    """The blocks' (images, channels) sums put in place in an (N, C) array and summed over
    the images in order: (C,)."""
    if len(blocks) == 1:
        return block_sums[0].sum(axis=0)
    sums = np.empty(shape, dtype=block_sums[0].dtype)
    for block, part in zip(blocks, block_sums, strict=True):
        sums[block] = part
    return sums.sum(axis=0)


def _dots(a, b):
    """Per image and channel, the sum of ``a * b`` over L, without forming the product array."""
    return np.einsum("ncl,ncl->nc", a, b)


def batch_norm(
    x, weight=None, bias=None, running_mean=None, running_var=None, training=True, momentum=0.1,
    eps=1e-5,
):  # fmt: skip
    r"""Batch norm (4.10), running estimates (4.11); returns ``y``.

    Shape: x (N, C) or (N, C, *spatial) with 1 to 3 spatial axes; weight, bias, running_mean,
    running_var (C,) -> y (the shape of x)

    Parameters
    ----------
    weight, bias : ndarray (C,) or None
        :math:`\gamma` and :math:`\beta`; None means 1 and 0 (``affine=False``).
    running_mean, running_var : ndarray (C,) or None
        Updated **in place** in training (as ``torch.nn.functional.batch_norm``); used, not
        updated, when ``training=False``.
    training : bool
        Batch statistics (True) or the running estimates (False).
    momentum : float in [0, 1]
        Weight of the new batch statistic in the running estimates.
    eps : float >= 0
        Added to the variance before the square root.
    """
    return batch_norm_forward(x, weight, bias, running_mean, running_var, training, momentum, eps)[
        0
    ]


def batch_norm_forward(
    x, weight=None, bias=None, running_mean=None, running_var=None, training=True, momentum=0.1,
    eps=1e-5,
):  # fmt: skip
    r""":func:`batch_norm` and the cache :func:`batch_norm_backward` needs: ``(y, cache)``."""
    x, n, momentum, eps = check_batch_norm_args(
        x, weight, bias, running_mean, running_var, training, momentum, eps
    )
    if x.size == 0:
        return empty_batch(x, weight, training, eps)
    x3 = x.reshape(x.shape[0], x.shape[1], -1)
    blocks, y = _blocks(x3), np.empty(x3.shape, dtype=x.dtype)

    @with_rows_in_place
    def centre(block):  # y = x - mean on this block; its sums of squares
        np.subtract(x3[block], mean[block[1], None], out=y[block])
        return _dots(y[block], y[block])

    if training:
        sums = _threads.map_ordered(with_rows_in_place(lambda block: x3[block].sum(axis=2)),
                                    blocks, x.nbytes)  # fmt: skip
        mean = _per_channel(blocks, sums, x3.shape[:2]) / n
        squares = _threads.map_ordered(centre, blocks, x.nbytes)
        var = _per_channel(blocks, squares, x3.shape[:2]) / n  # biased: it normalizes
        if running_mean is not None:  # (4.11), in place, as torch.nn.functional.batch_norm
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (n / (n - 1))  # the unbiased variance
    else:
        mean = running_mean.astype(x.dtype, copy=False)
        var = running_var.astype(x.dtype, copy=False)
        _threads.map_ordered(centre, blocks, x.nbytes)  # y = x - mean (no sums needed)
    invstd = 1 / np.sqrt(var + x.dtype.type(eps))
    # y = (x - mean) * (gamma * invstd) + beta, in place in the one output array; the cache
    # keeps x (not x_hat): a fresh 20 MB array costs more in page faults than recomputing
    scale = invstd if weight is None else weight * invstd

    @with_rows_in_place
    def affine(block):
        y[block] *= scale[block[1], None]
        if bias is not None:
            y[block] += bias[block[1], None]

    _threads.map_ordered(affine, blocks, x.nbytes)
    return y.reshape(x.shape), BatchNormCache(x, mean, invstd, weight, training, eps)


def batch_norm_backward(dy, cache):
    r"""``ParamGrads(dx, dweight, dbias)`` (``dweight``/``dbias`` None without affine).

    Training: :math:`dx = \frac{\gamma}{n\sigma}(n\,dy - \sum dy - \hat x \sum dy\,\hat x)`;
    evaluation: :math:`dx = \gamma\, dy / \sigma`. Always :math:`d\gamma = \sum dy\,\hat x`,
    :math:`d\beta = \sum dy`.
    """
    dy = check_dy(dy, cache)
    if cache.x.size == 0:
        return empty_batch_grads(cache)
    x3 = cache.x.reshape(cache.x.shape[0], cache.x.shape[1], -1)
    mean, invstd, weight = cache.mean, cache.invstd, cache.weight
    dy3 = dy.reshape(x3.shape)
    n = x3.shape[0] * x3.shape[2]
    blocks, dx = _blocks(x3), np.empty(x3.shape, dtype=x3.dtype)

    @with_rows_in_place
    def sums(block):  # dx = x - mean on this block (x_hat = dx invstd, never formed: one
        # pass less); its sums of dy and of dy (x - mean)
        np.subtract(x3[block], mean[block[1], None], out=dx[block])
        return dy3[block].sum(axis=2), _dots(dy3[block], dx[block])

    per_block = _threads.map_ordered(sums, blocks, x3.nbytes)
    sum_dy = _per_channel(blocks, [a for a, _ in per_block], x3.shape[:2])
    sum_dy_xhat = _per_channel(blocks, [b for _, b in per_block], x3.shape[:2]) * invstd
    scale = invstd if weight is None else weight * invstd
    # training: dx = scale (dy - sum_dy / n - x_hat sum_dy_xhat / n), with x_hat sum_dy_xhat =
    # (x - mean) invstd sum_dy_xhat, on the block that holds x - mean (in cache, one thread);
    # evaluation: scale dy
    shrink, shift = -invstd * sum_dy_xhat / n, sum_dy / n

    @with_rows_in_place
    def grad(block):
        ch = block[1]
        if cache.training:
            dx[block] *= shrink[ch, None]
            dx[block] += dy3[block]
            dx[block] -= shift[ch, None]
            dx[block] *= scale[ch, None]
        else:
            np.multiply(dy3[block], scale[ch, None], out=dx[block])

    _threads.map_ordered(grad, blocks, x3.nbytes)
    if weight is None:
        return ParamGrads(dx.reshape(cache.x.shape), None, None)
    return ParamGrads(dx.reshape(cache.x.shape), sum_dy_xhat, sum_dy)


def batch_norm_literal(x):
    r"""Article 003's formula as written: :math:`x_{normalized} = (x - \mu)/\sigma`.

    What it lacks: (1) no :math:`\epsilon`, so a constant channel (:math:`\sigma = 0`, e.g. a
    dead ReLU feature map) gives 0/0 = NaN that then spreads through the network; (2) no
    learnable :math:`\gamma, \beta`, so the layer cannot represent the identity and forces
    every feature to mean 0, variance 1; (3) no running statistics, so a single test example
    cannot be normalized. :func:`batch_norm` is the corrected version; a test shows both the
    agreement (non-constant channels, eps = 0) and the NaN.
    """
    x = check_float_array(x, "batch_norm_literal x", ndim=(2, 3, 4, 5))
    axes = (0, *range(2, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    sigma = x.std(axis=axes, keepdims=True)
    return (x - mu) / sigma
