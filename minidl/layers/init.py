r"""Weight initializers. Each returns a new array of ``shape`` drawn from an explicit ``rng``.

For a weight of shape ``(out, in, *kernel)`` (PyTorch layout; a Dense weight is ``(out, in)``),
fan_in = in * prod(kernel) and fan_out = out * prod(kernel).

- He/Kaiming (He et al., 2015): Var[w] = gain^2 / fan_in, gain = sqrt(2) for ReLU.
  normal: N(0, gain^2 / fan_in); uniform: U(-b, b), b = gain * sqrt(3 / fan_in).
- Xavier/Glorot (Glorot & Bengio, 2010): Var[w] = 2 / (fan_in + fan_out).
  normal: N(0, 2 / (fan_in + fan_out)); uniform: b = sqrt(6 / (fan_in + fan_out)).
- PyTorch's default for Linear and ConvNd: kaiming_uniform with a = sqrt(5), i.e.
  b = 1 / sqrt(fan_in) for the weight, and the bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""

import math

import numpy as np

from minidl._rng import get_rng

RELU_GAIN = math.sqrt(2.0)


def fan_in_and_out(shape):
    """(fan_in, fan_out) of a weight of PyTorch layout ``(out, in, *kernel)``."""
    if len(shape) < 2:
        raise ValueError(f"shape must have at least 2 dimensions (out, in, ...), got {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _uniform(bound, shape, rng, dtype):
    return get_rng(rng).uniform(-bound, bound, size=shape).astype(dtype)


def kaiming_uniform(shape, gain=RELU_GAIN, rng=None, dtype=np.float32):
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan_in)."""
    fan_in, _ = fan_in_and_out(shape)
    return _uniform(gain * math.sqrt(3.0 / fan_in), shape, rng, dtype)


def kaiming_normal(shape, gain=RELU_GAIN, rng=None, dtype=np.float32):
    """He normal: N(0, gain^2 / fan_in)."""
    fan_in, _ = fan_in_and_out(shape)
    return (get_rng(rng).normal(size=shape) * (gain / math.sqrt(fan_in))).astype(dtype)


def xavier_uniform(shape, gain=1.0, rng=None, dtype=np.float32):
    """Glorot uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_out(shape)
    return _uniform(gain * math.sqrt(6.0 / (fan_in + fan_out)), shape, rng, dtype)


def xavier_normal(shape, gain=1.0, rng=None, dtype=np.float32):
    """Glorot normal: N(0, gain^2 * 2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_out(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return (get_rng(rng).normal(size=shape) * std).astype(dtype)


def pytorch_default(weight_shape, bias=True, rng=None, dtype=np.float32):
    """PyTorch's Linear/ConvNd default: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Returns ``(weight, bias)``; ``bias`` is None when ``bias=False``.
    """
    rng = get_rng(rng)
    fan_in, _ = fan_in_and_out(weight_shape)
    bound = 1.0 / math.sqrt(fan_in)
    weight = _uniform(bound, weight_shape, rng, dtype)
    b = _uniform(bound, (weight_shape[0],), rng, dtype) if bias else None
    return weight, b


INITIALIZERS = {
    "kaiming_uniform": kaiming_uniform,
    "kaiming_normal": kaiming_normal,
    "he_uniform": kaiming_uniform,
    "he_normal": kaiming_normal,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "glorot_uniform": xavier_uniform,
    "glorot_normal": xavier_normal,
}


def check_init(init):
    """``init`` if it names a scheme layers accept: ``'pytorch'`` or a key of INITIALIZERS."""
    if init != "pytorch" and init not in INITIALIZERS:
        known = ", ".join(["'pytorch'"] + [repr(k) for k in INITIALIZERS])
        raise ValueError(f"init must be one of {known}, got {init!r}")
    return init


def weight_and_bias(weight_shape, bias=True, dtype=np.float32):
    """Zero ``{'weight': ..., 'bias': ...}`` arrays for a Dense or convolution layer (``bias``
    only when asked for); :func:`reset_weight_and_bias` draws their values."""
    params = {"weight": np.zeros(weight_shape, dtype=dtype)}
    if bias:
        params["bias"] = np.zeros(weight_shape[0], dtype=dtype)
    return params


def reset_weight_and_bias(params, init, rng=None):
    """Draw ``params['weight']`` (and ``params['bias']`` when present) by ``init``, into the
    arrays: ``'pytorch'`` draws both by :func:`pytorch_default`; any other name draws the
    weight by ``INITIALIZERS[init]`` and sets the bias to zero."""
    w, has_bias = params["weight"], "bias" in params
    if check_init(init) == "pytorch":
        weight, bias = pytorch_default(w.shape, bias=has_bias, rng=rng, dtype=w.dtype)
    else:
        weight, bias = INITIALIZERS[init](w.shape, rng=rng, dtype=w.dtype), 0.0
    w[...] = weight
    if has_bias:
        params["bias"][...] = bias
