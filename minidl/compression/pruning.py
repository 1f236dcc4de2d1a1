r"""Unstructured pruning: masks from a criterion, applied to a model's weights.

A pruning *mask* :math:`m \in \{0, 1\}` has the weight's shape; the pruned weight is
:math:`m \odot w` ((1.7) in chapter 01,
``chapters/01_complexity_and_spatiotemporal_convolution.ipynb``). The criteria here:

- article 003's threshold rule, :math:`w \cdot I(|w| > h)` (:func:`threshold_prune`; (4.9) in
  chapter 04, ``chapters/04_cnn_optimization.ipynb``, and chapter 05's pruning step), and the
  article's formula as printed, :math:`w \cdot I(w > h)` (:func:`threshold_prune_literal`,
  (4.8));
- magnitude to a target sparsity :math:`s`: the :math:`\mathrm{round}(s n)` weights of smallest
  :math:`|w|` are removed, in one tensor (:func:`magnitude_mask`, as
  ``torch.nn.utils.prune.l1_unstructured``) or ranked across tensors
  (:func:`global_magnitude_masks`, as ``global_unstructured``);
- any score array (:func:`mask_from_scores`), e.g. the loss-importance scores of
  :mod:`minidl.compression.importance` (Taylor, Optimal Brain Damage).

Structured pruning (whole filters / neurons) is in :mod:`minidl.compression.structured`, the
gradual schedule and prune-and-fine-tune in :mod:`minidl.compression.schedule`.
"""

import numbers

import numpy as np

from minidl._validation import check_float_array
from minidl.layers.conv import ConvND
from minidl.layers.dense import Dense


def check_sparsity(sparsity, name="sparsity", allow_one=False):
    """Return ``sparsity`` as float in [0, 1) ([0, 1] with ``allow_one``); else raise.

    Pruning 100% of a tensor removes every weight, so the layer outputs its bias alone: that
    is refused unless a caller asks for it (``allow_one``), since it is almost always a typo.
    """
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1), got {sparsity!r}")
    s = float(sparsity)
    if not np.isfinite(s) or s < 0 or s > 1:
        raise ValueError(f"{name} must be in [0, 1) (the fraction of weights removed), got {s}")
    if s == 1 and not allow_one:
        raise ValueError(
            f"{name}=1 would remove every weight (the layer would output its bias alone); "
            "pass a value < 1"
        )
    return s


def threshold_prune(w, h):
    r"""Article 003's pruning rule, corrected: :math:`w_{pruned} = w \cdot I(|w| > h)`, (4.9).

    Weights of magnitude at most ``h`` become 0; the others are kept unchanged, whatever their
    sign. Returns a new array of ``w``'s dtype.
    """
    w = check_float_array(w, "w", finite=True)
    h = _check_threshold(h)
    return np.where(np.abs(w) > h, w, 0).astype(w.dtype)


def threshold_prune_literal(w, h):
    r"""Article 003's formula (4.8) as printed: :math:`w_{pruned} = w_{old} \cdot I(w_{old} > h)`.

    Without the absolute value every negative weight fails :math:`w > h` (for ``h >= 0``), so
    the rule deletes about half of the network, the large negative weights included, while
    keeping small positive ones just above ``h``. :func:`threshold_prune` is the intended
    magnitude rule (the article's own text says "set the weights below the threshold to 0",
    and its article-004 counterpart compares ``|x|``).
    """
    w = check_float_array(w, "w", finite=True)
    h = _check_threshold(h)
    return (w * (w > h)).astype(w.dtype)


def _check_threshold(h):
    if isinstance(h, bool) or not isinstance(h, numbers.Real) or not np.isfinite(h) or h < 0:
        raise ValueError(f"h (the threshold) must be a finite number >= 0, got {h!r}")
    return float(h)


