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


# The sums over (N, L) are taken image by image first (pairwise along L), then over the images
# in their order; so the batch can be cut into chunks of whole images, one per thread for a
# large batch (_threads), and every pass below runs chunk by chunk: each chunk writes only its
# own images and returns its images' sums, which the caller adds in order. The same bits at
# any thread count (tests/functional/test_threads.py).
def _chunks(x3):
    """Slices of the batch axis: one per thread for an array of ``_threads.MIN_BYTES`` or more,
    else one slice of the whole batch."""
    return _threads.image_chunks(x3.shape, x3.itemsize, x3.nbytes)


def _sum_images(per_chunk):
    """The chunks' (images, C) per-image sums, stacked in order and summed over the images."""
    stacked = per_chunk[0] if len(per_chunk) == 1 else np.concatenate(per_chunk)
    return stacked.sum(axis=0)


def _image_sums(a3):
    """Per image and channel, the sum of ``(m, C, L)`` over L (pairwise)."""
    return a3.sum(axis=2)


def _image_dots(a3, b3):
    """Per image and channel, the sum of ``a * b`` over L, without forming the product array."""
    return np.einsum("ncl,ncl->nc", a3, b3)


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
    chunks, y = _chunks(x3), np.empty(x3.shape, dtype=x.dtype)

    def centre(s):  # y = x - mean on these images; their sums of squares per channel
        np.subtract(x3[s], mean[:, None], out=y[s])
        return _image_dots(y[s], y[s])

    if training:
        mean = _sum_images(_threads.map_ordered(lambda s: _image_sums(x3[s]), chunks)) / n
        var = _sum_images(_threads.map_ordered(centre, chunks)) / n  # biased: it normalizes
        if running_mean is not None:  # (4.11), in place, as torch.nn.functional.batch_norm
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (n / (n - 1))  # the unbiased variance
    else:
        mean = running_mean.astype(x.dtype, copy=False)
        var = running_var.astype(x.dtype, copy=False)
        _threads.map_ordered(centre, chunks)  # y = x - mean (the sums of squares are not needed)
    invstd = 1 / np.sqrt(var + x.dtype.type(eps))
    # y = (x - mean) * (gamma * invstd) + beta, in place in the one output array; the cache
    # keeps x (not x_hat): a fresh 20 MB array costs more in page faults than recomputing
    scale = (invstd if weight is None else weight * invstd)[:, None]

    def affine(s):
        y[s] *= scale
        if bias is not None:
            y[s] += bias[:, None]

    _threads.map_ordered(affine, chunks)
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
    chunks = _chunks(x3)
    dx = np.empty(x3.shape, dtype=x3.dtype)

    def sums(s):  # dx = x - mean on these images (x_hat = dx invstd, never formed: one pass
        # less); their sums of dy and of dy (x - mean) per channel
        np.subtract(x3[s], mean[:, None], out=dx[s])
        return _image_sums(dy3[s]), _image_dots(dy3[s], dx[s])

    per_chunk = _threads.map_ordered(sums, chunks)
    sum_dy = _sum_images([a for a, _ in per_chunk])
    sum_dy_xhat = _sum_images([b for _, b in per_chunk]) * invstd
    scale = (invstd if weight is None else weight * invstd)[:, None]
    # training: dx = scale (dy - sum_dy / n - x_hat sum_dy_xhat / n), with x_hat sum_dy_xhat =
    # (x - mean) invstd sum_dy_xhat, on the buffer that holds x - mean; evaluation: scale dy
    shrink, shift = (-invstd * sum_dy_xhat / n)[:, None], (sum_dy / n)[:, None]

    def grad(s):
        if cache.training:
            dx[s] *= shrink
            dx[s] += dy3[s]
            dx[s] -= shift
            dx[s] *= scale
        else:
            np.multiply(dy3[s], scale, out=dx[s])

    _threads.map_ordered(grad, chunks)
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
