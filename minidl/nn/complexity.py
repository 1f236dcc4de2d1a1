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

Each layer gives its own counts, ``layer.cost(input_shape, dtype)`` (a
:class:`minidl.layers.base.Cost`), next to its forward; the convolutions' are the closed forms of
:mod:`minidl.layers.complexity_formulas` (:func:`~minidl.layers.complexity_formulas.conv_macs`,
:func:`~minidl.layers.complexity_formulas.conv_flops` and the (2+1)-D formulas).
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# The closed forms are part of this module's public face (chapters 01 and 03 call
# ``complexity.conv_macs`` ...); they are written once, in minidl.layers.complexity_formulas.
from minidl.layers.complexity_formulas import (  # noqa: F401
    Conv3DComparison,
    compare_conv3d_2plus1d,
    conv2plus1d_macs,
    conv_flops,
    conv_macs,
    conv_params,
    mid_channels_tran,
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


def layer_row(layer, input_shape, dtype=np.float32, index=0):
    """The :class:`Row` of one layer for a full ``input_shape`` (N, ...): its ``cost``."""
    input_shape = _check_shape(input_shape)
    dt = _layer_dtype(layer, dtype)
    if not callable(getattr(layer, "cost", None)):
        raise TypeError(f"layer {type(layer).__name__} has no cost(input_shape, dtype) method")
    out_shape = tuple(int(v) for v in layer.output_shape(input_shape))
    macs, flops, cache = layer.cost(input_shape, dt)
    params = sum(int(p.size) for p in layer.params.values())
    act = _per_sample(out_shape) * dt.itemsize
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
    "(minidl.nn.complexity)."
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
