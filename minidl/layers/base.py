"""The layer contract every minidl layer follows (the README's "Conventions" section).

- ``layer(x)`` is ``layer.forward(x)``; it caches what the backward needs.
- ``layer.backward(dy)`` returns ``dx`` and *overwrites* ``layer.grads[name]`` for every
  ``layer.params[name]``; it never mutates ``dy`` or the cached input.
- ``layer.backward_params(dy)`` fills the same ``grads`` and returns None: the backward of a
  network's first layer, whose input gradient nobody reads. By default it calls ``backward``;
  a layer whose ``dx`` is real work (convolution) overrides it to skip that work.
- ``params`` / ``grads`` / ``buffers`` are dicts of ndarrays in PyTorch's names and layouts
  (``weight``, ``bias``, ``running_mean`` ...), so a PyTorch ``state_dict`` loads as is.
- ``train()`` / ``eval()`` set ``training`` (BatchNorm and Dropout read it).
- ``output_shape(input_shape)`` maps a full input shape (with N) to the output shape, without
  computing anything; ``complexity.summary`` and ``Sequential`` use it.
- ``get_config()`` returns the constructor arguments as JSON-able values, so a model file can
  rebuild the architecture; every subclass is registered by class name in ``LAYERS``.
- Layers with parameters compute in their parameter dtype (float32 by default, float64 for
  gradchecks). A float input of the other precision is cast to it; integer or float16 input
  raises ``TypeError``.
"""

import numpy as np

from minidl._validation import check_float_array

LAYERS = {}


class Layer:
    """Base class: holds params, grads, buffers and the train/eval flag."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):  # private bases are never in a model file
            LAYERS[cls.__name__] = cls

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.training = True

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def backward_params(self, dy):
        """Fill ``grads`` as ``backward`` does, without returning the input gradient."""
        self.backward(dy)

    def output_shape(self, input_shape):
        """Shape of ``forward(x)`` for ``x.shape == input_shape`` (default: unchanged)."""
        return tuple(input_shape)

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
        if not hasattr(self, "_cache") or self._cache is None:
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
