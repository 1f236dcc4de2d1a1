"""The state a layer's saved config implies, worked out without building the layer.

A model file says ``Dense(20000, 20000)`` in a few bytes of JSON; building that layer draws
1.6 GB of random weights. The loaders therefore first predict, from each layer's config, the
names, shapes and dtypes of its state (``params`` and ``buffers``), compare them with the
arrays the file holds (their headers only), and build the layers only when both agree, so the
layers cost what the file's own bytes hold. :func:`layer_state` is that prediction, one rule per
layer class (the shapes the constructors make, written once more; a test holds each rule equal
to its constructor on random configs, and another that every registered layer class is here):

- ``RULES``: layers whose state is sized by their config (Dense, convolutions, transposed
  convolutions, batch/layer/group norm, and
  ``FakeQuantWeight`` as the layer it wraps);
- ``STATELESS``: layers whose constructor allocates nothing (activations, pooling, ...);
- ``DATA_SIZED``: ``FakeQuantize``, whose ``scale``/``zero_point`` and observed range exist
  only after it has seen data and take their shapes from it. Its rule checks the file's arrays
  for it against its config; the loader then lets the built layer ``allocate_state``.

``spec`` below means ``{name: (shape tuple, dtype name)}``.
"""

import numpy as np

from minidl._validation import as_tuple, check_positive_int
from minidl.layers.base import check_dtype
from minidl.layers.complexity_formulas import mid_channels_tran

STATELESS = frozenset({
    "AvgPool1D", "AvgPool2D", "AvgPool3D", "MaxPool1D", "MaxPool2D", "MaxPool3D",
    "GlobalAvgPool", "Flatten", "Dropout", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
    "ELU", "GELU", "Softplus",
})  # fmt: skip
DATA_SIZED = frozenset({"FakeQuantize"})
FAKE_QUANTIZE_STATE = ("scale", "zero_point", "min_val", "max_val")


# State a file or a state_dict may lack (files saved before minidl kept BatchNorm's batch
# count): compared and loaded where present, never reported missing.
OPTIONAL_KEYS = ("num_batches_tracked",)


def spec_of(state):
    """``{name: (shape, dtype name)}`` of a dict of arrays."""
    return {k: (tuple(np.shape(v)), np.asarray(v).dtype.name) for k, v in state.items()}


def _dtype(config):
    return check_dtype(config.get("dtype", "float32")).name


def _bias(config):
    return bool(config.get("bias", True))


def _dense(config):
    n_in = check_positive_int(config["in_features"], "in_features")
    n_out = check_positive_int(config["out_features"], "out_features")
    dt = _dtype(config)
    spec = {"weight": ((n_out, n_in), dt)}
    if _bias(config):
        spec["bias"] = ((n_out,), dt)
    return spec


