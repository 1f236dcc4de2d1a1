r"""``Sequential``: a list of layers run forward in order and backward in reverse.

.. math:: y = f_{L-1}(\dots f_1(f_0(x))), \qquad
          \frac{\partial \ell}{\partial x} = J_{f_0}^\top \cdots J_{f_{L-1}}^\top
          \frac{\partial \ell}{\partial y}

``forward`` composes the layers; ``backward(dy)`` hands each layer's input gradient to the
layer before it (the chain rule, right to left) and leaves every parameter gradient in the
layer's ``grads``. ``params`` / ``grads`` / ``state_dict()`` gather them under PyTorch's
``state_dict`` keys (``'0.weight'``, ``'3.bias'``, ``'1.running_mean'``), so an
``nn.Sequential`` with the same layers exchanges weights with this one as is. ``fit`` /
``evaluate`` / ``predict`` are the training loop; saving and loading files is in
:mod:`minidl.serialization`.
"""

import contextlib

import numpy as np
from tqdm import tqdm

from minidl._rng import get_rng
from minidl._validation import check_float_array, check_positive_int
from minidl.layers.base import Layer

# PyTorch's BatchNorm counts batches in this buffer; a minidl layer may keep it as a plain
# attribute instead, so the key is never required (but is loaded where both sides have it).
IGNORED_KEYS = ("num_batches_tracked",)


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

    # --- computing ---------------------------------------------------------------------------

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        """:math:`y = f_{L-1}(\\dots f_0(x))`; each layer caches what its backward needs."""
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, dy):
        """Run the layers' backwards in reverse order; return ``dx`` (the input gradient)."""
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

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
        # built afresh on every access: a layer may rebind its grads[name] in backward, and the
        # flat dict must always hold the layer's current arrays, not stale ones
        return {
            f"{i}.{name}": arr
            for i, layer in enumerate(self.layers)
            for name, arr in getattr(layer, attr).items()
        }

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
        finite values, and no other key may be (PyTorch's ``num_batches_tracked`` is ignored).
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

    # --- training loop ---------------------------------------------------------------------

    def fit(
        self,
        X,
        y,
        epochs,
        batch_size,
        optimizer,
        loss,
        validation_data=None,
        rng=None,
        verbose=True,
        scheduler=None,
        callbacks=(),
    ):
        r"""Mini-batch training; returns the history of each epoch's numbers.

        Each epoch shuffles the samples with ``rng`` (a ``numpy.random.Generator``, an int seed
        or None for the package generator), then for each batch :math:`B`: forward,
        :math:`\ell_B = ` ``loss(out, y_B)``, ``backward(loss.backward())`` and
        ``optimizer.step(params, grads)``. A tqdm bar per epoch (``verbose=False`` hides it)
        shows the running loss and accuracy.

        Returns
        -------
        history : dict of lists, one entry per epoch
            ``loss`` and ``accuracy``: means over the epoch's batches weighted by batch size,
            taken while the weights change (as Keras reports them); ``val_loss`` and
            ``val_accuracy``: :meth:`evaluate` on ``validation_data`` after the epoch; ``lr``:
            the learning rate the epoch used. Accuracy (``argmax`` of the logits for integer
            labels, ``logit > 0`` for one binary output) is left out when it is undefined.

        ``scheduler`` (:class:`minidl.optim.StepLR` ...) is stepped after each epoch;
        each of ``callbacks`` is called as ``cb(epoch, logs)`` with that epoch's numbers, and
        training stops early when one returns True.
        """
        X, y = _check_data(X, y, "X", "y")
        epochs = check_positive_int(epochs, "epochs")
        batch_size = check_positive_int(batch_size, "batch_size")
        if not callable(getattr(optimizer, "step", None)):
            raise TypeError(f"optimizer must have a step(params, grads) method, got {optimizer!r}")
        if not callable(loss) or not callable(getattr(loss, "backward", None)):
            raise TypeError(f"loss must be a loss object such as CrossEntropyLoss(), got {loss!r}")
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be a pair (X_val, y_val)")
            _check_data(*validation_data, "validation_data[0]", "validation_data[1]")
        callbacks = () if callbacks is None else tuple(callbacks)
        if any(not callable(cb) for cb in callbacks):
            raise TypeError("callbacks must be callables cb(epoch, logs)")
        rng = get_rng(rng)
        n = len(X)
        history = {}
        for epoch in range(epochs):
            self.train()
            order = rng.permutation(n)
            total, correct, seen = 0.0, 0, 0
            logs = {"lr": getattr(optimizer, "lr", None)}
            bar = tqdm(
                total=-(-n // batch_size),
                desc=f"epoch {epoch + 1}/{epochs}",
                unit="batch",
                disable=not verbose,
                dynamic_ncols=True,
            )
            with bar:
                for start in range(0, n, batch_size):
                    idx = order[start : start + batch_size]
                    out = self.forward(X[idx])
                    batch_loss = loss(out, y[idx])
                    self.backward(loss.backward())
                    optimizer.step(self.params, self.grads)
                    total += batch_loss * len(idx)
                    seen += len(idx)
                    hits = _n_correct(out, y[idx])
                    correct = None if hits is None or correct is None else correct + hits
                    logs["loss"] = total / seen
                    if correct is not None:
                        logs["accuracy"] = correct / seen
                    bar.set_postfix(_fmt(logs), refresh=False)
                    bar.update(1)
                if validation_data is not None:
                    val_loss, val_acc = self.evaluate(*validation_data, loss, batch_size)
                    logs["val_loss"] = val_loss
                    if val_acc is not None:
                        logs["val_accuracy"] = val_acc
                    bar.set_postfix(_fmt(logs))
            for key, value in logs.items():
                history.setdefault(key, []).append(value)
            if scheduler is not None:
                scheduler.step()
            if any([bool(cb(epoch, dict(logs))) for cb in callbacks]):
                break
        return history

    def evaluate(self, X, y, loss, batch_size=256):
        """``(mean loss, accuracy)`` over ``(X, y)`` in eval mode (the mode is restored).

        The loss is the batch losses' mean weighted by batch size, which is the mean over all
        samples; accuracy is None where it is undefined (see :meth:`fit`).
        """
        X, y = _check_data(X, y, "X", "y")
        batch_size = check_positive_int(batch_size, "batch_size")
        total, correct = 0.0, 0
        with self._evaluating():
            for start in range(0, len(X), batch_size):
                out = self.forward(X[start : start + batch_size])
                yb = y[start : start + batch_size]
                total += loss(out, yb) * len(yb)
                hits = _n_correct(out, yb)
                correct = None if hits is None or correct is None else correct + hits
        return total / len(X), None if correct is None else correct / len(X)

    def predict(self, X, batch_size=256):
        """The network's outputs (logits) for ``X``, batch by batch in eval mode (restored)."""
        X = check_float_array(X, "X")
        if X.ndim < 1 or len(X) == 0:
            raise ValueError(f"X must hold at least one sample, got shape {X.shape}")
        batch_size = check_positive_int(batch_size, "batch_size")
        with self._evaluating():
            outs = [self.forward(X[s : s + batch_size]) for s in range(0, len(X), batch_size)]
        return np.concatenate(outs)

    @contextlib.contextmanager
    def _evaluating(self):
        """Eval mode inside the block; the previous mode afterwards, even after an error."""
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            if was_training:
                self.train()

    def summary(self, input_shape, **kwargs):
        """Per-layer output shape, parameters, MACs...: :func:`minidl.complexity.summary`
        (``input_shape`` with the batch axis; ``kwargs`` are passed on)."""
        from minidl.complexity import summary  # lazy: the engine does not need complexity

        return summary(self.layers, input_shape, **kwargs)

    # --- files -------------------------------------------------------------------------------

    def save(self, path):
        """Write architecture and state to ``path`` (npz + JSON metadata, atomic)."""
        from minidl.serialization import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path):
        """Rebuild the model saved in ``path``: its layers from the metadata, then its state."""
        from minidl.serialization import load_model

        return load_model(path)

    def load_weights(self, path):
        """Load the state saved in ``path`` into this model; the architectures must match."""
        from minidl.serialization import load_weights

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


def _check_data(X, y, xname, yname):
    """Float samples X (N, ...) and N targets y: the pair every training routine takes."""
    X = check_float_array(X, xname)
    if X.ndim < 1 or len(X) == 0:
        raise ValueError(f"{xname} must hold at least one sample, got shape {X.shape}")
    y = np.asarray(y)
    if y.ndim < 1 or len(y) != len(X):
        raise ValueError(f"{yname} must have one target per sample ({len(X)}), got shape {y.shape}")
    return X, y


def _n_correct(out, y):
    """Correct predictions in a batch, or None where accuracy is undefined (regression)."""
    multiclass = out.ndim == 2 and out.shape[1] > 1
    if np.issubdtype(y.dtype, np.integer) and multiclass and y.shape == (len(out),):
        return int(np.sum(np.argmax(out, axis=1) == y))
    if out.size == len(out) and y.size == len(y):  # one logit per sample: binary, logit > 0
        return int(np.sum((out.reshape(-1) > 0) == (y.reshape(-1) > 0.5)))
    return None


def _fmt(logs):
    return {k: f"{v:.4f}" for k, v in logs.items() if k != "lr" and v is not None}