def n_to_prune(size, sparsity):
    """How many of ``size`` entries a sparsity removes: ``round(sparsity * size)``.

    Python's ``round`` (half to even), as ``torch.nn.utils.prune`` computes it for a float
    ``amount``, so masks agree with PyTorch's count exactly.
    """
    return int(round(sparsity * size))


def mask_from_scores(scores, sparsity, name="scores"):
    r"""Mask removing the ``round(sparsity * n)`` entries of lowest score (ties: first index).

    .. math:: m_i = 0 \iff \mathrm{rank}(\text{score}_i) < \mathrm{round}(s\,n)

    Returns a float mask of ``scores``'s shape and dtype (1 keep, 0 prune).
    """
    scores = check_float_array(scores, name, finite=True)
    s = check_sparsity(sparsity)
    mask = np.ones(scores.shape, dtype=scores.dtype)
    k = n_to_prune(scores.size, s)
    if k:
        order = np.argsort(scores.ravel(), kind="stable")
        mask.reshape(-1)[order[:k]] = 0
    return mask


def magnitude_mask(w, sparsity):
    r"""Magnitude pruning of one tensor to ``sparsity``: drop the smallest :math:`|w_i|`.

    The mask of ``torch.nn.utils.prune.l1_unstructured(module, 'weight', amount=sparsity)``,
    up to which of several equal :math:`|w_i|` straddling the cut are dropped: minidl drops the
    first in C order (a stable sort), PyTorch's ``topk`` others (both drop the same number).
    """
    w = check_float_array(w, "w", finite=True)
    return mask_from_scores(np.abs(w), sparsity, "w")


def magnitude_mask_naive(w, sparsity):
    """The same mask by a plain loop: repeatedly zero the smallest remaining ``|w|``."""
    flat = [abs(float(v)) for v in np.asarray(w).ravel()]
    keep = [1.0] * len(flat)
    for _ in range(n_to_prune(len(flat), check_sparsity(sparsity))):
        best = min((v, i) for i, v in enumerate(flat) if keep[i])
        keep[best[1]] = 0.0
    return np.array(keep, dtype=np.asarray(w).dtype).reshape(np.shape(w))


def global_magnitude_masks(params, sparsity):
    r"""Rank all tensors' :math:`|w|` together and drop the global ``round(s N)`` smallest.

    ``params``: dict name -> array (e.g. :func:`prunable_weights`). A layer with small weights
    loses more than ``sparsity``, one with large weights less (it may even be pruned entirely:
    check :func:`sparsity_of` per layer). Equals ``torch.nn.utils.prune.global_unstructured``
    with ``L1Unstructured``, up to which of equal :math:`|w|` straddling the cut are dropped (as
    for :func:`magnitude_mask`). Returns dict name -> mask.
    """
    return global_masks_from_scores(
        {k: np.abs(_as_array(v, k)) for k, v in params.items()}, sparsity
    )


def global_masks_from_scores(scores, sparsity):
    """Global version of :func:`mask_from_scores`: one ranking over every array of ``scores``."""
    if not isinstance(scores, dict) or not scores:
        raise TypeError(f"params/scores must be a non-empty dict name -> array, got {scores!r}")
    s = check_sparsity(sparsity)
    names = list(scores)
    flat = np.concatenate([_as_array(scores[k], k).ravel() for k in names])
    keep = np.ones(flat.size, dtype=bool)
    k = n_to_prune(flat.size, s)
    if k:
        keep[np.argsort(flat, kind="stable")[:k]] = False
    masks, start = {}, 0
    for name in names:
        a = scores[name]
        masks[name] = keep[start : start + a.size].reshape(a.shape).astype(a.dtype)
        start += a.size
    return masks


def _as_array(v, name):
    return check_float_array(v, f"params[{name!r}]", finite=True)


def prunable_weights(model):
    """``{'0.weight': array, ...}``: the weights of the model's Dense and Conv layers (views).

    Biases and BatchNorm parameters are left out, as in the pruning literature: they are few
    and each one matters.
    """
    return {
        f"{i}.weight": layer.params["weight"]
        for i, layer in enumerate(model.layers)
        if isinstance(layer, (Dense, ConvND))
    }


