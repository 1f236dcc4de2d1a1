r"""Trained quantization by weight sharing (Han, Mao & Dally 2016, "Deep Compression", §3).

Per layer, the surviving (unpruned) weights :math:`W` are clustered by 1-D k-means into
:math:`k` centroids :math:`C = \{c_1, \dots, c_k\}`, minimizing the within-cluster sum of squares

.. math:: \arg\min_C \sum_{i=1}^{k} \sum_{w \in c_i} |w - c_i|^2          \qquad (1)

and each weight is replaced by the index :math:`I_{ij}` of its centroid, so a layer stores
:math:`b`-bit indices plus a codebook of :math:`k` floats. The centroids are then *fine-tuned*:
the gradient of a centroid is the sum of the gradients of the weights that share it

.. math:: \frac{\partial L}{\partial C_k} = \sum_{i,j} \frac{\partial L}{\partial W_{ij}}
          \,\mathbb{1}(I_{ij} = k)                                             \qquad (3)

Index 0 of every codebook here is the exact zero that pruned weights (and the sparse format's
filler entries, :mod:`minidl.compression.relative_index`) decode to; it is never trained. So a
:math:`b`-bit layer has :math:`2^b - 1` trained centroids and every index, zero included, fits
in :math:`b` bits (a decision of minidl's: the paper does not say how its filler zero is coded).

Centroid initializations (the paper's Figure 4): ``'linear'`` (evenly spaced between the
smallest and largest weight, the paper's choice: it keeps centroids at the rare large weights),
``'density'`` (evenly spaced on the CDF of the weights) and ``'random'`` (Forgy: k weights drawn
at random). :func:`kmeans_1d` is vectorized; :func:`kmeans_1d_naive` is the same algorithm as
plain loops, and the tests hold the two equal.
"""

import dataclasses

import numpy as np

from minidl._rng import get_rng
from minidl._validation import check_float_array, check_positive_int

INITS = ("linear", "density", "random")
MIN_BITS, MAX_BITS = 2, 8


