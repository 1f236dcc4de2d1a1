r"""Quantization-aware training: fake quantization with the straight-through estimator (STE).

Forward, quantize then dequantize, so the network sees the rounding error it will meet at
integer inference while every array stays float (Jacob et al. 2018, §3, eq. 12):

.. math:: \hat x = S\,\big(\operatorname{clamp}(\operatorname{round}(x/S) + Z,\,
          q_{min}, q_{max}) - Z\big)

Backward: round has zero derivative almost everywhere, so the STE (Bengio et al. 2013) treats
it as the identity and keeps only the clamp's derivative, exactly as PyTorch's
``fake_quantize_per_tensor_affine`` backward does:

.. math:: \frac{\partial L}{\partial x} = \frac{\partial L}{\partial \hat x}\,
          [\,q_{min} \le \operatorname{round}(x/S) + Z \le q_{max}\,]

(the mask uses the rounded code before clamping, PyTorch's convention). Scale and zero point
are constants here (no gradient), as in PyTorch's non-learnable fake quantization.
"""

import numpy as np

from minidl._validation import check_float_array
from minidl.compression.observers import MinMaxObserver
from minidl.compression.quantization import (
    _check_qparams,
    block_of,
    check_bits,
    choose_qparams,
    code_blocks,
    codes_exact_in,
    qrange,
    quantize_codes,
)
from minidl.layers.base import LAYERS, Layer
from minidl.nn.state_spec import fake_quantize_state


def fake_quantize(x, scale, zero_point, bits=8, signed=True, narrow_range=False, axis=None):
    r"""Fake quantization (module docstring): returns ``(x_hat, mask)`` in ``x``'s dtype.

    ``mask`` (bool, ``x``'s shape) is where the STE passes the gradient; give it to
    :func:`fake_quantize_backward`. Per channel with ``axis`` as
    :func:`~minidl.compression.quantization.quantize`. ``x_hat`` is
    ``float(clamp(q) - Z) * float(S)`` in ``x``'s dtype.
    """
    qmin, qmax = qrange(bits, signed, narrow_range)
    x = check_float_array(x, "x")
    if not codes_exact_in(x.dtype, qmin, qmax):  # 25 bits and more from float32: float64 codes
        q = quantize_codes(x, scale, zero_point, qmin, qmax, axis)
        s, z = _check_qparams(x.shape, scale, zero_point, axis, qmin, qmax)  # shaped for x
        s = s.astype(x.dtype)
        return (np.clip(q, qmin, qmax) - z).astype(x.dtype) * s, (q >= qmin) & (q <= qmax)
    # the same in x's precision, which holds every code here, block by block (code_blocks,
    # which checks the arguments before its first block)
    x_hat = mask = None
    for block, q in code_blocks(x, scale, zero_point, qmin, qmax, axis):
        if x_hat is None:
            s, z = _check_qparams(x.shape, scale, zero_point, axis, qmin, qmax)  # shaped for x
            s, zero = s.astype(x.dtype), z.astype(x.dtype)
            x_hat, mask = np.empty(x.shape, dtype=x.dtype), np.empty(x.shape, dtype=bool)
        np.logical_and(q >= qmin, q <= qmax, out=block_of(mask, block))  # the STE's: pre-clamp
        np.clip(q, qmin, qmax, out=q)
        q -= zero
        np.multiply(q, s, out=block_of(x_hat, block))
    return x_hat, mask


def fake_quantize_backward(dy, mask):
    r"""STE: :math:`dx = dy \cdot mask` (zero where the code was clamped)."""
    dy = check_float_array(dy, "dy")
    if dy.shape != np.shape(mask):
        raise ValueError(f"dy must have the mask's shape {np.shape(mask)}, got {dy.shape}")
    return np.where(mask, dy, dy.dtype.type(0))


