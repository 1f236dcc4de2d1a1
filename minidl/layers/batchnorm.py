"""``BatchNorm1D/2D/3D``: batch normalization layers with PyTorch's names and conventions.

Parameters ``weight`` (gamma, init 1) and ``bias`` (beta, init 0); buffers ``running_mean``
(init 0), ``running_var`` (init 1) and ``num_batches_tracked`` (an int64 scalar, init 0), as
PyTorch, so ``nn.BatchNorm2d.state_dict()`` loads as is and the batch count is saved and
loaded with the model: ``momentum=None`` (the cumulative average, factor
1/num_batches_tracked) continues exactly after a reload. Training uses the batch statistics
and updates the buffers; ``eval()`` uses the buffers. The formulas,
including the derivation of the backward, are in :mod:`minidl.functional.batchnorm`.
"""

import numpy as np

from minidl._validation import check_fraction, check_nonnegative, check_positive_int
from minidl.functional.batchnorm import batch_norm_backward, batch_norm_forward
from minidl.layers.base import Layer, check_dtype, elementwise_cost


class BatchNorm(Layer, register=False):
    r"""Batch normalization over axis 1; a subclass sets the accepted ranks and the layout text.

    Parameters
    ----------
    num_features : int
        C, the size of axis 1.
    eps : float >= 0
    momentum : float in [0, 1] or None
        Weight of the new batch statistic in the running estimates; None gives the
        cumulative average over all batches seen (factor 1/num_batches_tracked), as PyTorch.
    affine : bool
        Learn ``weight`` and ``bias``; without them gamma = 1, beta = 0.
    track_running_stats : bool
        Keep ``running_mean``/``running_var``; without them the batch statistics are used in
        evaluation too (as PyTorch).
    dtype : float32 (default) or float64
    """

    samples_apart = False  # its batch statistics mix the samples (Layer.samples_apart)

    _ranks = ()
    _layout = ""

    def __init__(
        self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
        dtype=np.float32,
    ):  # fmt: skip
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features")
        self.eps = check_nonnegative(eps, "eps")
        self.momentum = None if momentum is None else check_fraction(momentum, "momentum")
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self._dtype = check_dtype(dtype)
        c, dt = self.num_features, self._dtype
        if self.affine:
            self.params = {"weight": np.empty(c, dtype=dt), "bias": np.empty(c, dtype=dt)}
            self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        if self.track_running_stats:
            self.buffers = {
                "running_mean": np.empty(c, dtype=dt),
                "running_var": np.empty(c, dtype=dt),
                "num_batches_tracked": np.zeros((), dtype=np.int64),
            }
        self._batches_untracked = 0  # the count without track_running_stats (no buffers)
        self.reset_parameters()

    def reset_parameters(self, rng=None):
        """gamma = 1, beta = 0, running mean 0 and variance 1, no batch counted (PyTorch's
        start; deterministic, so ``rng`` is not used)."""
        for name, value in (("weight", 1), ("bias", 0)):
            if name in self.params:
                self.params[name][...] = value
        for name, value in (("running_mean", 0), ("running_var", 1), ("num_batches_tracked", 0)):
            if name in self.buffers:
                self.buffers[name][...] = value
        self._batches_untracked = 0

    @property
    def num_batches_tracked(self):
        """Training batches seen (PyTorch's buffer of the same name; an int here)."""
        if "num_batches_tracked" in self.buffers:
            return int(self.buffers["num_batches_tracked"])
        return self._batches_untracked

    @num_batches_tracked.setter
    def num_batches_tracked(self, value):
        if "num_batches_tracked" in self.buffers:
            self.buffers["num_batches_tracked"][...] = value  # in place: state_dict views it
        else:
            self._batches_untracked = int(value)

    @property
    def dtype(self):
        return self._dtype

    def _check_channels(self, x):
        x = self._check_input(x, ndim=self._ranks)
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__} expected input with num_features={self.num_features} "
                f"channels {self._layout.format(C=self.num_features)}, got shape {x.shape}"
            )
        return x

    def forward(self, x):
        """Normalize with batch statistics (training) or the running estimates (eval)."""
        x = self._check_channels(x)
        use_batch_stats = self.training or not self.track_running_stats
        momentum = self.momentum
        # the running buffers change only in training mode
        update = self.training and self.track_running_stats
        if update and momentum is None:
            momentum = 1.0 / (self.num_batches_tracked + 1)
        y, self._cache = batch_norm_forward(
            x,
            self.params.get("weight"),
            self.params.get("bias"),
            self.buffers.get("running_mean") if update or not use_batch_stats else None,
            self.buffers.get("running_var") if update or not use_batch_stats else None,
            training=use_batch_stats,
            momentum=0.0 if momentum is None else momentum,
            eps=self.eps,
        )
        if update:  # after the call: a rejected batch is not counted
            self.num_batches_tracked += 1
        return y

    def backward(self, dy):
        """``dx``; writes ``grads['weight']`` and ``grads['bias']`` when affine."""
        shape = None if self._cache is None else self._cache.x.shape
        dy = self._check_grad(dy, shape)
        grads = batch_norm_backward(dy, self._cache)
        if self.affine:
            # copy into the existing arrays: Sequential's flat grads dict holds views of them
            self.grads["weight"][...] = grads.dweight
            self.grads["bias"][...] = grads.dbias
        return grads.dx

    def output_shape(self, input_shape):
        if len(input_shape) not in self._ranks or input_shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__} expected input_shape "
                f"{self._layout.format(C=self.num_features)}, got {tuple(input_shape)}"
            )
        return tuple(input_shape)

    def cost(self, input_shape, dtype=np.float32):
        """2 FLOPs per value (the statistics folded into one scale and one shift at inference);
        the input is cached for the backward."""
        self.output_shape(input_shape)
        return elementwise_cost(input_shape, dtype, 2)

    def get_config(self):
        return {
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
            "affine": self.affine,
            "track_running_stats": self.track_running_stats,
            "dtype": str(self._dtype),
        }


class BatchNorm1D(BatchNorm):
    """Batch norm over ``(N, C)`` or ``(N, C, L)`` (as PyTorch's ``BatchNorm1d``)."""

    _ranks = (2, 3)
    _layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2D(BatchNorm):
    """Batch norm over ``(N, C, H, W)``: statistics per channel over N, H and W."""

    _ranks = (4,)
    _layout = "(N, {C}, H, W)"


class BatchNorm3D(BatchNorm):
    """Batch norm over ``(N, C, D, H, W)``: statistics per channel over N, D, H and W."""

    _ranks = (5,)
    _layout = "(N, {C}, D, H, W)"