def check_bits(bits, name="bits"):
    """``bits`` as an int in [2, 8] (one byte per index symbol), else a clear error."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"{name} must be an int in [{MIN_BITS}, {MAX_BITS}], got {bits!r}")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"{name} must be in [{MIN_BITS}, {MAX_BITS}], got {bits}")
    return int(bits)


def init_centroids(values, n_clusters, method="linear", rng=None):
    r"""Initial centroids (sorted, float64) for :func:`kmeans_1d` on 1-D ``values``.

    - ``'linear'``: :math:`c_i = w_{min} + i (w_{max} - w_{min}) / (k - 1)`;
    - ``'density'``: :math:`c_i = F^{-1}((i + 1/2) / k)`, the weights' CDF cut into :math:`k`
      equal slices (``np.quantile``), so centroids crowd where the weights do;
    - ``'random'``: :math:`k` distinct weights drawn without replacement (Forgy).

    When ``values`` has at most ``n_clusters`` distinct entries, those entries are returned
    (fewer centroids than asked: each weight is then its own centroid exactly).
    """
    values = check_float_array(values, "values", ndim=1, finite=True).astype(np.float64)
    n_clusters = check_positive_int(n_clusters, "n_clusters")
    if method not in INITS:
        raise ValueError(f"method must be one of {INITS}, got {method!r}")
    if values.size == 0:
        raise ValueError("values is empty: there is nothing to cluster")
    distinct = np.unique(values)
    if distinct.size <= n_clusters:
        return distinct
    if method == "linear":
        return np.linspace(values.min(), values.max(), n_clusters)
    if method == "density":
        return np.quantile(values, (np.arange(n_clusters) + 0.5) / n_clusters)
    return np.sort(get_rng(rng).choice(distinct, n_clusters, replace=False))


def assign_nearest(values, centroids):
    """Index of the nearest of the sorted ``centroids`` for each value (ties: the lower index).

    Vectorized by ``searchsorted``: only the two centroids around a value can be nearest, and
    comparing their distances directly gives exactly the loop's ``argmin`` tie rule.
    """
    hi = np.clip(np.searchsorted(centroids, values), 0, len(centroids) - 1)
    lo = np.clip(hi - 1, 0, len(centroids) - 1)
    take_hi = np.abs(values - centroids[hi]) < np.abs(values - centroids[lo])
    return np.where(take_hi, hi, lo)


def kmeans_1d(values, centroids, max_iter=100):
    r"""Lloyd's algorithm for (1) in one dimension; returns ``(centroids, labels, n_iter)``.

    Each iteration assigns every value to its nearest centroid, then moves each centroid to the
    mean of its values (:math:`c_k = \sum_{w \in c_k} w / |c_k|`; an empty cluster keeps its
    centroid) and re-sorts them. Stops when no assignment changes. float64 throughout.
    """
    values = check_float_array(values, "values", ndim=1, finite=True).astype(np.float64)
    c = np.sort(check_float_array(centroids, "centroids", ndim=1, finite=True).astype(np.float64))
    max_iter = check_positive_int(max_iter, "max_iter")
    labels = None
    for n_iter in range(1, max_iter + 1):
        new = assign_nearest(values, c)
        if labels is not None and np.array_equal(new, labels):
            return c, labels, n_iter - 1
        labels = new
        sums = np.bincount(labels, weights=values, minlength=len(c))
        counts = np.bincount(labels, minlength=len(c))
        c = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), c))
    return c, assign_nearest(values, c), max_iter


def kmeans_1d_naive(values, centroids, max_iter=100):
    """:func:`kmeans_1d` as plain loops over values and centroids (the same float64 sums)."""
    values = [float(v) for v in np.asarray(values, dtype=np.float64)]
    c = sorted(float(v) for v in np.asarray(centroids, dtype=np.float64))
    labels = None
    for n_iter in range(1, max_iter + 1):
        new = []
        for v in values:
            best = 0
            for k in range(1, len(c)):
                if abs(v - c[k]) < abs(v - c[best]):
                    best = k
            new.append(best)
        if labels is not None and new == labels:
            return np.array(c), np.array(labels), n_iter - 1
        labels = new
        sums, counts = [0.0] * len(c), [0] * len(c)
        for v, k in zip(values, labels, strict=True):
            sums[k] += v
            counts[k] += 1
        c = sorted(sums[k] / counts[k] if counts[k] else c[k] for k in range(len(c)))
    final = [min(range(len(c)), key=lambda k: (abs(v - c[k]), k)) for v in values]
    return np.array(c), np.array(final), max_iter


@dataclasses.dataclass
class SharedWeight:
    """One layer's shared weights: ``weight = codebook[indices]``.

    ``codebook``: ``(n_codes,)`` in the weight's dtype, ``codebook[0] == 0`` (pruned weights);
    ``indices``: uint8 of the weight's shape, 0 where pruned, 1..n_codes-1 elsewhere;
    ``bits``: the index width the layer was clustered for (``n_codes <= 2**bits``).
    """

    codebook: np.ndarray
    indices: np.ndarray
    bits: int

    @property
    def weight(self):
        """The dense weight the indices stand for: :math:`W_{ij} = C_{I_{ij}}`."""
        return self.codebook[self.indices]


def share_weights(w, bits, mask=None, init="linear", rng=None, max_iter=100):
    """Cluster the unpruned entries of ``w`` (``mask`` != 0; default ``w != 0``) into
    ``2**bits - 1`` centroids by :func:`kmeans_1d`; returns a :class:`SharedWeight`."""
    w = check_float_array(w, "w", finite=True)
    bits = check_bits(bits)
    keep = (w != 0) if mask is None else (np.asarray(mask) != 0)
    if keep.shape != w.shape:
        raise ValueError(f"mask must have the shape of w {w.shape}, got {keep.shape}")
    indices = np.zeros(w.shape, dtype=np.uint8)
    if not keep.any():
        return SharedWeight(np.zeros(1, w.dtype), indices, bits)
    survivors = w[keep].astype(np.float64)
    c0 = init_centroids(survivors, 2**bits - 1, init, rng)
    centroids, labels, _ = kmeans_1d(survivors, c0, max_iter)
    indices[keep] = labels + 1
    codebook = np.concatenate([[0.0], centroids]).astype(w.dtype)
    return SharedWeight(codebook, indices, bits)


def centroid_gradient(grad_w, indices, n_codes):
    r"""Eq. (3): :math:`\partial L/\partial C_k = \sum_{ij} \partial L/\partial W_{ij}\,
    \mathbb{1}(I_{ij} = k)`, one ``np.bincount``; entry 0 (the fixed zero) is set to 0."""
    grad_w = check_float_array(grad_w, "grad_w", finite=True)
    if np.shape(indices) != grad_w.shape:
        raise ValueError(
            f"indices must have the shape of grad_w {grad_w.shape}, got {np.shape(indices)}"
        )
    g = np.bincount(np.ravel(indices), weights=grad_w.ravel(), minlength=n_codes)
    g[0] = 0.0
    return g.astype(grad_w.dtype)


def centroid_gradient_naive(grad_w, indices, n_codes):
    """Eq. (3) as a loop over every weight, adding its gradient to its centroid's."""
    g = [0.0] * n_codes
    for gw, k in zip(np.ravel(grad_w), np.ravel(indices), strict=True):
        if k != 0:
            g[int(k)] += float(gw)
    return np.array(g, dtype=np.asarray(grad_w).dtype)


