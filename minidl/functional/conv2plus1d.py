r"""(2+1)-D convolution (article 000's spatiotemporal convolution, Tran et al., CVPR 2018).

A full 3-D convolution with a :math:`t \times k \times k` kernel from :math:`C_{in}` to
:math:`C_{out}` channels has :math:`t k^2 C_{in} C_{out}` weights. R(2+1)D factors it into a
:math:`1 \times k \times k` spatial convolution into :math:`M` channels, a nonlinearity, then a
:math:`t \times 1 \times 1` temporal convolution, with
:math:`k^2 C_{in} M + t M C_{out}` weights. Choosing

.. math:: M = \left\lfloor \frac{t k^2 C_{in} C_{out}}{k^2 C_{in} + t C_{out}} \right\rfloor
          \qquad (1.5)

(Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action Recognition", CVPR
2018, section 3.5) makes the two weight counts equal up to the floor, while the factored
block has twice the nonlinearities. (1.5) is chapter 01's number
(``chapters/01_complexity_and_spatiotemporal_convolution.ipynb``, with :math:`k^2 = k_h k_w`),
the block's output and MACs its (1.4). For :math:`t = k = 3`, :math:`C_{in} = C_{out} = 64`:
:math:`M = 144` and both have 110,592 weights.

The block itself is :class:`minidl.layers.conv.Conv2Plus1D` (two ``Conv3D`` and a ``ReLU``).
"""

from minidl._validation import check_positive_int


def conv2plus1d_mid_channels(t, k, c_in, c_out):
    r""":math:`M = \lfloor t k^2 C_{in} C_{out} / (k^2 C_{in} + t C_{out}) \rfloor`, (1.5).

    ``k`` is the spatial kernel size (an int; for a ``kh x kw`` kernel pass the pair, and
    :math:`k^2` becomes :math:`k_h k_w`). Integer arithmetic, so no float rounding.
    """
    t = check_positive_int(t, "t")
    if isinstance(k, (tuple, list)):
        kh, kw = (check_positive_int(v, "k") for v in k)
        k2 = kh * kw
    else:
        k2 = check_positive_int(k, "k") ** 2
    c_in = check_positive_int(c_in, "c_in")
    c_out = check_positive_int(c_out, "c_out")
    return (t * k2 * c_in * c_out) // (k2 * c_in + t * c_out)


def weight_counts(t, k, c_in, c_out, mid_channels=None):
    """``(full_3d, factored)`` weight counts (biases excluded) for the formula above."""
    m = conv2plus1d_mid_channels(t, k, c_in, c_out) if mid_channels is None else mid_channels
    k2 = k[0] * k[1] if isinstance(k, (tuple, list)) else k * k
    return t * k2 * c_in * c_out, k2 * c_in * m + t * m * c_out
