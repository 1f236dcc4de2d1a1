r"""Structured pruning: remove whole filters (Conv) or neurons (Dense) and shrink the network.

A unit :math:`o` of a Conv/Dense layer is ranked by the :math:`L_p` norm of its weights,
:math:`\|W_{o,:}\|_p` over every input axis (Li et al. 2017 use :math:`p = 1`); in each layer
the ``round(amount * out)`` units of smallest norm go (as
``torch.nn.utils.prune.ln_structured(module, 'weight', amount, n=p, dim=0)`` chooses them).

Two equivalent results:

- :func:`structured_masks`: the *masked* model. A removed unit's weight row, its bias and the
  ``weight``/``bias`` of a BatchNorm right after it are zeroed, so the unit outputs exactly 0
  (a BatchNorm with :math:`\gamma = \beta = 0` outputs 0 whatever its statistics).
- :func:`prune_units`: the *smaller* model. The unit is deleted, and so are the matching input
  channels (or, after ``Flatten``, the matching input features) of the next Conv/Dense, and the
  channels of a BatchNorm in between; ``summary`` counts fewer parameters and MACs.

They compute the same outputs because a unit whose output is 0 contributes nothing downstream:
ReLU, LeakyReLU, Tanh, max/average pooling and Dropout map 0 to 0. Layers that do not
(Sigmoid, Softmax) or that mix channels in other ways (grouped convs, ``Conv2Plus1D``) are
refused where a pruned channel would pass through them. The last Conv/Dense (the classes) is
never pruned.
"""

import copy
import numbers

import numpy as np

from minidl.compression.pruning import check_sparsity, n_to_prune
from minidl.layers.activations import LeakyReLU, ReLU, Tanh
from minidl.layers.base import Layer
from minidl.layers.batchnorm import BatchNorm
from minidl.layers.conv import ConvND
from minidl.layers.dense import Dense
from minidl.layers.dropout import Dropout
from minidl.layers.pool import GlobalAvgPool, Pool
from minidl.layers.reshape import Flatten

_ZERO_PRESERVING = (ReLU, LeakyReLU, Tanh, Pool, GlobalAvgPool, Dropout)


def unit_norms(weight, p=1):
    r"""Per output unit :math:`\|W_{o,:}\|_p` over all axes but the first (``p`` 1, 2, or inf)."""
    w = np.asarray(weight)
    if w.ndim < 2:
        raise ValueError(f"weight must have an output axis and input axes, got shape {w.shape}")
    if p not in (1, 2, np.inf):
        raise ValueError(f"p must be 1, 2 or inf, got {p!r}")
    flat = np.abs(w.reshape(w.shape[0], -1).astype(np.float64))
    if p == 1:
        return flat.sum(axis=1)
    if p == 2:
        return np.sqrt((flat * flat).sum(axis=1))
    return flat.max(axis=1)


def units_to_keep(weight, amount, p=1):
    """Sorted indices of the units kept when ``round(amount * out)`` of least norm are removed.

    At least one unit must remain (``amount`` giving all of them raises ``ValueError``).
    """
    amount = check_sparsity(amount, "amount")
    norms = unit_norms(weight, p)
    k = n_to_prune(len(norms), amount)
    if k >= len(norms):
        raise ValueError(f"amount={amount} would remove all {len(norms)} units of the layer")
    # stable sort: among equal norms the lowest index goes first, as a tie-break must be fixed
    return np.sort(np.argsort(norms, kind="stable")[k:])


def ln_structured_mask(weight, amount, p=1):
    """The 0/1 weight mask of ``torch.nn.utils.prune.ln_structured(..., n=p, dim=0)``."""
    mask = np.zeros_like(np.asarray(weight))
    mask[units_to_keep(weight, amount, p)] = 1
    return mask


def _prunable_indices(model):
    idx = [i for i, layer in enumerate(model.layers) if isinstance(layer, (Dense, ConvND))]
    if not idx:
        raise TypeError("model has no Dense or Conv layer to prune")
    return idx


def _amounts(model, amount):
    """``{layer index: amount}`` for every prunable layer but the last (the outputs)."""
    idx = _prunable_indices(model)[:-1]
    if isinstance(amount, dict):
        bad = sorted(set(amount) - set(idx))
        if bad:
            raise ValueError(
                f"amount has layer indices {bad}; prunable (all but the output layer): {idx}"
            )
        return {i: check_sparsity(a, f"amount[{i}]") for i, a in amount.items()}
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(
            f"amount must be a number in [0, 1) or a dict index -> number, got {amount!r}"
        )
    return {i: check_sparsity(amount, "amount") for i in idx}


