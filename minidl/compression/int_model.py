r"""Integer-only Dense/ConvND layers and :func:`quantize_model` for a float ``Sequential``.

:class:`QuantizedDense` and :class:`QuantizedConv2D` take int8 codes and return int8 codes
(eq. 7 of Jacob et al. 2018, see :mod:`minidl.compression.int_inference`): weights symmetric
per output channel (``narrow_range``: codes in [-127, 127], :math:`Z_w = 0`), inputs and
outputs affine int8 with calibrated scale and zero point, bias int32 at scale
:math:`S_x S_{w,o}`, int32 accumulator, requantization by :math:`M_0 2^{-n}`. A ReLU right after
the layer is fused: the output clamp's lower end becomes :math:`Z_y` (the code of 0).

NumPy has no fast integer matrix product, so the int32 accumulator
:math:`\sum_j q_w (q_x - Z_x)` is computed by a float64 GEMM on the integer values: every
product is below :math:`2^{15}` and every partial sum below :math:`2^{53}`, so float64 holds
each exactly and the result is the integer sum bit for bit (checked to fit int32; the
``accumulate_naive`` twins do it in Python integers and tests hold the two equal).
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
from minidl.functional.conv import conv_nd
from minidl.functional.padding import output_sizes, pad_array, resolve_padding
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
        centred = q_x.astype(np.float64) - self.input_zero_point
        acc = self._gemm(centred, self.weight_q.astype(np.float64))
        acc += self.bias_q.reshape((1, -1) + (1,) * (acc.ndim - 2))
        if acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX):
            raise OverflowError(f"{type(self).__name__} accumulator overflows int32")
        return acc.astype(np.int32)

    def __call__(self, q_x):
        """int8 codes in, int8 codes out: requantize(accumulate(q_x)), ReLU fused if set."""
        acc = self.accumulate(q_x)
        shape = (1, -1) + (1,) * (acc.ndim - 2)
        lo = max(self.qmin, self.output_zero_point) if self.relu else self.qmin
        q = requantize(acc, self.m0.reshape(shape), self.shift.reshape(shape),
                       self.output_zero_point, lo, self.qmax)  # fmt: skip
        return q.astype(integer_dtype(self.bits))

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
        return conv_nd(centred, w, None, self.stride, self.padding, self.dilation, self.groups)

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
    from minidl.layers.conv import _ConvND

    inner = layer.layer if isinstance(layer, FakeQuantWeight) else layer
    if isinstance(inner, Dense):
        cls = QuantizedDense
    elif isinstance(inner, _ConvND):
        cls = QuantizedConv2D
    else:
        raise TypeError(
            f"layer must be a Dense or Conv1D/2D/3D for integer inference, got "
            f"{type(layer).__name__}"
        )
    return cls(layer, input_qparams, output_qparams, bits, per_channel, relu)


class _IntStep:
    """A step between integer layers that keeps the scale and zero point (exact on codes)."""

    def __init__(self, kind, layer, zero_point, qmin, qmax):
        self.kind, self.layer, self.zero_point = kind, layer, zero_point
        self.qmin, self.qmax = qmin, qmax

    def __call__(self, q):
        if self.kind == "relu":  # max(r, 0) is max(q, Z) on codes
            return np.maximum(q, np.asarray(self.zero_point, dtype=q.dtype))
        if self.kind == "identity":  # Dropout in eval mode
            return q
        if self.kind in ("flatten", "maxpool"):  # reshapes and maxima select codes: exact
            return self.layer.forward(q.astype(np.float64)).astype(q.dtype)
        # average pooling: mean of the centred codes, rounded half to even, same scale
        mean = self.layer.forward(q.astype(np.float64) - self.zero_point)
        return np.clip(np.rint(mean) + self.zero_point, self.qmin, self.qmax).astype(q.dtype)


class _FloatStep:
    """Fallback for a layer with no integer version: dequantize, run it in float, requantize."""

    def __init__(self, layer, in_qparams, out_qparams, bits):
        self.layer, self.in_qparams, self.out_qparams, self.bits = (
            layer,
            in_qparams,
            out_qparams,
            bits,
        )

    def __call__(self, q):
        x = dequantize(q, *self.in_qparams)
        return quantize(self.layer.forward(x), *self.out_qparams, bits=self.bits)


_PASS_THROUGH = {
    "ReLU": "relu", "Flatten": "flatten", "Dropout": "identity", "MaxPool1D": "maxpool",
    "MaxPool2D": "maxpool", "MaxPool3D": "maxpool", "AvgPool1D": "avgpool",
    "AvgPool2D": "avgpool", "AvgPool3D": "avgpool", "GlobalAvgPool": "avgpool",
}  # fmt: skip


def _plan(layers, allow_float):
    """Group the layers: (kind, [layers]); a Dense/Conv followed by ReLU is one group."""
    from minidl.layers.conv import _ConvND

    plan, i = [], 0
    while i < len(layers):
        layer, name = layers[i], type(layers[i]).__name__
        inner = layer.layer if isinstance(layer, FakeQuantWeight) else layer
        if isinstance(inner, (Dense, _ConvND)):
            relu = i + 1 < len(layers) and type(layers[i + 1]).__name__ == "ReLU"
            plan.append(("linear", layers[i : i + 1 + relu]))
            i += 1 + relu
            continue
        if name in _PASS_THROUGH:
            plan.append((_PASS_THROUGH[name], [layer]))
        elif allow_float:
            plan.append(("float", [layer]))
        else:
            raise TypeError(
                f"layer {i} ({name}) has no integer version; pass allow_float_fallback=True "
                f"to run it in float between dequantize and quantize"
            )
        i += 1
    return plan


class QuantizedModel:
    """A calibrated integer pipeline: quantize the input, integer steps, dequantize the output.

    ``steps`` holds the integer layers (:class:`QuantizedDense`, :class:`QuantizedConv2D`) and
    the steps between them; ``describe()`` says which ran in integers and which fell back to
    float. Trailing float-only layers (a final ``Softmax``) run after dequantization.
    """

    def __init__(self, input_qparams, steps, output_qparams, tail, bits):
        self.input_qparams, self.steps = input_qparams, steps
        self.output_qparams, self.tail, self.bits = output_qparams, tail, bits

    def forward_int(self, q):
        for step in self.steps:
            q = step(q)
        return q

    def forward(self, x):
        """Float in, float out; every Dense/Conv in between runs on integers."""
        q = self.forward_int(quantize(x, *self.input_qparams, bits=self.bits))
        y = dequantize(q, *self.output_qparams, dtype=np.asarray(x).dtype)
        for layer in self.tail:
            y = layer.forward(y)
        return y

    __call__ = forward

    def predict(self, X, batch_size=256):
        return np.concatenate([self.forward(X[i : i + batch_size])
                               for i in range(0, len(X), batch_size)])  # fmt: skip

    def describe(self):
        lines = []
        for s in self.steps:
            if isinstance(s, _QuantizedLinear):
                kind = f"int8 x int8 -> int32 -> int8 (M0 2^-n{', fused ReLU' if s.relu else ''})"
                lines.append(f"{type(s).__name__}: {kind}")
            elif isinstance(s, _FloatStep):
                lines.append(f"{type(s.layer).__name__}: float fallback")
            else:
                lines.append(f"{type(s.layer).__name__}: on codes ({s.kind})")
        return lines + [f"{type(t).__name__}: float, after dequantize" for t in self.tail]


def quantize_model(model, calibration_data, bits=8, per_channel=True, observer="minmax",
                   percentile=99.99, batch_size=256, allow_float_fallback=True):  # fmt: skip
    """Post-training quantization of a float ``Sequential`` for integer-only inference.

    Runs ``calibration_data`` (an array of inputs) through the float model in eval mode in
    batches, observing the model input and the output of each Dense/Conv (after a fused ReLU)
    and of each float fallback with ``observer`` (``'minmax'``: running min/max;
    ``'percentile'``: the ``percentile``-th and (100 - ``percentile``)-th percentiles), then
    builds the integer layers from those scales and zero points. ReLU, Flatten, Dropout, max
    and average pooling work on the codes and keep their input's scale. A model prepared for
    QAT (:func:`~minidl.compression.qat.prepare_qat`) converts as is: its float master weights
    give the same int8 codes its fake quantization trained with. Returns a
    :class:`QuantizedModel`.
    """
    from minidl.compression.observers import MinMaxObserver, PercentileObserver

    if not hasattr(model, "layers"):
        raise TypeError(f"model must be a minidl Sequential, got {type(model).__name__}")
    if observer not in ("minmax", "percentile"):
        raise ValueError(f"observer must be 'minmax' or 'percentile', got {observer!r}")
    X = np.asarray(calibration_data)
    if X.ndim < 2 or len(X) == 0:
        raise ValueError(f"calibration_data must be a non-empty batch of inputs, got {X.shape}")

    def new_observer():
        if observer == "minmax":
            return MinMaxObserver(bits)
        return PercentileObserver(percentile, absolute=False, bits=bits)

    model.eval()
    plan = _plan(model.layers, allow_float_fallback)
    n_int = max((k for k, (kind, _) in enumerate(plan) if kind != "float"), default=-1) + 1
    plan, tail = plan[:n_int], [group[0] for _, group in plan[n_int:]]
    in_obs = new_observer()
    observers = [new_observer() if kind in ("linear", "float") else None for kind, _ in plan]
    for start in range(0, len(X), batch_size):
        x = in_obs(X[start : start + batch_size])
        for (_, group), obs in zip(plan, observers, strict=True):
            for layer in group:
                x = layer.forward(x)
            if obs is not None:
                obs(x)
    qmin, qmax = qrange(bits)
    qp = in_obs.calculate_qparams()
    input_qparams, steps = qp, []
    for (kind, group), obs in zip(plan, observers, strict=True):
        out_qp = obs.calculate_qparams() if obs is not None else qp
        if kind == "linear":
            steps.append(quantized_layer(group[0], qp, out_qp, bits, per_channel, len(group) > 1))
        elif kind == "float":
            steps.append(_FloatStep(group[0], qp, out_qp, bits))
        else:
            steps.append(_IntStep(kind, group[0], int(qp[1]), qmin, qmax))
        qp = out_qp
    return QuantizedModel(input_qparams, steps, qp, tail, bits)
