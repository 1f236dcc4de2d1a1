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


# The sums over (N, L) are taken per row of the (N C, L) view first (image ``i``, channel
# ``c``: row ``i C + c``; pairwise along L), then over the images in their order. So every pass
# below runs block by block of rows (one block per worker thread of _threads for a large
# batch): a block writes only its own rows and returns its rows' sums, which the caller adds
# in order. The same bits for any blocks and at any thread count
# (tests/functional/test_threads.py). A block of BLOCK_BYTES stays in a core's L2 from one
# step of a pass to the next (x - mean, then its dot products; the backward's four in-place
# steps), so only a pass's first step goes to memory: 32 x 64 x 28 x 28, training forward +
# backward, one thread, 5.2 ms with each step over the whole batch, 4.7-4.8 in blocks; 128 x
# 32 x 28 x 28 10.0-10.2 and 9.3-9.6 (Intel Xeon, two alternating runs, December 2026).
BLOCK_BYTES = 512 * 2**10


def _blocks(rows):
    """Slices of the rows of ``rows`` (N C, L): on one thread blocks of about ``BLOCK_BYTES``
    (at least one row); on more, one block per thread, because many small steps on two
    threads hand Python's lock back and forth more than the cache saves (32 x 64 x 28 x 28,
    two threads: 3.6-4.0 ms in 512 KiB blocks, 3.4-3.6 in one block per thread). As even as
    can be."""
    threads = _threads.count(rows.nbytes)
    per_block = max(1, BLOCK_BYTES // (rows.shape[1] * rows.itemsize))
    blocks = threads if threads > 1 else -(-rows.shape[0] // per_block)
    bounds = [rows.shape[0] * i // blocks for i in range(blocks + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _per_row(values, images):
    """Per-channel ``values`` (C,) as a column (N C, 1), one entry per row of the (N C, L) view."""
    return np.repeat(values[None], images, axis=0).reshape(-1, 1)


def _per_channel(row_sums, images):
    """The blocks' per-row sums, in order, summed over the images: (C,)."""
    stacked = row_sums[0] if len(row_sums) == 1 else np.concatenate(row_sums)
    return stacked.reshape(images, -1).sum(axis=0)


def _row_dots(a, b):
    """Per row, the sum of ``a * b`` over L, without forming the product array."""
    return np.einsum("rl,rl->r", a, b)


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
    images = x.shape[0]
    rows = x.reshape(images * x.shape[1], -1)
    blocks, y = _blocks(rows), np.empty(rows.shape, dtype=x.dtype)

    def centre(s):  # y = x - mean on these rows; their sums of squares
        np.subtract(rows[s], mean_rows[s], out=y[s])
        return _row_dots(y[s], y[s])

    if training:
        sums = _threads.map_ordered(lambda s: rows[s].sum(axis=1), blocks, x.nbytes)
        mean = _per_channel(sums, images) / n
        mean_rows = _per_row(mean, images)
        var = _per_channel(_threads.map_ordered(centre, blocks, x.nbytes), images) / n
        if running_mean is not None:  # (4.11), in place, as torch.nn.functional.batch_norm
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (n / (n - 1))  # the unbiased variance
    else:
        mean = running_mean.astype(x.dtype, copy=False)
        var = running_var.astype(x.dtype, copy=False)
        mean_rows = _per_row(mean, images)
        _threads.map_ordered(centre, blocks, x.nbytes)  # y = x - mean (the sums are not needed)
    invstd = 1 / np.sqrt(var + x.dtype.type(eps))
    # y = (x - mean) * (gamma * invstd) + beta, in place in the one output array; the cache
    # keeps x (not x_hat): a fresh 20 MB array costs more in page faults than recomputing
    scale_rows = _per_row(invstd if weight is None else weight * invstd, images)
    bias_rows = None if bias is None else _per_row(bias, images)

    def affine(s):
        y[s] *= scale_rows[s]
        if bias_rows is not None:
            y[s] += bias_rows[s]

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
    images = cache.x.shape[0]
    rows = cache.x.reshape(images * cache.x.shape[1], -1)
    mean, invstd, weight = cache.mean, cache.invstd, cache.weight
    dy_rows = dy.reshape(rows.shape)
    n = images * rows.shape[1]
    blocks, mean_rows = _blocks(rows), _per_row(mean, images)
    dx = np.empty(rows.shape, dtype=rows.dtype)

    def sums(s):  # dx = x - mean on these rows (x_hat = dx invstd, never formed: one pass
        # less); their sums of dy and of dy (x - mean)
        np.subtract(rows[s], mean_rows[s], out=dx[s])
        return dy_rows[s].sum(axis=1), _row_dots(dy_rows[s], dx[s])

    per_block = _threads.map_ordered(sums, blocks, rows.nbytes)
    sum_dy = _per_channel([a for a, _ in per_block], images)
    sum_dy_xhat = _per_channel([b for _, b in per_block], images) * invstd
    scale = _per_row(invstd if weight is None else weight * invstd, images)
    # training: dx = scale (dy - sum_dy / n - x_hat sum_dy_xhat / n), with x_hat sum_dy_xhat =
    # (x - mean) invstd sum_dy_xhat, the five steps on each block while it is in cache;
    # evaluation: scale dy
    shrink = _per_row(-invstd * sum_dy_xhat / n, images)
    shift = _per_row(sum_dy / n, images)

    def grad(s):
        if cache.training:
            dx[s] *= shrink[s]
            dx[s] += dy_rows[s]
            dx[s] -= shift[s]
            dx[s] *= scale[s]
        else:
            np.multiply(dy_rows[s], scale[s], out=dx[s])

    _threads.map_ordered(grad, blocks, rows.nbytes)
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
