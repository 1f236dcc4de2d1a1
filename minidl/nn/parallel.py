r"""``DataParallel``: a model's forward and backward on parts of the batch, side by side on threads.

The loss of a mini-batch is the mean of its samples' losses, so its gradient with respect to a
parameter :math:`\theta` is a sum over the samples, and a sum over any parts :math:`B_1, \dots,
B_K` of the batch:

.. math:: \frac{\partial \ell}{\partial \theta}
          = \frac{1}{N} \sum_{n=1}^{N} \frac{\partial \ell_n}{\partial \theta}
          = \sum_{k=1}^{K} \Big( \frac{1}{N} \sum_{n \in B_k}
            \frac{\partial \ell_n}{\partial \theta} \Big)

For layers that treat each sample alone (``Layer.samples_apart``: not BatchNorm, whose
statistics mix the samples, nor Dropout, whose masks one generator draws in order), each part's
forward and backward run on a replica of the model: the same parameter arrays, its own caches
and gradient arrays. The loss's gradient ``dy`` already holds the :math:`1/N` of the whole
batch, so the replicas' gradients are the bracketed sums, added here in the parts' order; the
outputs and input gradients are the parts' rows, in order. So the numbers are the model's own,
up to the order of the additions (float rounding).

Why: each part is one thread's whole computation, copies and elementwise passes included, where
the layers' own threads (:mod:`minidl.functional._threads`) share out one op at a time and wake
a worker for each. It pays where a part has enough work: from ``MIN_PART_MACS`` multiply-adds
of forward per part (measured in ``benchmarks/bench_training.py``; the README's "Speed and
memory" has the figures); below that the model runs as it is.
"""

import copy

import numpy as np

from minidl.functional import _threads
from minidl.layers.base import Layer
from minidl.nn import training as loop
from minidl.nn.complexity import summary
from minidl.nn.model import Sequential

# A part of the batch gets a thread of its own from this many forward multiply-adds on: two
# threads on two parts of LeNet-5's batch of 64 (13 M each) took 6.4 ms for forward + backward
# against 5.7 on one thread, of its batch of 128 (27 M each) 8.9 against 10.8; article 003's CNN
# at batch 32 (42 M each) 8.0 against 10.8 (Intel Xeon, 2 cores, December 2026).
MIN_PART_MACS = 2**24


