r"""Image resizing and padding for batches ``(..., H, W)``: fitting 8x8 digits to 28x28 nets.

The 8x8 digits (``load_digits``) are too small for networks built for MNIST's 28x28: two
valid 3x3 convolutions and two 2x2 poolings leave nothing of an 8x8 image. Two ways to fit
them, both here:

- :func:`resize` to 28x28 (bilinear or nearest), the digit then fills the frame;
- :func:`resize` to 20x20 and :func:`pad_to` 28x28, which is how MNIST itself was made (each
  NIST digit was size-normalized into a 20x20 box and centred in a 28x28 image).

Both resizes follow the *pixel-centre* convention (PyTorch ``F.interpolate(...,
align_corners=False)`` for ``'bilinear'``, ``mode='nearest-exact'`` for ``'nearest'``): output
pixel :math:`i` of :math:`n_{out}` has its centre at input coordinate

.. math:: u(i) = (i + \tfrac12)\,\frac{n_{in}}{n_{out}} - \tfrac12 .

Nearest takes input pixel :math:`\lfloor u(i) + \tfrac12 \rfloor`; bilinear takes
:math:`u \leftarrow \max(u, 0)`, :math:`i_0 = \lfloor u \rfloor`,
:math:`i_1 = \min(i_0 + 1, n_{in} - 1)`, :math:`\lambda = u - i_0` and

.. math:: y[i, j] = \sum_{a, b \in \{0, 1\}} \lambda^{(h)}_a \lambda^{(w)}_b\,
          x[i_a(i), j_b(j)],  \qquad \lambda_0 = 1 - \lambda, \ \lambda_1 = \lambda.

Either is separable: one (n_out, n_in) matrix per axis, ``y = A_h @ x @ A_w^T``, which is how
:func:`resize` computes it; :func:`resize_naive` is the double loop over output pixels.
"""

import numpy as np

from minidl._validation import check_float_array, check_positive_int

MODES = ("bilinear", "nearest")


def _source(n_in, n_out):
    """Input coordinate u(i) of each output pixel centre (float64, exact for small sizes)."""
    return (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5


def interpolation_matrix(n_in, n_out, mode="bilinear", dtype=np.float64):
    """The (n_out, n_in) matrix A of one axis: row i holds the weights of output pixel i."""
    n_in = check_positive_int(n_in, "n_in")
    n_out = check_positive_int(n_out, "n_out")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    u = _source(n_in, n_out)
    a = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    if mode == "nearest":
        a[rows, np.minimum(np.floor(u + 0.5).astype(int), n_in - 1)] = 1.0
    else:
        u = np.maximum(u, 0.0)
        i0 = np.minimum(np.floor(u).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        lam = u - i0
        a[rows, i0] += 1.0 - lam
        a[rows, i1] += lam  # i1 == i0 at the last pixel: the weights still sum to 1
    return a.astype(dtype)


def _check(x, size, mode):
    x = check_float_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must be images (..., H, W) with at least 2 dims, got shape {x.shape}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise TypeError(f"size must be an int or a pair (height, width), got {size!r}")
    size = (check_positive_int(size[0], "size[0]"), check_positive_int(size[1], "size[1]"))
    return x, size


def resize(x, size, mode="bilinear"):
    """Resize images ``x`` (..., H, W) to ``size`` (int or (h, w)); dtype kept.

    ``y = A_h @ x @ A_w^T`` with the matrices of :func:`interpolation_matrix` (module docstring
    for the formula; equals PyTorch's ``F.interpolate`` with ``align_corners=False`` /
    ``'nearest-exact'``, ``antialias=False``).
    """
    x, (h, w) = _check(x, size, mode)
    a_h = interpolation_matrix(x.shape[-2], h, mode, x.dtype)
    a_w = interpolation_matrix(x.shape[-1], w, mode, x.dtype)
    return a_h @ x @ a_w.T


def resize_naive(x, size, mode="bilinear"):
    """:func:`resize` as loops over output pixels, reading the 1 or 4 source pixels of each."""
    x, (h, w) = _check(x, size, mode)
    n_h, n_w = x.shape[-2:]
    y = np.zeros(x.shape[:-2] + (h, w), dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            u = (i + 0.5) * n_h / h - 0.5
            v = (j + 0.5) * n_w / w - 0.5
            if mode == "nearest":
                y[..., i, j] = x[..., min(int(np.floor(u + 0.5)), n_h - 1),
                                 min(int(np.floor(v + 0.5)), n_w - 1)]  # fmt: skip
                continue
            u, v = max(u, 0.0), max(v, 0.0)
            r0, c0 = min(int(u), n_h - 1), min(int(v), n_w - 1)
            r1, c1 = min(r0 + 1, n_h - 1), min(c0 + 1, n_w - 1)
            lu, lv = u - r0, v - c0
            y[..., i, j] = (
                (1 - lu) * (1 - lv) * x[..., r0, c0]
                + (1 - lu) * lv * x[..., r0, c1]
                + lu * (1 - lv) * x[..., r1, c0]
                + lu * lv * x[..., r1, c1]
            )
    return y


def pad_to(x, size, value=0.0):
    """Pad images ``x`` (..., H, W) with ``value`` to ``size`` (int or (h, w)), centred.

    The extra ``h - H`` rows go ``(h - H) // 2`` above and the rest below (likewise for the
    columns), so an odd remainder puts one more row at the bottom / column at the right.
    """
    x, (h, w) = _check(x, size, "nearest")
    n_h, n_w = x.shape[-2:]
    if h < n_h or w < n_w:
        raise ValueError(f"size must be at least the image size {(n_h, n_w)}, got {(h, w)}")
    top, left = (h - n_h) // 2, (w - n_w) // 2
    y = np.full(x.shape[:-2] + (h, w), value, dtype=x.dtype)
    y[..., top : top + n_h, left : left + n_w] = x
    return y


def digits_to_28(x, method="resize"):
    """The 8x8 digits (N, 1, 8, 8), scaled to [0, 1], made 28x28 for the MNIST networks.

    ``method='resize'``: bilinear :func:`resize` to 28x28. ``method='mnist'``: bilinear resize
    to 20x20, then :func:`pad_to` 28x28 (MNIST's own 20x20 box, centred).
    """
    if method == "resize":
        return resize(x, 28, "bilinear")
    if method == "mnist":
        return pad_to(resize(x, 20, "bilinear"), 28)
    raise ValueError(f"method must be 'resize' or 'mnist', got {method!r}")