def share_model_weights(model, bits, init="linear", rng=None, max_iter=100):
    """Weight sharing for every Dense/Conv weight of ``model``, in place.

    ``bits``: an int for all layers or a dict key -> int (e.g. ``{'0.weight': 8}``; layers not
    in it are left unshared). The pruned zeros stay zero (index 0). Returns dict key ->
    :class:`SharedWeight`; the model's weights are replaced by ``codebook[indices]``.
    """
    from minidl.compression.pruning import prunable_weights

    weights = prunable_weights(model)
    per_layer = bits if isinstance(bits, dict) else {k: bits for k in weights}
    unknown = sorted(set(per_layer) - set(weights))
    if unknown:
        raise ValueError(f"bits has keys {unknown} that are not prunable weights {sorted(weights)}")
    rng = get_rng(rng)
    shared = {}
    for key, b in per_layer.items():
        shared[key] = share_weights(weights[key], b, init=init, rng=rng, max_iter=max_iter)
        weights[key][...] = shared[key].weight
    return shared


class CentroidOptimizer:
    """Fine-tune shared weights through their centroids (the paper's §3.1 and Figure 3).

    ``step(params, grads)``: for each shared key the weight gradient is reduced to the centroid
    gradient (3), the wrapped optimizer updates the codebooks (with every unshared parameter,
    e.g. the biases, as usual), ``codebook[0]`` is put back to exactly 0 (pruned weights stay
    zero), and each weight is rewritten as ``codebook[indices]``. Use it as ``model.fit``'s
    optimizer, as :class:`~minidl.compression.schedule.MaskedOptimizer`.
    """

    def __init__(self, optimizer, shared):
        if not callable(getattr(optimizer, "step", None)):
            raise TypeError(f"optimizer must have a step(params, grads) method, got {optimizer!r}")
        if not isinstance(shared, dict) or not all(
            isinstance(s, SharedWeight) for s in shared.values()
        ):
            raise TypeError("shared must be a dict key -> SharedWeight (see share_model_weights)")
        self.optimizer = optimizer
        self.shared = shared

    def step(self, params, grads):
        for key in self.shared:
            if key not in params:
                raise ValueError(f"shared has key {key!r}, which is not among the params")
        p = {k: v for k, v in params.items() if k not in self.shared}
        g = {k: v for k, v in grads.items() if k not in self.shared}
        for key, s in self.shared.items():
            p[f"{key}/codebook"] = s.codebook
            g[f"{key}/codebook"] = centroid_gradient(grads[key], s.indices, len(s.codebook))
        self.optimizer.step(p, g)
        for key, s in self.shared.items():
            s.codebook[0] = 0.0
            params[key][...] = s.weight

    @property
    def lr(self):
        return self.optimizer.lr

    @lr.setter
    def lr(self, value):
        self.optimizer.lr = value
