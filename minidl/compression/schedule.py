r"""Prune while training: masks held through the optimizer, and the gradual schedule.

Zhu & Gupta (2017), "To prune, or not to prune", eq. (1): over :math:`n` pruning steps
:math:`\Delta t` apart starting at :math:`t_0`, the sparsity rises from :math:`s_i` to
:math:`s_f` as

.. math:: s_t = s_f + (s_i - s_f)\left(1 - \frac{t - t_0}{n \Delta t}\right)^3,
          \qquad t \in \{t_0, t_0 + \Delta t, \dots, t_0 + n \Delta t\}

fast at first, while many redundant weights remain, and slowly near the end. After each step
the network is fine-tuned with the pruned weights held at zero (:class:`MaskedOptimizer`).
"""

import numbers

import numpy as np

from minidl._validation import check_positive_int
from minidl.compression.pruning import apply_masks, check_sparsity, model_masks, sparsity_of


def gradual_sparsity(t, final_sparsity, initial_sparsity=0.0, t0=0, n=10, dt=1):
    r"""Zhu & Gupta's :math:`s_t` (module docstring); :math:`s_i` before :math:`t_0` and
    :math:`s_f` after :math:`t_0 + n\Delta t`."""
    s_f = check_sparsity(final_sparsity, "final_sparsity")
    s_i = check_sparsity(initial_sparsity, "initial_sparsity")
    n = check_positive_int(n, "n")
    dt = check_positive_int(dt, "dt")
    if isinstance(t, bool) or not isinstance(t, numbers.Real):
        raise TypeError(f"t must be a number, got {t!r}")
    if t <= t0:
        return s_i
    if t >= t0 + n * dt:
        return s_f
    return s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3


class MaskedOptimizer:
    """Wrap an optimizer so pruned weights stay exactly zero through training.

    ``step(params, grads)``: the masked gradient :math:`m \\odot g` is handed to the wrapped
    optimizer (so momentum / Adam moments of a pruned weight get no new signal), then the
    parameter is multiplied by its mask again, since weight decay or old momentum could move it.
    Other attributes (``lr`` for schedulers, ``zero_state``) pass through to the optimizer.
    """

    def __init__(self, optimizer, masks):
        if not callable(getattr(optimizer, "step", None)):
            raise TypeError(f"optimizer must have a step(params, grads) method, got {optimizer!r}")
        self.optimizer = optimizer
        self.masks = dict(masks)

    def step(self, params, grads):
        for key in self.masks:
            if key not in params:
                raise ValueError(f"masks has key {key!r}, which is not among the params")
        grads = {k: g * self.masks[k] if k in self.masks else g for k, g in grads.items()}
        self.optimizer.step(params, grads)
        for key, m in self.masks.items():
            params[key] *= m

    def __getattr__(self, name):  # called only for attributes not found on the wrapper
        if name == "optimizer":
            raise AttributeError(name)
        return getattr(self.optimizer, name)

    def __setattr__(self, name, value):
        if name in ("optimizer", "masks"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.optimizer, name, value)


def prune_and_finetune(
    model,
    X,
    y,
    optimizer,
    loss,
    final_sparsity,
    n_steps=5,
    epochs_per_step=1,
    batch_size=32,
    scope="global",
    initial_sparsity=0.0,
    validation_data=None,
    rng=None,
):
    """Iterative pruning (Han et al. 2015) on Zhu & Gupta's schedule, in place.

    For step :math:`t = 1..n`: magnitude masks to :math:`s_t` (:func:`gradual_sparsity` with
    :math:`t_0 = 0, \\Delta t = 1`; ``scope`` 'global' or 'layer'), applied, then
    ``epochs_per_step`` epochs of ``model.fit`` through a :class:`MaskedOptimizer`. A weight
    pruned once stays pruned (the new mask is computed on the masked weights, whose zeros rank
    lowest). Returns ``(masks, rows)``; each row: step, target sparsity, measured sparsity of
    the prunable weights, and ``val_accuracy`` when ``validation_data`` is given.
    """
    from minidl.compression.pruning import accuracy, prunable_weights

    n_steps = check_positive_int(n_steps, "n_steps")
    epochs_per_step = check_positive_int(epochs_per_step, "epochs_per_step")
    check_sparsity(final_sparsity, "final_sparsity")
    masked = MaskedOptimizer(optimizer, {})
    rows, masks = [], {}
    for t in range(1, n_steps + 1):
        s_t = gradual_sparsity(t, final_sparsity, initial_sparsity, t0=0, n=n_steps)
        masks = model_masks(model, s_t, scope=scope)
        apply_masks(model, masks)
        masked.masks = masks
        model.fit(X, y, epochs_per_step, batch_size, masked, loss, rng=rng, verbose=False)
        row = {"step": t, "target_sparsity": s_t, "sparsity": sparsity_of(prunable_weights(model))}
        if validation_data is not None:
            row["val_accuracy"] = accuracy(model, *validation_data)
        rows.append(row)
    return masks, rows


def check_masks_held(model, masks):
    """True when every masked weight of ``model`` is exactly zero."""
    params = model.params
    return all(np.all(params[k][np.asarray(m) == 0] == 0) for k, m in masks.items())