class FakeQuantize(Layer):
    r"""Fake quantization of activations as a layer (PyTorch's ``FakeQuantize`` module).

    In training mode each forward first feeds ``x`` to an observer (moving-average min/max,
    ``averaging_constant`` 0.01 as PyTorch's default for activations; ``None`` for the plain
    running min/max) and recomputes ``scale``/``zero_point`` from it; in eval mode the last
    ones are frozen. ``scale`` and ``zero_point`` are in ``buffers``, with the observer's
    range ``min_val``/``max_val`` (as PyTorch keeps them), so a saved model loads with all
    four and its observer continues where it was. Backward: the STE mask. ``axis`` gives
    per-channel ranges (e.g. 1 for (N, C, H, W)).
    """

    samples_apart = False  # its observer takes the batch's min/max (Layer.samples_apart)

    def __init__(
        self, bits=8, symmetric=False, signed=True, narrow_range=False, axis=None,
        averaging_constant=0.01,
    ):  # fmt: skip
        super().__init__()
        self.bits = check_bits(bits)
        self.symmetric, self.signed = bool(symmetric), bool(signed)
        self.narrow_range, self.axis = bool(narrow_range), axis
        self.averaging_constant = averaging_constant
        self.observer = MinMaxObserver(
            bits, symmetric, signed, narrow_range, axis, averaging_constant
        )
        self._cache = None

    def forward(self, x):
        x = check_float_array(x, "FakeQuantize input x")
        if self.training:
            self.observer.observe(x)
            scale, zp = self.observer.calculate_qparams()
            self.buffers["scale"] = np.asarray(scale, dtype=np.float32)
            self.buffers["zero_point"] = np.asarray(zp, dtype=np.int64)
            self.buffers["min_val"] = self.observer.min_val
            self.buffers["max_val"] = self.observer.max_val
        elif "scale" not in self.buffers:
            raise RuntimeError("FakeQuantize in eval mode has no scale yet: run it in train mode")
        y, mask = fake_quantize(
            x, self.buffers["scale"], self.buffers["zero_point"], self.bits, self.signed,
            self.narrow_range, self.axis,
        )  # fmt: skip
        self._cache = mask
        return y

    def backward(self, dy):
        dy = self._check_grad(dy, self._cache.shape if self._cache is not None else None)
        return fake_quantize_backward(dy, self._cache)

    def get_config(self):
        return {
            "bits": self.bits, "symmetric": self.symmetric, "signed": self.signed,
            "narrow_range": self.narrow_range, "axis": self.axis,
            "averaging_constant": self.averaging_constant,
        }  # fmt: skip

    def allocate_state(self, spec):
        """Zero buffers of the shapes in ``spec`` (``{name: (shape, dtype)}``, a model file's),
        for a loader to fill: a fresh layer has none until it sees data. The observer shares
        the range arrays, so it continues from the loaded range."""
        spec = fake_quantize_state(self.get_config(), spec)
        self.buffers = {name: np.zeros(shape, dtype) for name, (shape, dtype) in spec.items()}
        self.observer.min_val = self.buffers.get("min_val")
        self.observer.max_val = self.buffers.get("max_val")


