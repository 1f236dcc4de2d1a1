r"""``Sequential``: a list of layers run forward in order and backward in reverse.

.. math:: y = f_{L-1}(\dots f_1(f_0(x))), \qquad
          \frac{\partial \ell}{\partial x} = J_{f_0}^\top \cdots J_{f_{L-1}}^\top
          \frac{\partial \ell}{\partial y}

``forward`` composes the layers; ``backward(dy)`` hands each layer's input gradient to the
layer before it (the chain rule, right to left) and leaves every parameter gradient in the
layer's ``grads``. ``params`` / ``grads`` / ``state_dict()`` gather them under PyTorch's
``state_dict`` keys (``'0.weight'``, ``'3.bias'``, ``'1.running_mean'``), so an
``nn.Sequential`` with the same layers exchanges weights with this one as is. ``fit`` /
``evaluate`` / ``predict`` hand the model to the training loop in :mod:`minidl.nn.training`;
saving and loading files is in :mod:`minidl.nn.serialization`.
"""

import numpy as np

from minidl.layers.base import Layer, gather
from minidl.nn import training
from minidl.nn.serialization import load_model, load_weights, save_model
from minidl.nn.state_spec import OPTIONAL_KEYS

# BatchNorm's batch count (PyTorch's buffer, and minidl's since issue 17): loaded where both
# sides have it, never required, so files saved before it and state_dicts without it
# (a layer of your own that keeps no count) still load; the count then stays as it was.
IGNORED_KEYS = OPTIONAL_KEYS


class Sequential:
    """Layers applied in order; see the module docstring for the formulas and keys."""

    def __init__(self, layers):
        layers = list(layers) if isinstance(layers, (list, tuple)) else layers
        if not isinstance(layers, list) or not layers:
            raise TypeError(f"layers must be a non-empty list of Layer objects, got {layers!r}")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a minidl Layer, got {type(layer).__name__}")
        self.layers = layers
        self.training = True
        self.loss = None  # the loss of the last fit(); evaluate() defaults to it

    # --- computing ---------------------------------------------------------------------------

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        """:math:`y = f_{L-1}(\\dots f_0(x))`; each layer caches what its backward needs."""
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, dy, input_grad=True):
        """Run the layers' backwards in reverse order; return ``dx`` (the input gradient).

        ``input_grad=False`` (what training uses) returns None and lets the first layer skip
        its input gradient (``Layer.backward_params``), as PyTorch does for an input that does
        not require grad.
        """
        for layer in reversed(self.layers[1:]):
            dy = layer.backward(dy)
        if input_grad:
            return self.layers[0].backward(dy)
        self.layers[0].backward_params(dy)
        return None

    def output_shape(self, input_shape):
        """Shape of ``forward(x)`` for ``x.shape == input_shape``, layer by layer."""
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = tuple(layer.output_shape(shape))
        return shape

    def train(self):
        """Training mode for every layer (Dropout drops, BatchNorm uses batch statistics)."""
        for layer in self.layers:
            layer.train()
        self.training = True
        return self

    def eval(self):
        """Evaluation mode for every layer (Dropout is the identity, BatchNorm uses running
        statistics)."""
        for layer in self.layers:
            layer.eval()
        self.training = False
        return self

    # --- parameters and state ----------------------------------------------------------------

    def _gather(self, attr):
        # built afresh on every access, so it always holds the layers' current arrays
        return gather(enumerate(self.layers), attr)

    @property
    def params(self):
        """``{'0.weight': layer0.params['weight'], ...}``: the layers' own arrays, not copies."""
        return self._gather("params")

    @property
    def grads(self):
        """The layers' current gradient arrays under the keys of :attr:`params`."""
        return self._gather("grads")

    @property
    def buffers(self):
        """Non-learned state (BatchNorm's ``running_mean`` / ``running_var``) under its keys."""
        return self._gather("buffers")

    def state_dict(self):
        """Parameters and buffers, layer by layer, in PyTorch's key order.

        The values are the model's own arrays (as PyTorch's tensors share storage): copy them
        (``{k: v.copy() ...}``) to keep a snapshot that later training will not change.
        """
        state = {}
        for i, layer in enumerate(self.layers):
            for attr in ("params", "buffers"):
                for name, arr in getattr(layer, attr).items():
                    state[f"{i}.{name}"] = arr
        return state

    def load_state_dict(self, state_dict):
        """Copy ``state_dict``'s arrays into the model's arrays, in place, after checking all.

        Every key of :meth:`state_dict` must be present with the same shape and dtype and
        finite values, and no other key may be (``num_batches_tracked`` is loaded where both
        sides have it and never required: files from before minidl saved it still load).
        All problems are reported together, and nothing is copied unless everything passes,
        so a failed load leaves the model as it was. Values may be ndarrays or anything
        ``numpy.asarray`` converts (a CPU ``torch.Tensor`` included).
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict must be a dict name -> array, got {type(state_dict)}")
        own = self.state_dict()
        given = dict(state_dict.items())
        ignorable = lambda k: k.endswith(IGNORED_KEYS)  # checked and copied only if both have it
        missing = [k for k in own if k not in given and not ignorable(k)]
        unexpected = [k for k in given if k not in own and not ignorable(k)]
        problems = []
        if missing:
            problems.append(f"missing keys {missing}")
        if unexpected:
            problems.append(f"unexpected keys {unexpected}")
        values = {}
        for k in own:
            if k not in given:
                continue
            v = np.asarray(given[k])
            target = own[k]
            if v.shape != target.shape:
                problems.append(f"{k!r}: expected shape {target.shape}, got {v.shape}")
            elif v.dtype != target.dtype:
                problems.append(
                    f"{k!r}: expected dtype {target.dtype}, got {v.dtype} "
                    "(convert with .astype first if you mean it)"
                )
            elif np.issubdtype(v.dtype, np.floating) and not np.all(np.isfinite(v)):
                problems.append(f"{k!r}: contains NaN or inf")
            else:
                values[k] = v
        if problems:
            raise ValueError("load_state_dict: " + "; ".join(problems))
        for k, v in values.items():
            own[k][...] = v

    # --- training loop: minidl.nn.training's functions take the model first, so they are the
    # methods as they are (one signature and one docstring, there)
    fit = training.fit
    evaluate = training.evaluate
    predict = training.predict

    def summary(self, input_shape, **kwargs):
        """Per-layer output shape, parameters, MACs...: :func:`minidl.nn.complexity.summary`
        (``input_shape`` with the batch axis; ``kwargs`` are passed on)."""
        from minidl.nn.complexity import summary  # lazy: the engine does not need complexity

        return summary(self.layers, input_shape, **kwargs)

    # --- files -------------------------------------------------------------------------------

    def save(self, path):
        """Write architecture and state to ``path`` (npz + JSON metadata, atomic)."""
        save_model(self, path)

    @classmethod
    def load(cls, path):
        """Rebuild the model saved in ``path``: its layers from the metadata, then its state."""
        return load_model(path, cls)

    def load_weights(self, path):
        """Load the state saved in ``path`` into this model; the architectures must match."""
        load_weights(self, path)

    # --- container protocol ------------------------------------------------------------------

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"