def _conv(nd, transposed=False):
    """Conv weights are (C_out, C_in/groups, *k); transposed ones (C_in, C_out/groups, *k)."""

    def rule(config):
        c_in = check_positive_int(config["in_channels"], "in_channels")
        c_out = check_positive_int(config["out_channels"], "out_channels")
        kernel = as_tuple(config["kernel_size"], nd, "kernel_size")
        groups = check_positive_int(config.get("groups", 1), "groups")
        if c_in % groups or c_out % groups:
            raise ValueError(f"groups={groups} must divide in_channels and out_channels")
        dt = _dtype(config)
        rows, per_group = (c_in, c_out) if transposed else (c_out, c_in)
        spec = {"weight": ((rows, per_group // groups, *kernel), dt)}
        if _bias(config):
            spec["bias"] = ((c_out,), dt)
        return spec

    return rule


def _conv2plus1d(config):
    c_in = check_positive_int(config["in_channels"], "in_channels")
    c_out = check_positive_int(config["out_channels"], "out_channels")
    t, kh, kw = as_tuple(config["kernel_size"], 3, "kernel_size")
    mid = config.get("mid_channels")
    mid = mid_channels_tran(t, (kh, kw), c_in, c_out) if mid is None else mid
    mid = check_positive_int(mid, "mid_channels")
    dt = _dtype(config)
    spec = {"spatial.weight": ((mid, c_in, 1, kh, kw), dt)}
    if _bias(config):
        spec["spatial.bias"] = ((mid,), dt)
    spec["temporal.weight"] = ((c_out, mid, t, 1, 1), dt)
    if _bias(config):
        spec["temporal.bias"] = ((c_out,), dt)
    return spec


def _batchnorm(config):
    c = check_positive_int(config["num_features"], "num_features")
    dt = _dtype(config)
    spec = {}
    if bool(config.get("affine", True)):
        spec.update(weight=((c,), dt), bias=((c,), dt))
    if bool(config.get("track_running_stats", True)):
        spec.update(running_mean=((c,), dt), running_var=((c,), dt))
        spec.update(num_batches_tracked=((), "int64"))  # optional on load: OPTIONAL_KEYS
    return spec


def _layer_norm(config):
    shape = config["normalized_shape"]
    shape = (shape,) if isinstance(shape, int) else shape
    shape = tuple(check_positive_int(s, "normalized_shape") for s in shape)
    dt = _dtype(config)
    spec = {}
    if bool(config.get("elementwise_affine", True)):
        spec["weight"] = (shape, dt)
        if _bias(config):
            spec["bias"] = (shape, dt)
    return spec


def _group_norm(config):
    c = check_positive_int(config["num_channels"], "num_channels")
    dt = _dtype(config)
    return {"weight": ((c,), dt), "bias": ((c,), dt)} if config.get("affine", True) else {}


def _fake_quant_weight(config):
    inner = config["layer"]
    if not isinstance(inner, dict) or not isinstance(inner.get("config"), dict):
        raise ValueError(f"layer must be {{'type': name, 'config': {{...}}}}, got {inner!r}")
    kind = inner.get("type")
    if kind not in RULES:
        raise ValueError(f"wrapped layer type {kind!r} is not one of {sorted(RULES)}")
    return RULES[kind](inner["config"])


RULES = {
    "Dense": _dense,
    "Conv1D": _conv(1),
    "Conv2D": _conv(2),
    "Conv3D": _conv(3),
    "Conv2Plus1D": _conv2plus1d,
    "BatchNorm1D": _batchnorm,
    "BatchNorm2D": _batchnorm,
    "BatchNorm3D": _batchnorm,
    "FakeQuantWeight": _fake_quant_weight,
    **{f"ConvTranspose{d}D": _conv(d, transposed=True) for d in (1, 2, 3)},
    "LayerNorm": _layer_norm,
    "GroupNorm": _group_norm,
}


def fake_quantize_state(config, found):
    """Check ``found`` (the file's spec for a ``FakeQuantize``) against its config; return it.

    Either nothing (it never saw data) or all of ``FAKE_QUANTIZE_STATE``: float32 ``scale`` and
    int64 ``zero_point`` of shape () per tensor or (C,) per channel (``axis`` set), and the
    observed ``min_val``/``max_val`` of shape (1,) or (C,) in float32 or float64.
    """
    if not found:
        return {}
    names = sorted(found)
    if names != sorted(FAKE_QUANTIZE_STATE):
        raise ValueError(f"FakeQuantize state must be {list(FAKE_QUANTIZE_STATE)}, got {names}")
    range_shape, range_dtype = found["min_val"]
    if config.get("axis") is None:
        q_shape, range_want = (), (1,)
    else:
        channels = range_shape[0] if len(range_shape) == 1 else -1
        q_shape = range_want = (channels,)
    want = {
        "scale": (q_shape, "float32"),
        "zero_point": (q_shape, "int64"),
        "min_val": (range_want, range_dtype),
        "max_val": (range_want, range_dtype),
    }
    if range_dtype not in ("float32", "float64") or found != want:
        raise ValueError(f"FakeQuantize state must be {want}, got {found}")
    return want


def layer_state(entry, found):
    """Predicted spec of one layer entry ``{'class', 'config'}``, or None for a class without
    a rule (a layer of your own, built from its config before its state is checked).

    ``found`` is ``{name: (shape, dtype)}`` of the file's arrays for this layer, used only by
    a ``DATA_SIZED`` class. Raises ``ValueError``/``TypeError`` for a config that does not say
    what it must (a missing size, a size that is not a positive integer, an unknown dtype).
    """
    name, config = entry["class"], entry["config"]
    try:
        if name in RULES:
            return RULES[name](config)
        if name in STATELESS:
            return {}
        if name in DATA_SIZED:
            return fake_quantize_state(config, found)
    except KeyError as err:
        raise ValueError(f"{name} config has no {err.args[0]!r}") from None
    return None
