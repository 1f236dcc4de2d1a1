r"""Weight-only quantization of a whole model: every Dense/Conv weight rounded to a b-bit grid.

Chapter 01's question is how far the *weights* can be coarsened before accuracy falls, with the
activations left in float32: a "fake-quantized" copy of the model whose weights are
:math:`\hat w = S\,(\mathrm{clamp}(\mathrm{round}(w/S), q_{min}, q_{max}))`, symmetric (Z = 0),
one scale per output channel (or per tensor). That is (1.10) of chapter 01 applied to each
weight and immediately dequantized.

It is not :func:`minidl.compression.quantize_model`, which builds an integer-only model
(int8 activations too, calibrated on data) that runs on integer arithmetic.
"""

import copy

from minidl.compression.pruning import prunable_weights
from minidl.compression.quantization import check_bits, choose_qparams, dequantize, quantize


def quantize_weights(model, bits=8, per_channel=True):
    r"""A copy of ``model`` whose Dense/Conv weights lie on a symmetric ``bits``-bit grid.

    Per channel (``axis=0``, the output channel of PyTorch's layouts) the scale is
    :math:`S_o = \max_i |w_{o,i}| / ((q_{max} - q_{min})/2)` (:func:`choose_qparams`, PyTorch's
    symmetric observer); per tensor one :math:`S` for the whole weight. Biases, BatchNorm
    parameters and buffers are kept in float32 (they are few and each one matters). The input
    model is not changed.
    """
    bits = check_bits(bits)
    if bits < 2:
        raise ValueError(
            f"bits must be >= 2 for a symmetric grid (1 bit is binarize_weights), got {bits}"
        )
    if not isinstance(per_channel, bool):
        raise TypeError(f"per_channel must be True or False, got {per_channel!r}")
    quantized = copy.deepcopy(model)
    for w in prunable_weights(quantized).values():
        if per_channel:
            axes = tuple(range(1, w.ndim))
            scale, zp = choose_qparams(w.min(axis=axes), w.max(axis=axes), bits, symmetric=True)
            codes = quantize(w, scale, zp, bits=bits, axis=0)
            w[...] = dequantize(codes, scale, zp, axis=0, dtype=w.dtype)
        else:
            scale, zp = choose_qparams(w.min(), w.max(), bits, symmetric=True)
            w[...] = dequantize(quantize(w, scale, zp, bits=bits), scale, zp, dtype=w.dtype)
    return quantized