class BatchParts:
    """What :class:`DataParallel` and :class:`~minidl.nn.ProcessDataParallel` share: the checks,
    how a batch is cut into parts, and the model's interface, passed through to the model.
    ``forward`` and ``backward`` are theirs."""

    def __init__(self, model, parts=None):
        if not isinstance(model, Sequential):
            raise TypeError(f"model must be a minidl Sequential, got {type(model).__name__}")
        if parts is not None and (isinstance(parts, bool) or not isinstance(parts, int)
                                  or parts < 1):  # fmt: skip
            raise ValueError(f"parts must be a positive int or None, got {parts!r}")
        for i, layer in enumerate(model.layers):
            if _is_composite(layer):
                raise TypeError(
                    f"model.layers[{i}] ({type(layer).__name__}) is made of other layers; "
                    f"{type(self).__name__} works on each layer's own arrays and cache, which "
                    "such a layer keeps in its parts"
                )
        self.model, self.parts = model, parts
        self.loss = None
        self._work = {}  # input shape without the batch -> forward multiply-adds per sample

    def __call__(self, x):
        return self.forward(x)

    def min_part_macs(self):
        """A part of the batch gets a thread of its own from this many forward MACs on."""
        return MIN_PART_MACS

    def _input(self, x):
        """``x`` as an array with a batch axis, and the bounds of its parts."""
        x = np.asarray(x)
        if x.ndim < 1:
            raise ValueError(f"x must have a batch axis, got a {x.ndim}-d array")
        return x, self._bounds(x)

    def _output_grad(self, dy, bounds):
        """``dy`` as an array of the last forward's batch (its parts' ``bounds``)."""
        dy = np.asarray(dy)
        if dy.ndim < 1 or dy.shape[0] != bounds[-1][1]:
            raise ValueError(
                f"dy must have the last forward's batch of {bounds[-1][1]} rows first, "
                f"got shape {dy.shape}"
            )
        return dy

    def _bounds(self, x):
        """``[(start, stop), ...]`` of the parts: as many as threads and work allow."""
        n = x.shape[0]
        parts = max(1, min(self.parts if self.parts is not None else _threads.count(), n))
        if parts > 1 and self.model.training:
            for i, layer in enumerate(self.model.layers):
                if not layer.samples_apart:
                    raise ValueError(
                        f"model.layers[{i}] ({type(layer).__name__}) mixes the samples of a "
                        f"batch in training mode; {type(self).__name__} would change what it "
                        "computes"
                    )
        if parts > 1 and self.parts is None:  # the default: only where a part has the work
            parts = min(parts, max(1, n * self._macs(x) // self.min_part_macs()))
        if parts == 1:  # an empty batch included: the model as it is
            return [(0, n)]
        return [(a, a + m) for a, m in _threads.even_chunks(n, -(-n // parts))]

    def _macs(self, x):
        """Forward multiply-adds per sample (the summary's count), or :meth:`min_part_macs` where
        a layer of the user's has no cost rule: then every sample may be a part."""
        key = (x.shape[1:], x.dtype.str)
        if key not in self._work:
            try:
                self._work[key] = summary(self.model, (1,) + x.shape[1:], x.dtype).total_macs
            except TypeError:
                self._work[key] = self.min_part_macs()
        return self._work[key]

    # --- the model's interface ---------------------------------------------------------------

    # the model's own: an optimizer, a state_dict or a saved file sees the model itself
    layers = property(lambda self: self.model.layers)
    training = property(lambda self: self.model.training)
    params = property(lambda self: self.model.params)
    grads = property(lambda self: self.model.grads)
    buffers = property(lambda self: self.model.buffers)

    def state_dict(self):
        return self.model.state_dict()

    def train(self):
        self.model.train()
        return self

    def eval(self):
        self.model.eval()
        return self

    # the training loop of minidl.nn.training, with this model (each batch split in parts)
    fit, evaluate, predict = loop.fit, loop.evaluate, loop.predict

    def __repr__(self):
        return f"{type(self).__name__}({self.model!r}, parts={self.parts!r})"


class DataParallel(BatchParts):
    """``model`` (a :class:`~minidl.nn.Sequential`) run on ``parts`` parts of each batch at once.

    ``parts`` defaults to the threads minidl may use (``OPENBLAS_NUM_THREADS``, else
    ``OMP_NUM_THREADS``, else the CPUs), fewer where a part would have less than
    ``MIN_PART_MACS`` of forward work; a number given is taken as is. It has the model's
    training interface (``forward``, ``backward``, ``params``, ``grads``, ``train``, ``eval``,
    ``fit``, ``evaluate``, ``predict``); the parameters and gradients are the model's own
    arrays, so an optimizer, a ``state_dict`` or a saved file sees the model itself.
    """

    def __init__(self, model, parts=None):
        super().__init__(model, parts)
        self._replicas = [model]  # the last forward's: the model for part 0, copies after
        self._grads = {}  # (part, layer index) -> (the layer, its copy's gradient arrays)

    # --- computing ---------------------------------------------------------------------------

    def forward(self, x):
        """The model's forward of each part of ``x`` on its own thread; the rows in order."""
        x, bounds = self._input(x)
        if len(bounds) <= 1:
            self._replicas = [self.model]
            return self.model.forward(x)
        self._replicas = [self.model] + [self._replica(k) for k in range(1, len(bounds))]
        outs = _threads.map_apart(
            lambda k: self._replicas[k].forward(x[bounds[k][0] : bounds[k][1]]),
            range(len(bounds)),
        )
        self._split = bounds
        return np.concatenate(outs)

    def backward(self, dy, input_grad=True):
        """Each part's backward on its rows of ``dy``; the parameter gradients (the model's
        arrays) are the parts' sums, added in the parts' order."""
        if len(self._replicas) == 1:
            return self.model.backward(dy, input_grad=input_grad)
        bounds = self._split
        dy = self._output_grad(dy, bounds)
        dxs = _threads.map_apart(
            lambda k: self._replicas[k].backward(dy[bounds[k][0] : bounds[k][1]], input_grad),
            range(len(bounds)),
        )
        for i, layer in enumerate(self.model.layers):
            for key, grad in layer.grads.items():
                for replica in self._replicas[1:]:
                    grad += replica.layers[i].grads[key]
        return np.concatenate(dxs) if input_grad else None

    def _replica(self, k):
        """The model for part ``k``: each layer copied (the same parameter and buffer arrays),
        with gradient arrays of its own, kept from call to call."""
        layers = []
        for i, layer in enumerate(self.model.layers):
            twin = copy.copy(layer)
            owner, grads = self._grads.get((k, i), (None, None))
            if owner is not layer:  # new, or the model's layer i was replaced
                grads = {key: np.zeros_like(g) for key, g in layer.grads.items()}
                self._grads[(k, i)] = (layer, grads)
            twin.grads, twin._cache = grads, None
            layers.append(twin)
        replica = Sequential(layers)
        replica.training = self.model.training
        return replica


def _is_composite(layer):
    """A layer made of other layers (Conv2Plus1D's parts, a FakeQuantWeight's wrapped layer):
    a shallow copy would share their caches between threads."""
    if isinstance(getattr(type(layer), "params", None), property):
        return True
    return any(isinstance(v, Layer) for v in vars(layer).values())
