r"""Post-training quantization of a float ``Sequential`` into an integer pipeline.

:func:`quantize_model` runs calibration data through the float model, observes the ranges of
the model input and of each Dense/Conv output, and converts the layers in order:

* a Dense/Conv (and a ReLU right after it, fused) becomes an integer layer of
  :mod:`minidl.compression.int_layers` (:class:`QuantizedDense`, :class:`QuantizedConv2D`);
* ReLU (:math:`\max(q, Z)`), Flatten, Dropout, max and average pooling act on the codes and keep
  their input's scale and zero point;
* any other layer falls back to float between a dequantize and a quantize, and float-only layers
  at the end (a final ``Softmax``) run after the output is dequantized.

The result is a :class:`QuantizedModel`: quantize the input, integer steps, dequantize the
output. The layer classes are re-exported here (``from minidl.compression.int_model import
QuantizedDense`` keeps working).
"""

import numpy as np

from minidl.compression.int_layers import (  # noqa: F401  (layer classes re-exported)
    QuantizedConv2D,
    QuantizedDense,
    _QuantizedLinear,
    quantized_layer,
)
from minidl.compression.qat import FakeQuantWeight
from minidl.compression.quantization import dequantize, qrange, quantize
from minidl.layers.dense import Dense
from minidl.nn import training


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
    from minidl.layers.conv import ConvND

    plan, i = [], 0
    while i < len(layers):
        layer, name = layers[i], type(layers[i]).__name__
        inner = layer.layer if isinstance(layer, FakeQuantWeight) else layer
        if isinstance(inner, (Dense, ConvND)):
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

    training = False  # inference only: used like any model by evaluate/predict

    def __init__(self, input_qparams, steps, output_qparams, tail, bits):
        self.input_qparams, self.steps = input_qparams, steps
        self.output_qparams, self.tail, self.bits = output_qparams, tail, bits
        self.loss = None  # evaluate() defaults to cross-entropy for integer labels

    def eval(self):
        return self

    def train(self):
        raise TypeError("a QuantizedModel is inference-only: train the float model, then "
                        "quantize_model it again")  # fmt: skip

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
        """The outputs (float logits) for ``X``, batch by batch."""
        return training.predict(self, X, batch_size)

    def evaluate(self, X, y, loss=None, batch_size=256):
        """``(mean loss, accuracy)`` as :meth:`Sequential.evaluate <minidl.nn.model.Sequential.
        evaluate>` computes them; ``loss`` defaults to cross-entropy for integer labels."""
        return training.evaluate(self, X, y, loss, batch_size)

    def summary(self, input_shape):
        """Per step: the layer, how it runs, its output shape and the bytes its parameters take
        as stored (int8 weight codes, int32 bias codes, a float32 weight scale per output
        channel). ``input_shape`` is the input's shape with the batch axis, e.g.
        ``(1, 1, 28, 28)``. Returns the table as text."""
        x = np.zeros((1,) + tuple(input_shape)[1:], dtype=np.float32)
        q = quantize(x, *self.input_qparams, bits=self.bits)
        rows, total = [], 0
        for step in self.steps:
            q, size = step(q), 0
            if isinstance(step, _QuantizedLinear):
                size = step.weight_q.nbytes + step.bias_q.nbytes + 4 * step.out_channels
                how = f"int{self.bits} GEMM, int32 acc" + (" + ReLU" if step.relu else "")
                name = type(step).__name__
            else:
                name = type(step.layer).__name__
                how = "float fallback" if isinstance(step, _FloatStep) else "on the codes"
            total += size
            rows.append((name, how, q.shape[1:], size))
        y = dequantize(q, *self.output_qparams)
        for layer in self.tail:
            y = layer.forward(y)
            rows.append((type(layer).__name__, "float, after dequantize", y.shape[1:], 0))
        lines = [f"{'#':>2}  {'layer':<17}{'runs as':<29}{'output shape':>14}{'param bytes':>13}"]
        lines += [f"{i:>2}  {n:<17}{h:<29}{str(s):>14}{b:>13,}" for i, (n, h, s, b) in
                  enumerate(rows)]  # fmt: skip
        lines.append(f"stored parameters: {total:,} bytes ({self.bits}-bit integer model)")
        return "\n".join(lines)

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
