"""The layer contract every minidl layer follows (the README's "Conventions" section).

- ``layer(x)`` is ``layer.forward(x)``; it caches what the backward needs (the functional
  op's cache, :mod:`minidl.functional.contract`).
- ``layer.backward(dy)`` returns ``dx`` and *overwrites* ``layer.grads[name]`` for every
  ``layer.params[name]``, in place; it never mutates ``dy`` or the cached input.
- ``layer.backward_params(dy)`` fills the same ``grads`` and returns None: the backward of a
  network's first layer, whose input gradient nobody reads. By default it calls ``backward``;
  a layer whose ``dx`` is real work (convolution) overrides it to skip that work.
- ``params`` / ``grads`` / ``buffers`` are dicts of ndarrays in PyTorch's names and layouts
  (``weight``, ``bias``, ``running_mean`` ...), so a PyTorch ``state_dict`` loads as is. Each
  array has one owner: a layer made of others (``Conv2Plus1D``) shows its parts' arrays under
  prefixed keys, as ``Sequential`` does, and keeps none of its own.
- ``__init__`` checks the arguments and allocates the arrays; ``reset_parameters(rng)`` draws
  their initial values (``__init__`` calls it); ``from_config(config)`` rebuilds a layer
  without drawing anything, for loaders that overwrite the arrays anyway.
- ``train()`` / ``eval()`` set ``training`` (BatchNorm and Dropout read it).
- ``output_shape(input_shape)`` maps a full input shape (with N) to the output shape, without
  computing anything; ``cost(input_shape, dtype)`` gives the per-sample MACs, FLOPs and cache
  bytes (conventions in :mod:`minidl.nn.complexity`, whose ``summary`` calls it).
- ``get_config()`` returns the constructor arguments as JSON-able values, so a model file can
  rebuild the architecture; every concrete subclass is registered by class name in
  ``LAYERS`` (a base declares itself with ``register=False``).
- Layers with parameters compute in their parameter dtype (float32 by default, float64 for
  gradchecks). A float input of the other precision is cast to it; integer or float16 input
  raises ``TypeError``.
"""

import contextvars
import math
from typing import NamedTuple

import numpy as np

from minidl._validation import check_float_array

LAYERS = {}

# True while from_config builds a layer: parameter layers then skip reset_parameters
_REBUILDING = contextvars.ContextVar("minidl_layers_rebuilding", default=False)


class Cost(NamedTuple):
    """One layer's work per sample: MACs, FLOPs and the bytes its backward caches in training."""

    macs: int
    flops: int
    cache_bytes: int


def per_sample(shape):
    """Number of values per sample of an ``(N, ...)`` shape."""
    return math.prod(shape[1:])


def gather(named_layers, attr):
    """``{f"{name}.{key}": array}`` over ``(name, layer)`` pairs: the flat dict of a container,
    whose values are the layers' own arrays (PyTorch's ``state_dict`` keys)."""
    return {
        f"{name}.{key}": arr
        for name, layer in named_layers
        for key, arr in getattr(layer, attr).items()
    }


class Layer:
    """Base class: holds params, grads, buffers and the train/eval flag."""

    # Whether, in training mode, each sample's output and gradients depend on that sample
    # alone and no random number is drawn, so that a batch may be cut into parts computed
    # apart (:class:`minidl.nn.DataParallel`). BatchNorm (batch statistics) and Dropout (its
    # masks come from one generator, in order) set it False; so should a layer of your own
    # that mixes the samples of a batch.
    samples_apart = True

    def __init_subclass__(cls, register=True, **kwargs):
        super().__init_subclass__(**kwargs)
        if register and not cls.__name__.startswith("_"):  # bases are never in a model file
            LAYERS[cls.__name__] = cls

    def __init__(self):
        for name in ("params", "grads", "buffers"):
            # a layer made of others defines these as properties over its parts
            if not isinstance(getattr(type(self), name, None), property):
                setattr(self, name, {})
        self.training = True
        self._cache = None

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def backward_params(self, dy):
        """Fill ``grads`` as ``backward`` does, without returning the input gradient."""
        self.backward(dy)

    def reset_parameters(self, rng=None):
        """Draw or set the initial parameters and buffers (nothing to do without any)."""

    def _initialize(self, rng):
        """The end of a parameter layer's ``__init__``: ``reset_parameters(rng)``, except while
        :meth:`from_config` rebuilds it."""
        if not _REBUILDING.get():
            self.reset_parameters(rng)

    @classmethod
    def from_config(cls, config):
        """``cls(**config)`` with its arrays allocated but not initialized: no random number
        is drawn, so a loader that overwrites them does not shift any generator's stream."""
        token = _REBUILDING.set(True)
        try:
            return cls(**config)
        finally:
            _REBUILDING.reset(token)

    def output_shape(self, input_shape):
        """Shape of ``forward(x)`` for ``x.shape == input_shape`` (default: unchanged)."""
        return tuple(input_shape)

    def cost(self, input_shape, dtype=np.float32):
        """:class:`Cost` per sample for ``input_shape``; every layer of minidl defines it."""
        name = type(self).__name__
        raise TypeError(f"layer {name} has no cost rule: define {name}.cost(input_shape, dtype)")

    def get_config(self):
        """Constructor arguments as JSON-able values (override in layers that take any)."""
        return {}

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    @property
    def dtype(self):
        """The dtype of the parameters (None for a layer without parameters)."""
        for p in self.params.values():
            return p.dtype
        return None

    def _check_input(self, x, ndim=None, name="x"):
        """Validate ``x`` (float, rank) and cast it to the parameter dtype if there is one."""
        x = check_float_array(x, f"{type(self).__name__} input {name}", ndim=ndim)
        dtype = self.dtype
        if dtype is not None and x.dtype != dtype:
            x = x.astype(dtype)
        return x

    def _check_grad(self, dy, expected_shape):
        """Validate the upstream gradient's shape against the forward output."""
        if getattr(self, "_cache", None) is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dy = check_float_array(dy, f"{type(self).__name__}.backward dy")
        if dy.shape != tuple(expected_shape):
            raise ValueError(
                f"{type(self).__name__}.backward expected dy of shape {tuple(expected_shape)}, "
                f"got {dy.shape}"
            )
        return dy

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def check_dtype(dtype, name="dtype"):
    """Return ``numpy.dtype(dtype)`` if it is float32 or float64; else raise naming ``name``."""
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt


def elementwise_cost(input_shape, dtype, flops_per_element, cached=True):
    """:class:`Cost` of a layer that does ``flops_per_element`` per value and (if ``cached``)
    keeps one array of the input's size for its backward."""
    n = per_sample(input_shape)
    return Cost(0, flops_per_element * n, n * np.dtype(dtype).itemsize if cached else 0)