def _check_supported(model, amounts):
    """Every layer a pruned channel flows through must map 0 to 0 and keep channels apart."""
    pruning = False
    for i, layer in enumerate(model.layers):
        if isinstance(layer, ConvND) and layer.groups != 1 and pruning:
            raise TypeError(
                f"layer {i} ({type(layer).__name__} with groups={layer.groups}) "
                "is not supported by structured pruning"
            )
        if isinstance(layer, (Dense, ConvND)):
            pruning = amounts.get(i, 0) > 0
            if pruning and isinstance(layer, ConvND) and layer.groups != 1:
                raise TypeError(
                    f"layer {i} ({type(layer).__name__} with groups={layer.groups}) "
                    "is not supported by structured pruning"
                )
        elif pruning and not isinstance(layer, (*_ZERO_PRESERVING, BatchNorm, Flatten)):
            raise TypeError(
                f"layer {i} ({type(layer).__name__}) is not supported by structured pruning: a "
                "removed unit's zero output must stay zero through it (ReLU, LeakyReLU, Tanh, "
                "pooling, Dropout, BatchNorm, Flatten)"
            )


def _keeps(model, amount, p):
    amounts = _amounts(model, amount)
    _check_supported(model, amounts)
    return {i: units_to_keep(model.layers[i].params["weight"], a, p) for i, a in amounts.items()}


def structured_masks(model, amount, p=1):
    """Masks (dict key -> 0/1 array) that zero the removed units; see the module docstring.

    ``amount``: a fraction for every Conv/Dense but the last, or ``{layer index: fraction}``.
    """
    keeps = _keeps(model, amount, p)
    masks = {}
    for i, keep in keeps.items():
        layer = model.layers[i]
        for name, arr in layer.params.items():
            m = np.zeros_like(arr)
            m[keep] = 1
            masks[f"{i}.{name}"] = m
        # the BatchNorm (if any) right after, possibly behind a Dropout
        j = i + 1
        while j < len(model.layers) and isinstance(model.layers[j], Dropout):
            j += 1
        if j < len(model.layers) and isinstance(model.layers[j], BatchNorm):
            for name, arr in model.layers[j].params.items():
                m = np.zeros_like(arr)
                m[keep] = 1
                masks[f"{j}.{name}"] = m
    return masks


def _rebuild(layer, **changes):
    # from_config draws no initial weights (they are overwritten just after)
    new = type(layer).from_config(dict(layer.get_config(), **changes))
    new.training = layer.training
    return new


def prune_units(model, amount, input_shape, p=1):
    """A new, smaller ``Sequential`` with the lowest-norm units removed (the model is untouched).

    ``input_shape`` (with the batch axis) locates Flatten's features: after a Flatten of
    ``(N, C, *S)``, channel ``c`` owns features ``c * prod(S) ... (c + 1) * prod(S) - 1``.
    Returns ``(new_model, keeps)`` with ``keeps[i]`` the kept unit indices of layer ``i``.
    """
    from minidl.nn.model import Sequential

    keeps = _keeps(model, amount, p)
    shape = tuple(input_shape)
    new_layers, keep_in = [], None  # keep_in: kept indices along axis 1 of the current tensor
    for i, layer in enumerate(model.layers):
        out_shape = tuple(layer.output_shape(shape))
        if isinstance(layer, (Dense, ConvND)):
            w = layer.params["weight"]
            if keep_in is not None:
                w = w[:, keep_in]
            keep_out = keeps.get(i)
            b = layer.params.get("bias")
            if keep_out is not None:
                w, b = w[keep_out], None if b is None else b[keep_out]
            size = {"in_features": w.shape[1], "out_features": w.shape[0]}
            if isinstance(layer, ConvND):
                size = {"in_channels": w.shape[1], "out_channels": w.shape[0]}
            new = _rebuild(layer, dtype=str(w.dtype), **size)
            new.params["weight"][...] = w
            if b is not None:
                new.params["bias"][...] = b
            keep_in = keep_out
        elif isinstance(layer, BatchNorm) and keep_in is not None:
            new = _rebuild(layer, num_features=len(keep_in))
            for d_new, d_old in ((new.params, layer.params), (new.buffers, layer.buffers)):
                for name in d_new:
                    if d_new[name].ndim == 1:  # per channel (the batch count is a scalar)
                        d_new[name][...] = d_old[name][keep_in]
            new.num_batches_tracked = layer.num_batches_tracked
        elif isinstance(layer, Flatten) and keep_in is not None:
            per_channel = int(np.prod(shape[2:], dtype=np.int64))
            keep_in = (keep_in[:, None] * per_channel + np.arange(per_channel)).reshape(-1)
            new = copy.deepcopy(layer)
        elif isinstance(layer, Layer):
            new = copy.deepcopy(layer)
        new_layers.append(new)
        shape = out_shape
    pruned = Sequential(new_layers)
    pruned.training = model.training
    return pruned, keeps
