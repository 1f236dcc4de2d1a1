r"""Standalone cost formulas of convolutions: parameters, MACs and FLOPs (articles 000, 001).

Closed forms from the layer hyper-parameters, no layer objects needed: :func:`conv_macs`,
:func:`conv_params`, :func:`conv_flops` for an N-d convolution, Tran et al.'s middle width
:func:`mid_channels_tran`, :func:`conv2plus1d_macs` and :func:`compare_conv3d_2plus1d` for a
3-D convolution against its (2+1)-D factorization. Counts are per sample; MAC and FLOP are
defined in :mod:`minidl.nn.complexity`, which applies these formulas layer by layer.

The formulas, with their numbers in chapter 01
(``chapters/01_complexity_and_spatiotemporal_convolution.ipynb``; groups and bias as here):

.. math::
    \text{2-D:}\quad \mathrm{MACs} = H_{out} W_{out}\, C_{out}\, \frac{C_{in}}{g}\, k_h k_w
    \qquad \text{params} = C_{out} \frac{C_{in}}{g} k_h k_w + C_{out}\,[\text{bias}]
    \qquad (1.1)

    \mathrm{FLOPs} = 2\,\mathrm{MACs} + C_{out} H_{out} W_{out}\,[\text{bias}]    \qquad (1.2)

    \text{3-D:}\quad \mathrm{MACs} = D_{out} H_{out} W_{out}\, C_{out}\, \frac{C_{in}}{g}\,
    k_t k_h k_w    \qquad (1.3)

    \text{(2+1)-D:}\quad \mathrm{MACs} = \underbrace{D_{in} H_{out} W_{out}\, M\, C_{in}\,
    k_h k_w}_{1 \times k_h \times k_w \text{ spatial, into } M}
    + \underbrace{D_{out} H_{out} W_{out}\, C_{out}\, M\, k_t}_{k_t \times 1 \times 1
    \text{ temporal}}    \qquad (1.4)

(the spatial part runs on every input frame: it has no temporal stride or padding), with
Tran et al.'s middle width :math:`M` of (1.5). Chapter 03 uses the parameter count again as the
:math:`P_{\text{conv}}` of its (3.6).

This is *not* torchinfo's "mult-adds", which is parameters x output positions x batch, bias
included: for ``Conv2d(1, 10, 5)`` on ``[7, 1, 28, 28]`` torchinfo reports 260 x 24 x 24 x 7 =
1,048,320, minidl 10 x 24 x 24 x 25 = 144,000 MACs per sample (tests/test_complexity.py).
"""

import math
from typing import NamedTuple

from minidl._validation import as_tuple, check_positive_int
from minidl.functional.windows import window_geometry


