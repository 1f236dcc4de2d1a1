r"""Integer-only Dense/ConvND layers: int8 codes in, int8 codes out.

:class:`QuantizedDense` and :class:`QuantizedConv2D` take int8 codes and return int8 codes
(eq. 7 of Jacob et al. 2018, see :mod:`minidl.compression.int_inference`): weights symmetric
per output channel (``narrow_range``: codes in [-127, 127], :math:`Z_w = 0`), inputs and
outputs affine int8 with calibrated scale and zero point, bias int32 at scale
:math:`S_x S_{w,o}`, int32 accumulator, requantization by :math:`M_0 2^{-n}`. A ReLU right after
the layer is fused: the output clamp's lower end becomes :math:`Z_y` (the code of 0).

NumPy has no fast integer matrix product, so the int32 accumulator
:math:`\sum_j q_w (q_x - Z_x)` is computed by a float GEMM on the integer values: every
product is below :math:`2^{15}`, and every partial sum is an integer no larger than the sum of
the products' sizes, so a float that holds that bound exactly (float32 below :math:`2^{24}`,
float64 below :math:`2^{53}`) holds every partial sum exactly, in any order of summation, and
the result is the integer sum bit for bit (checked to fit int32, or known to where the
codes' ranges and the bias bound every sum; the ``accumulate_naive`` twins do it in Python
integers and tests hold the two equal). Each layer takes float32 where
its bound allows (K terms of at most :math:`127 \cdot 255`: K up to 518, any 3x3 conv of 57
channels or fewer), float64 otherwise. The conv's sums go through
:func:`~minidl.functional.conv.conv_nd_sums`, never Winograd's transforms, which divide by 6
and 24 and would leave 1233.9999999 where the sum is 1234.

The scales and zero points come from calibration in :mod:`minidl.compression.int_model`
(``quantize_model``), which chains these layers into a ``QuantizedModel``.
"""

import numpy as np

from minidl.compression.int_inference import INT32_MAX, INT32_MIN, quantize_multiplier, requantize
from minidl.compression.qat import FakeQuantWeight
from minidl.compression.quantization import (
    choose_qparams,
    dequantize,
    integer_dtype,
    qrange,
    quantize,
)
from minidl.functional.conv import conv_nd_sums
from minidl.functional.windows import output_sizes, pad_array, resolve_padding
from minidl.layers.dense import Dense


class _QuantizedLinear:
    """Shared by Dense and ConvND: weight/bias quantization, multipliers, requantization."""

    def __init__(self, layer, input_qparams, output_qparams, bits=8, per_channel=True,
                 relu=False):  # fmt: skip
        if bits > 8:
            raise ValueError(f"bits must be <= 8 for int32 accumulation, got {bits}")
        params = layer.params  # a FakeQuantWeight's params are its float master weights
        layer = layer.layer if isinstance(layer, FakeQuantWeight) else layer
        w = params["weight"]
        rows = w.reshape(w.shape[0], -1)
        if per_channel:
            s_w, z_w = choose_qparams(rows.min(1), rows.max(1), bits, True, True, True)
        else:
            s, z = choose_qparams(rows.min(), rows.max(), bits, True, True, True)
            s_w, z_w = np.full(w.shape[0], s), np.full(w.shape[0], z)
        self.bits, self.relu, self.per_channel = bits, bool(relu), bool(per_channel)
        self.weight_q = quantize(w, s_w, z_w, bits, narrow_range=True, axis=0)
        self.weight_scale = s_w
        self.input_scale, self.input_zero_point = (np.float32(input_qparams[0]),
                                                   int(input_qparams[1]))  # fmt: skip
        self.output_scale, self.output_zero_point = (np.float32(output_qparams[0]),
                                                     int(output_qparams[1]))  # fmt: skip
        bias_scale = np.float64(self.input_scale) * s_w.astype(np.float64)
        b = params.get("bias")
        b = np.zeros(w.shape[0]) if b is None else b.astype(np.float64)
        self.bias_q = np.clip(np.rint(b / bias_scale), INT32_MIN, INT32_MAX).astype(np.int32)
        self.multiplier = bias_scale / np.float64(self.output_scale)  # M_o = S_x S_w,o / S_y
        self.m0, self.shift = quantize_multiplier(self.multiplier)
        self.qmin, self.qmax = qrange(bits)
        self.out_channels = w.shape[0]
        # the GEMM's float: float32 where the sum of every output's |products| stays below
        # 2^24 (module docstring), else float64 (below 2^53 for codes of 8 bits)
        centred = max(self.qmax - self.input_zero_point, self.input_zero_point - self.qmin)
        largest = int(np.abs(self.weight_q.astype(np.int64)).max(initial=0))
        terms = self.weight_q[0].size  # products per output: in_features, or C_g prod(k)
        self.gemm_dtype = np.dtype(np.float32 if terms * largest * centred < 2**24 else np.float64)
        # whether no accumulator can leave int32 (every sum's bound plus the largest bias): then
        # the sums are cast and the bias added in int32, with no int64 copy and no range check
        largest_bias = int(np.abs(self.bias_q.astype(np.int64)).max(initial=0))
        self.fits_int32 = terms * largest * centred + largest_bias <= INT32_MAX

    def _check_codes(self, q_x):
        q_x = np.asarray(q_x)
        if not np.issubdtype(q_x.dtype, np.integer):
            raise TypeError(
                f"{type(self).__name__} input q_x must be integer codes, got {q_x.dtype}"
            )
        if q_x.size and (q_x.min() < self.qmin or q_x.max() > self.qmax):
            raise ValueError(
                f"{type(self).__name__} input q_x must lie in [{self.qmin}, {self.qmax}], got "
                f"[{q_x.min()}, {q_x.max()}]"
            )
        return q_x

    def accumulate(self, q_x):
        r"""int32 accumulator :math:`\sum_j q_w[o, j](q_x[j] - Z_x) + q_b[o]` (exact: module)."""
        q_x = self._check_codes(q_x)
        dt = self.gemm_dtype
        centred = q_x.astype(dt) - dt.type(self.input_zero_point)  # |q_x - Z_x| <= 255: exact
        sums = self._gemm(centred, self.weight_q.astype(dt))  # integers (module docstring)
        bias = self.bias_q.reshape((1, -1) + (1,) * (sums.ndim - 2))
        if self.fits_int32:
            acc = sums.astype(np.int32)
            acc += bias
            return acc
        sums = sums.astype(np.int64)
        sums += bias
        if sums.size and (sums.min() < INT32_MIN or sums.max() > INT32_MAX):
            raise OverflowError(f"{type(self).__name__} accumulator overflows int32")
        return sums.astype(np.int32)

    def __call__(self, q_x):
        """int8 codes in, int8 codes out: requantize(accumulate(q_x)), ReLU fused if set."""
        acc = self.accumulate(q_x)
        shape = (1, -1) + (1,) * (acc.ndim - 2)
        lo = max(self.qmin, self.output_zero_point) if self.relu else self.qmin
        return requantize(acc, self.m0.reshape(shape), self.shift.reshape(shape),
                          self.output_zero_point, lo, self.qmax,
                          integer_dtype(self.bits))  # fmt: skip

    def forward_float(self, x):
        """Convenience: quantize float ``x``, run the integer layer, dequantize the result."""
        q = quantize(x, self.input_scale, self.input_zero_point, self.bits)
        return dequantize(self(q), self.output_scale, self.output_zero_point)