def model_masks(model, sparsity, scope="layer", scores=None):
    """Masks for every prunable weight of ``model``.

    ``scope='layer'``: each tensor pruned to ``sparsity`` (a float, or a dict key -> float for
    per-layer targets); ``scope='global'``: one ranking over all of them. ``scores`` (dict key
    -> array, default ``|w|``) replaces magnitude by another criterion.
    """
    weights = prunable_weights(model)
    if scores is None:
        scores = {k: np.abs(w) for k, w in weights.items()}
    if scope == "global":
        return global_masks_from_scores(scores, sparsity)
    if scope != "layer":
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
    if isinstance(sparsity, dict):
        unknown = sorted(set(sparsity) - set(weights))
        if unknown:
            raise ValueError(
                f"sparsity has keys {unknown} that are not prunable weights {sorted(weights)}"
            )
        return {k: mask_from_scores(scores[k], v, f"scores[{k!r}]") for k, v in sparsity.items()}
    return {k: mask_from_scores(scores[k], sparsity, f"scores[{k!r}]") for k in weights}


def apply_masks(model, masks):
    """Multiply ``model.params[key]`` by ``masks[key]`` in place (after checking every key)."""
    params = model.params
    for key, m in masks.items():
        if key not in params:
            raise ValueError(f"masks has key {key!r}, which is not a parameter of the model")
        if np.shape(m) != params[key].shape:
            raise ValueError(
                f"masks[{key!r}] must have shape {params[key].shape}, got {np.shape(m)}"
            )
    for key, m in masks.items():
        params[key] *= np.asarray(m, dtype=params[key].dtype)
    return model


def sparsity_of(arrays):
    """Fraction of exact zeros in an array or over all arrays of a dict: :math:`s` of (1.7)."""
    if isinstance(arrays, dict):
        total = sum(np.size(a) for a in arrays.values())
        zeros = sum(int(np.count_nonzero(np.asarray(a) == 0)) for a in arrays.values())
        return zeros / total if total else 0.0
    a = np.asarray(arrays)
    return float(np.count_nonzero(a == 0)) / a.size if a.size else 0.0


def accuracy(model, X, y, batch_size=256):
    """Top-1 accuracy of ``model.predict(X)`` against integer labels ``y``."""
    return float(np.mean(np.argmax(model.predict(X, batch_size), axis=1) == np.asarray(y)))


def sensitivity_scan(model, X, y, sparsities=(0.0, 0.25, 0.5, 0.7, 0.8, 0.9, 0.95), keys=None):
    """Accuracy against sparsity, pruning one layer at a time by magnitude (Han et al. 2015).

    For each prunable weight (or those in ``keys``) and each sparsity, that tensor alone is
    magnitude-pruned, the model evaluated on ``(X, y)``, and the weight restored. Returns
    ``{'sparsities': [...], 'accuracy': {key: [acc, ...]}}``; plot it with
    :func:`minidl.compression.plots.plot_sensitivity`. Layers whose curve falls early are the
    sensitive ones and deserve a lower sparsity.
    """
    weights = prunable_weights(model)
    keys = list(weights) if keys is None else list(keys)
    for k in keys:
        if k not in weights:
            raise ValueError(f"keys has {k!r}, not a prunable weight; choose from {list(weights)}")
    sparsities = [check_sparsity(s, "sparsities") for s in sparsities]
    result = {"sparsities": sparsities, "accuracy": {}}
    for k in keys:
        w = weights[k]
        saved = w.copy()
        accs = []
        try:
            for s in sparsities:
                w[...] = saved * magnitude_mask(saved, s)
                accs.append(accuracy(model, X, y))
        finally:
            w[...] = saved
        result["accuracy"][k] = accs
    return result