def conv_macs(in_channels, out_channels, kernel_size, output_size, groups=1):
    r"""MACs per sample of an N-d convolution: :math:`\prod(out)\, C_{out} (C_{in}/g) \prod(k)`.

    ``kernel_size`` and ``output_size`` are ints or tuples (one entry per spatial dim); 2-D gives
    :math:`H_{out} W_{out} C_{out} (C_{in}/g) k_h k_w` (1.1), 3-D adds :math:`D_{out}` and
    :math:`k_t` (1.3).
    Dilation does not change the count (it spreads the same taps).
    """
    c_in, c_out, g = _channels(in_channels, out_channels, groups)
    k = as_tuple(kernel_size, _rank(kernel_size, output_size), "kernel_size")
    out = as_tuple(output_size, len(k), "output_size")
    return math.prod(out) * c_out * (c_in // g) * math.prod(k)


def conv_params(in_channels, out_channels, kernel_size, groups=1, bias=True):
    r""":math:`C_{out} (C_{in}/g) \prod(k) + C_{out}` (the last term only with a bias).

    (1.1) in chapter 01; :math:`P_{\text{conv}}` of (3.6) in chapter 03.
    """
    c_in, c_out, g = _channels(in_channels, out_channels, groups)
    k = as_tuple(kernel_size, _rank(kernel_size, None), "kernel_size")
    return c_out * (c_in // g) * math.prod(k) + (c_out if bias else 0)


def _channels(in_channels, out_channels, groups):
    c_in = check_positive_int(in_channels, "in_channels")
    c_out = check_positive_int(out_channels, "out_channels")
    g = check_positive_int(groups, "groups")
    if c_in % g or c_out % g:
        raise ValueError(f"groups={g} must divide in_channels ({c_in}) and out_channels ({c_out})")
    return c_in, c_out, g


def conv_flops(in_channels, out_channels, kernel_size, output_size, groups=1, bias=True):
    r""":math:`2\,\mathrm{MACs} + C_{out} \prod(out)` (the bias add, one per output): (1.2)."""
    macs = conv_macs(in_channels, out_channels, kernel_size, output_size, groups)
    n_out = math.prod(as_tuple(output_size, _rank(kernel_size, output_size), "output_size"))
    return 2 * macs + (out_channels * n_out if bias else 0)


def _rank(kernel_size, output_size):
    for v in (kernel_size, output_size):
        if isinstance(v, (tuple, list)):
            return len(v)
    return 1


def mid_channels_tran(t, kernel_hw, in_channels, out_channels):
    r"""Tran et al.'s middle width (1.5) of chapter 01, the :math:`M` of a (2+1)-D block.

    A full 3-D convolution with a :math:`t \times k_h \times k_w` kernel from :math:`C_{in}` to
    :math:`C_{out}` channels has :math:`t k_h k_w C_{in} C_{out}` weights; the (2+1)-D block, a
    :math:`1 \times k_h \times k_w` spatial convolution into :math:`M` channels, a
    nonlinearity, then a :math:`t \times 1 \times 1` temporal convolution, has
    :math:`k_h k_w C_{in} M + t M C_{out}`. Choosing

    .. math:: M = \left\lfloor \frac{t k_h k_w C_{in} C_{out}}{k_h k_w C_{in} + t C_{out}}
              \right\rfloor \qquad (1.5)

    (Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action Recognition", CVPR
    2018, section 3.5) makes the two weight counts equal up to the floor, while the block has
    twice the nonlinearities. For :math:`t = k = 3`, :math:`C_{in} = C_{out} = 64`: :math:`M =
    144` and both have 110,592 weights. ``kernel_hw`` is an int (square) or the pair
    :math:`(k_h, k_w)`; integer arithmetic, so no float rounding.
    """
    kh, kw = as_tuple(kernel_hw, 2, "kernel_hw")
    t = check_positive_int(t, "t")
    c_in = check_positive_int(in_channels, "in_channels")
    c_out = check_positive_int(out_channels, "out_channels")
    return t * kh * kw * c_in * c_out // (kh * kw * c_in + t * c_out)


def conv2plus1d_macs(in_channels, out_channels, kernel_size, input_frames, output_size, mid=None):
    r"""MACs per sample of a (2+1)-D block, (1.4) in the module docstring.

    ``kernel_size = (k_t, k_h, k_w)``, ``output_size = (D_out, H_out, W_out)``; ``input_frames``
    is :math:`D_{in}`, the frames the spatial part runs on. ``mid`` defaults to
    :func:`mid_channels_tran`. Returns ``(spatial, temporal)``.
    """
    t, kh, kw = as_tuple(kernel_size, 3, "kernel_size")
    d_out, h_out, w_out = as_tuple(output_size, 3, "output_size")
    d_in = check_positive_int(input_frames, "input_frames")
    m = mid_channels_tran(t, (kh, kw), in_channels, out_channels) if mid is None else mid
    spatial = conv_macs(in_channels, m, (1, kh, kw), (d_in, h_out, w_out))
    temporal = conv_macs(m, out_channels, (t, 1, 1), (d_out, h_out, w_out))
    return spatial, temporal


class Conv3DComparison(NamedTuple):
    """Full 3-D convolution vs its (2+1)-D factorization, per sample, biases included."""

    mid_channels: int
    params_3d: int
    params_2plus1d: int
    macs_3d: int
    macs_2plus1d: int
    output_size: tuple

    @property
    def macs_ratio(self):
        """(2+1)-D MACs / 3-D MACs."""
        return self.macs_2plus1d / self.macs_3d


def compare_conv3d_2plus1d(
    in_channels, out_channels, kernel_size, input_size, stride=1, padding=0, mid=None, bias=True
):
    """Parameters and MACs of a ``k_t x k_h x k_w`` 3-D conv and of the matching (2+1)-D block.

    ``input_size = (D, H, W)``; ``padding`` is an int/tuple (symmetric) or ``'valid'`` /
    ``'same'`` (TensorFlow: output ``ceil(L / s)``), read by :mod:`minidl.functional.windows`.
    Both produce the same output size; the (2+1)-D spatial part runs on all ``D`` input frames.
    ``mid`` defaults to Tran et al.'s M.
    """
    size = as_tuple(input_size, 3, "input_size")
    win = window_geometry(size, kernel_size, stride, padding, name="kernel_size")
    k, out = win.kernel, win.out
    m = mid_channels_tran(k[0], k[1:], in_channels, out_channels) if mid is None else mid
    m = check_positive_int(m, "mid")
    params_3d = conv_params(in_channels, out_channels, k, bias=bias)
    params_21 = conv_params(in_channels, m, (1,) + k[1:], bias=bias) + conv_params(
        m, out_channels, (k[0], 1, 1), bias=bias
    )
    macs_3d = conv_macs(in_channels, out_channels, k, out)
    macs_21 = sum(conv2plus1d_macs(in_channels, out_channels, k, size[0], out, m))
    return Conv3DComparison(m, params_3d, params_21, macs_3d, macs_21, out)