class QuantizedDense(_QuantizedLinear):
    """Integer-only ``Dense``: ``q_x`` (N, in_features) int8 -> (N, out_features) int8."""

    def _gemm(self, centred, w):
        return centred @ w.T

    def accumulate_naive(self, q_x):
        """The accumulator as loops over Python integers (the definition, eq. 7)."""
        q_x = self._check_codes(q_x)
        n, k = q_x.shape
        acc = np.zeros((n, self.out_channels), dtype=np.int64)
        for i in range(n):
            for o in range(self.out_channels):
                total = int(self.bias_q[o])
                for j in range(k):
                    total += int(self.weight_q[o, j]) * (int(q_x[i, j]) - self.input_zero_point)
                acc[i, o] = total
        return acc


class QuantizedConv2D(_QuantizedLinear):
    """Integer-only ``Conv1D/2D/3D`` (any rank; named for the usual case), stride, padding,
    dilation and groups as the float layer. Zero padding in the centred domain
    :math:`q_x - Z_x` is padding with the code :math:`Z_x`, the real 0."""

    def __init__(self, layer, input_qparams, output_qparams, bits=8, per_channel=True,
                 relu=False):  # fmt: skip
        super().__init__(layer, input_qparams, output_qparams, bits, per_channel, relu)
        layer = layer.layer if isinstance(layer, FakeQuantWeight) else layer
        self.stride, self.padding = layer.stride, layer.padding
        self.dilation, self.groups = layer.dilation, layer.groups

    def _gemm(self, centred, w):
        return conv_nd_sums(centred, w, None, self.stride, self.padding, self.dilation,
                            self.groups)  # fmt: skip

    def accumulate_naive(self, q_x):
        """The accumulator as loops over output positions and kernel taps, in Python ints."""
        q_x = self._check_codes(q_x)
        kernel = self.weight_q.shape[2:]
        pads = resolve_padding(self.padding, q_x.shape[2:], kernel, self.stride, self.dilation)
        out = output_sizes(q_x.shape[2:], kernel, self.stride, self.dilation, pads)
        xp = pad_array(q_x.astype(np.int64) - self.input_zero_point, pads)
        c_g, per_group = self.weight_q.shape[1], self.out_channels // self.groups
        acc = np.zeros((q_x.shape[0], self.out_channels) + out, dtype=np.int64)
        for n in range(q_x.shape[0]):
            for o in range(self.out_channels):
                g = o // per_group
                for pos in np.ndindex(*out):
                    total = int(self.bias_q[o])
                    for c in range(c_g):
                        for tap in np.ndindex(*kernel):
                            steps = zip(self.stride, pos, self.dilation, tap, strict=True)
                            idx = tuple(s * i + d * t for s, i, d, t in steps)
                            total += int(self.weight_q[(o, c) + tap]) * int(
                                xp[(n, g * c_g + c) + idx]
                            )
                    acc[(n, o) + pos] = total
        return acc


def quantized_layer(layer, input_qparams, output_qparams, bits=8, per_channel=True, relu=False):
    """``QuantizedDense`` for a ``Dense``, ``QuantizedConv2D`` for a ``Conv1D/2D/3D`` (also
    wrapped in a QAT :class:`~minidl.compression.qat.FakeQuantWeight`)."""
    from minidl.layers.conv import ConvND

    inner = layer.layer if isinstance(layer, FakeQuantWeight) else layer
    if isinstance(inner, Dense):
        cls = QuantizedDense
    elif isinstance(inner, ConvND):
        cls = QuantizedConv2D
    else:
        raise TypeError(
            f"layer must be a Dense or Conv1D/2D/3D for integer inference, got "
            f"{type(layer).__name__}"
        )
    return cls(layer, input_qparams, output_qparams, bits, per_channel, relu)
