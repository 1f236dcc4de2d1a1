r"""Parameters, MACs, FLOPs and activation memory per layer (source articles 000 and 001).

``summary(layers, input_shape)`` walks a list of layers (or one layer, or a ``Sequential``) with
``layer.output_shape`` -- nothing is computed on data -- and returns a :class:`Summary` whose
``rows`` hold, per layer: output shape, parameters, MACs, FLOPs, the bytes of the output and
the bytes minidl's backward caches. ``print(summary(...))`` gives the table.

Conventions (all counts are **per sample**; the batch size in ``input_shape`` only shows in the
shapes):

* **MAC** = one multiply-accumulate of a *weight* with an input value. Only ``Dense`` and the
  convolutions have MACs; bias adds are not MACs.
* **FLOPs** = 2 x MACs (a multiply and an add each) + one add per output for a bias, plus the
  elementwise work of the other layers, counted as: ReLU, LeakyReLU, Sigmoid and Tanh **1 FLOP
  per element** (one function evaluation, whatever it costs in instructions); Softmax 3 per
  element (exp, add to the sum, divide); max pooling ``prod(k) - 1`` comparisons per output;
  average pooling ``prod(k)`` per output (``prod(k) - 1`` adds and a divide); global average
  pooling one per input element; BatchNorm 2 per element (inference, with the statistics folded
  into one scale and one shift: :math:`y = a x + b`); Dropout and Flatten 0 (identity/reshape at
  inference).
* **Activation memory**: ``activation_bytes`` is the size of the layer's output for one sample
  (what inference must hold; the total is the sum over layers, i.e. what a training forward
  keeps if every output is kept). It does **not** include what backward caches; that is
  ``cache_bytes``, from minidl's own caches in training: Dense the input; a convolution the input
  only (its backward gathers the im2col windows again, a chunk at a time, rather than keeping
  ``C_in prod(k) prod(out)`` values per sample); ReLU/LeakyReLU the input;
  Sigmoid/Tanh/Softmax the output; max pooling one small unsigned int per output (the raster
  index of the window's first maximum); BatchNorm the normalized input; Dropout its mask;
  average pooling and Flatten nothing.

The convolution counts come from the closed forms written out in
:mod:`minidl.complexity_formulas` (:func:`conv_macs`, :func:`conv_params`, :func:`conv_flops`
and the (2+1)-D formulas); those functions are re-exported here.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# The standalone formulas are re-exported: `from minidl.complexity import conv_macs` and
# `minidl.complexity.compare_conv3d_2plus1d(...)` keep working.
from minidl.complexity_formulas import (  # noqa: F401
    Conv3DComparison,
    _channels,
    _rank,
    compare_conv3d_2plus1d,
    conv2plus1d_macs,
    conv_flops,
    conv_macs,
    conv_params,
    mid_channels_tran,
)

# ------------------------------------------------------------------------- per-layer accounting

_ELEMENTWISE_FLOPS = {"ReLU": 1, "LeakyReLU": 1, "Sigmoid": 1, "Tanh": 1, "Softmax": 3}
_CONV = ("Conv1D", "Conv2D", "Conv3D")
_MAXPOOL = ("MaxPool1D", "MaxPool2D", "MaxPool3D")
_AVGPOOL = ("AvgPool1D", "AvgPool2D", "AvgPool3D")
_BATCHNORM = ("BatchNorm1D", "BatchNorm2D", "BatchNorm3D")
_KNOWN = (
    ("Dense", "Conv2Plus1D", "GlobalAvgPool", "Dropout", "Flatten")
    + _CONV
    + _MAXPOOL
    + _AVGPOOL
    + _BATCHNORM
    + tuple(_ELEMENTWISE_FLOPS)
)


class Row(NamedTuple):
    """One layer's line of a :class:`Summary`; counts per sample (see the module docstring)."""

    index: int
    layer: str
    input_shape: tuple
    output_shape: tuple
    params: int
    macs: int
    flops: int
    activation_bytes: int
    cache_bytes: int


def _per_sample(shape):
    return math.prod(shape[1:])


def _costs(layer, in_shape, itemsize):
    """(macs, flops, cache_bytes) per sample, by class name (module docstring conventions).

    Dispatching on the name rather than the class keeps this module importable whichever
    layer modules exist, and lets a user's look-alike class be counted the same way.
    """
    name = type(layer).__name__
    out_shape = tuple(layer.output_shape(in_shape))
    n_in, n_out = _per_sample(in_shape), _per_sample(out_shape)
    if name == "Dense":
        macs = layer.in_features * layer.out_features
        return macs, 2 * macs + layer.out_features * bool(layer.use_bias), n_in * itemsize
    if name in _CONV:
        args = (layer.in_channels, layer.out_channels, layer.kernel_size, out_shape[2:])
        macs = conv_macs(*args, groups=layer.groups)
        flops = conv_flops(*args, groups=layer.groups, bias=layer.use_bias)
        return macs, flops, n_in * itemsize  # the input; im2col is rebuilt in the backward
    if name == "Conv2Plus1D":
        mid_shape = tuple(layer.spatial.output_shape(in_shape))
        sp = _costs(layer.spatial, in_shape, itemsize)
        tm = _costs(layer.temporal, mid_shape, itemsize)
        relu = _per_sample(mid_shape)  # the ReLU between the two convolutions
        return sp[0] + tm[0], sp[1] + tm[1] + relu, sp[2] + tm[2] + relu * itemsize
    if name in _MAXPOOL:
        taps = math.prod(layer.kernel_size)
        cache = n_out * np.min_scalar_type(taps - 1).itemsize  # first-max offset per output
        return 0, (taps - 1) * n_out, cache
    if name in _AVGPOOL:
        return 0, math.prod(layer.kernel_size) * n_out, 0
    if name == "GlobalAvgPool":
        return 0, n_in, 0
    if name in _BATCHNORM:
        return 0, 2 * n_out, n_out * itemsize
    if name in _ELEMENTWISE_FLOPS:
        return 0, _ELEMENTWISE_FLOPS[name] * n_out, n_out * itemsize
    if name == "Dropout":
        return 0, 0, (n_out * itemsize if layer.p > 0 else 0)
    if name == "Flatten":
        return 0, 0, 0
    raise TypeError(
        f"layer {name} has no cost rule in minidl.complexity; known layers: {', '.join(_KNOWN)}"
    )