class FakeQuantWeight(Layer):
    r"""Wrap a ``Dense``/``ConvND``: its forward uses the fake-quantized weight.

    The wrapper owns the float weight as ``params['weight']`` (the very array the wrapped layer
    had, so optimizers and ``state_dict`` keys are unchanged) and the bias. Each forward
    computes the weight's qparams from its current min/max (per output channel, symmetric int8
    by default; ``narrow_range=True``, codes in [-127, 127], the grid
    :mod:`minidl.compression.int_model` uses, so QAT sees the integer model's weights), writes
    :math:`\hat w` into the inner layer, and runs it. Backward: the inner layer's gradient with
    respect to :math:`\hat w`, times the STE mask, is the float weight's gradient.
    """

    def __init__(self, layer, bits=8, symmetric=True, signed=True, narrow_range=True,
                 per_channel=True):  # fmt: skip
        super().__init__()
        if isinstance(layer, dict):  # rebuilt from get_config()
            layer = _layer_from_config(layer)
        if not isinstance(layer, Layer) or "weight" not in layer.params:
            raise TypeError(
                f"layer must be a minidl Layer with a 'weight' param (Dense, Conv1D/2D/3D), got "
                f"{type(layer).__name__}"
            )
        self.layer = layer
        self.bits = check_bits(bits)
        self.symmetric, self.signed = bool(symmetric), bool(signed)
        self.narrow_range, self.per_channel = bool(narrow_range), bool(per_channel)
        self.params = dict(layer.params)  # same arrays: the float master copies
        self.buffers = layer.buffers  # the same dict: a wrapped BatchNorm's statistics are saved
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        layer.params["weight"] = np.empty_like(self.params["weight"])  # receives w_hat
        self._mask = None

    def weight_qparams(self):
        """``(scale, zero_point)`` of the current float weight (per output channel or tensor)."""
        w = self.params["weight"]
        if self.per_channel:
            rows = w.reshape(w.shape[0], -1)
            lo, hi = rows.min(axis=1), rows.max(axis=1)
        else:
            lo, hi = w.min(), w.max()
        return choose_qparams(lo, hi, self.bits, self.symmetric, self.signed, self.narrow_range)

    def quantized_weight(self):
        """:math:`\\hat w` and the STE mask for the current float weight."""
        scale, zp = self.weight_qparams()
        axis = 0 if self.per_channel else None
        return fake_quantize(
            self.params["weight"], scale, zp, self.bits, self.signed, self.narrow_range, axis
        )

    def forward(self, x):
        w_hat, self._mask = self.quantized_weight()
        self.layer.params["weight"][...] = w_hat
        if "bias" in self.params:
            self.layer.params["bias"] = self.params["bias"]
        return self.layer.forward(x)

    def backward(self, dy):
        if self._mask is None:
            raise RuntimeError("FakeQuantWeight.backward called before forward")
        dx = self.layer.backward(dy)
        self.grads["weight"][...] = fake_quantize_backward(self.layer.grads["weight"], self._mask)
        if "bias" in self.params:
            self.grads["bias"][...] = self.layer.grads["bias"]
        return dx

    def output_shape(self, input_shape):
        return self.layer.output_shape(input_shape)

    def train(self):
        self.layer.train()
        return super().train()

    def eval(self):
        self.layer.eval()
        return super().eval()

    def get_config(self):
        return {
            "layer": {"type": type(self.layer).__name__, "config": self.layer.get_config()},
            "bits": self.bits, "symmetric": self.symmetric, "signed": self.signed,
            "narrow_range": self.narrow_range, "per_channel": self.per_channel,
        }  # fmt: skip


def _layer_from_config(entry):
    """The layer ``{'type': class name, 'config': {...}}`` describes (``get_config``'s form)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise TypeError(
            f"layer must be a Layer or {{'type': name, 'config': {{...}}}}, got {entry!r}"
        )
    cls = LAYERS.get(entry.get("type"))
    if cls is None:
        raise ValueError(f"layer type {entry.get('type')!r} is unknown; known: {sorted(LAYERS)}")
    return cls(**entry["config"])


def prepare_qat(model, bits=8, symmetric=True, per_channel=True, narrow_range=True):
    """Wrap every layer with a ``weight`` (Dense, ConvND) of a ``Sequential`` in
    :class:`FakeQuantWeight`, in place (indices and ``state_dict`` keys unchanged); returns it.

    Activations are left float; insert :class:`FakeQuantize` layers where they should be
    quantized too.
    """
    if not hasattr(model, "layers"):
        raise TypeError(f"model must be a minidl Sequential, got {type(model).__name__}")
    for i, layer in enumerate(model.layers):
        if "weight" in layer.params and not isinstance(layer, FakeQuantWeight):
            model.layers[i] = FakeQuantWeight(
                layer, bits=bits, symmetric=symmetric, per_channel=per_channel,
                narrow_range=narrow_range,
            )  # fmt: skip
    return model
