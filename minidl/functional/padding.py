r"""Padding and output sizes for sliding-window ops (convolution, pooling), N-d.

For one spatial axis with input size ``n``, kernel ``k``, stride ``s``, dilation ``d`` and
``before``/``after`` zeros added, the window covers ``d (k - 1) + 1`` samples and

.. math:: n_{out} = \left\lfloor \frac{n + before + after - d (k - 1) - 1}{s} \right\rfloor + 1
          \qquad (3.8)

((3.7) and (3.8) are chapter 03's numbers, ``chapters/03_linear_analysis_and_convolution.ipynb``.)

``padding`` may be

- an int ``p`` or a tuple ``(p_1, ..., p_D)``: ``p_i`` zeros on *both* sides of axis ``i``
  (PyTorch's convention);
- ``'valid'``: no padding;
- ``'same'``: TensorFlow's SAME. The output has :math:`\lceil n / s \rceil` samples and the
  total padding is :math:`\max((n_{out} - 1) s + d (k - 1) + 1 - n, 0)`, split as
  ``before = total // 2`` and ``after = total - before`` (3.7): when the total is odd the extra
  zero goes at the END. With stride 1 and an odd kernel this is the symmetric ``(k - 1) / 2``
  on each side; with stride > 1 (or an even kernel) it is asymmetric, which PyTorch's integer
  ``padding`` cannot express (PyTorch's own ``padding='same'`` exists only for stride 1).

Everything here returns plain tuples of ints, so pooling reuses it unchanged.
"""

import math
import numbers

import numpy as np

from minidl._validation import check_positive_int

PADDING_MODES = ("valid", "same")


def resolve_padding(padding, in_sizes, kernel_size, stride, dilation):
    """Return ``((before_1, after_1), ..., (before_D, after_D))`` for the given ``padding``.

    ``in_sizes``, ``kernel_size``, ``stride`` and ``dilation`` are D-tuples of ints (already
    validated by the caller); ``'same'`` follows (3.7). Raises ``ValueError`` naming ``padding``
    for an unknown string, a negative amount or a tuple of the wrong length.
    """
    nd = len(in_sizes)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode not in PADDING_MODES:
            raise ValueError(
                f"padding must be an int, a tuple of {nd} ints, 'valid' or 'same', got {padding!r}"
            )
        if mode == "valid":
            return ((0, 0),) * nd
        pads = []
        for n, k, s, d in zip(in_sizes, kernel_size, stride, dilation, strict=True):
            out = math.ceil(n / s)
            total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
            pads.append((total // 2, total - total // 2))  # odd total: extra zero at the end
        return tuple(pads)
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        padding = (padding,) * nd
    try:
        padding = tuple(padding)
    except TypeError:
        raise TypeError(
            f"padding must be an int, a tuple of {nd} ints, 'valid' or 'same', got {padding!r}"
        ) from None
    if len(padding) != nd:
        raise ValueError(
            f"padding must be an int, a tuple of {nd} ints, 'valid' or 'same', got {padding!r}"
        )
    return tuple((p, p) for p in (check_positive_int(p, "padding", minimum=0) for p in padding))


def output_sizes(in_sizes, kernel_size, stride, dilation, pads, name="kernel_size"):
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
        out.append((n + lo + hi - span) // s + 1)
    return tuple(out)


def pad_array(x, pads, value=0.0):
    """Return ``x`` with ``pads[i] = (before, after)`` values added around spatial axis ``i``.

    The first two axes (N, C) are not padded. Returns ``x`` itself when nothing is padded,
    else a new array of the same dtype (an empty array filled once and one slice assignment,
    cheaper than ``np.pad``).
    """
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return x
    shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads, strict=True))
    out = np.full(shape, value, dtype=x.dtype) if value != 0 else np.zeros(shape, dtype=x.dtype)
    out[interior(pads, x.shape[2:])] = x
    return out


def interior(pads, in_sizes):
    """The index that selects the unpadded input back out of a padded array."""
    return (slice(None), slice(None)) + tuple(
        slice(lo, lo + n) for (lo, _), n in zip(pads, in_sizes, strict=True)
    )