def layer_row(layer, input_shape, dtype=np.float32, index=0):
    """The :class:`Row` of one layer for a full ``input_shape`` (N, ...)."""
    input_shape = _check_shape(input_shape)
    itemsize = _layer_dtype(layer, dtype).itemsize
    out_shape = tuple(int(v) for v in layer.output_shape(input_shape))
    macs, flops, cache = _costs(layer, input_shape, itemsize)
    params = sum(int(p.size) for p in layer.params.values())
    act = _per_sample(out_shape) * itemsize
    return Row(index, type(layer).__name__, input_shape, out_shape, params, macs, flops, act, cache)


def _layer_dtype(layer, default):
    """The layer's parameter dtype, else ``default`` (explicit None test: a dtype's truth value
    has varied across NumPy versions)."""
    dt = getattr(layer, "dtype", None)
    return np.dtype(default if dt is None else dt)


def _check_shape(input_shape):
    try:
        shape = tuple(int(v) for v in input_shape)
    except TypeError:
        raise TypeError(
            f"input_shape must be a tuple of ints (N, ...), got {input_shape!r}"
        ) from None
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"input_shape must be (N, ...) with positive sizes, got {input_shape!r}")
    return shape


@dataclass(frozen=True)
class Summary:
    """Per-layer rows and totals; ``str(summary)`` is the table. Counts are per sample."""

    rows: tuple
    input_shape: tuple

    @property
    def output_shape(self):
        return self.rows[-1].output_shape if self.rows else self.input_shape

    @property
    def total_params(self):
        return sum(r.params for r in self.rows)

    @property
    def total_macs(self):
        return sum(r.macs for r in self.rows)

    @property
    def total_flops(self):
        return sum(r.flops for r in self.rows)

    @property
    def total_activation_bytes(self):
        """Sum of the layers' outputs per sample (all kept, as in a training forward)."""
        return sum(r.activation_bytes for r in self.rows)

    @property
    def total_cache_bytes(self):
        return sum(r.cache_bytes for r in self.rows)

    def __str__(self):
        head = ("#", "layer", "output shape", "params", "MACs", "FLOPs", "out bytes", "cache bytes")
        body = [
            (str(r.index), r.layer, str(r.output_shape)) + tuple(f"{v:,}" for v in r[4:])
            for r in self.rows
        ]
        totals = ("", "total", str(self.output_shape)) + tuple(
            f"{v:,}"
            for v in (self.total_params, self.total_macs, self.total_flops,
                      self.total_activation_bytes, self.total_cache_bytes)
        )  # fmt: skip
        widths = [max(len(line[i]) for line in [head, *body, totals]) for i in range(len(head))]

        def fmt(line):
            cells = [
                c.ljust(w) if i < 3 else c.rjust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            ]
            return "  ".join(cells).rstrip()

        rule = "-" * len(fmt(head))
        return "\n".join(
            [f"input {self.input_shape}; counts per sample", fmt(head), rule]
            + [fmt(line) for line in body]
            + [rule, fmt(totals), _LEGEND]
        )


_LEGEND = (
    "MAC = one weight multiply-accumulate; FLOPs = 2 MACs + bias adds + elementwise ops;\n"
    "out bytes = the layer's output; cache bytes = what backward keeps in training "
    "(minidl.complexity)."
)


def summary(layers, input_shape, dtype=np.float32):
    """Walk ``layers`` (a list, one layer, or a model with ``.layers``) from ``input_shape``.

    ``input_shape`` is the full shape with the batch first, e.g. ``(64, 1, 100, 100)``; counts
    are per sample. ``dtype`` sizes the activations of layers without parameters until a layer
    with parameters sets its own (layers compute in their parameter dtype).
    """
    if hasattr(layers, "layers"):
        layers = layers.layers
    elif hasattr(layers, "output_shape"):
        layers = [layers]
    layers = list(layers)
    shape = _check_shape(input_shape)
    rows, current = [], np.dtype(dtype)
    for i, layer in enumerate(layers):
        current = _layer_dtype(layer, current)
        row = layer_row(layer, shape, current, index=i)
        rows.append(row)
        shape = row.output_shape
    return Summary(tuple(rows), _check_shape(input_shape))


def count_params(layers):
    """Total number of parameters (weights and biases, not buffers) of a layer or layers."""
    if hasattr(layers, "layers"):
        layers = layers.layers
    elif hasattr(layers, "params"):
        layers = [layers]
    return sum(int(p.size) for layer in layers for p in layer.params.values())
