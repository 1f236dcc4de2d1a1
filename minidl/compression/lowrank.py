r"""Low-rank factorization of a Dense layer by truncated SVD.

With :math:`W = U \Sigma V^\top` (:math:`\sigma_1 \ge \sigma_2 \ge \dots`), the best rank-:math:`r`
approximation in both the Frobenius and the spectral norm is (Eckart-Young-Mirsky)

.. math:: W_r = U_r \Sigma_r V_r^\top, \qquad \|W - W_r\|_F^2 = \sum_{i > r} \sigma_i^2, \qquad
          \|W - W_r\|_2 = \sigma_{r+1}.

``Dense(in, out)`` becomes ``Dense(in, r, bias=False)`` with weight :math:`\Sigma_r^{1/2}
V_r^\top` followed by ``Dense(r, out)`` with weight :math:`U_r \Sigma_r^{1/2}` and the old bias:
:math:`r(\text{in} + \text{out})` weights instead of :math:`\text{in} \cdot \text{out}`, a saving
when :math:`r < \text{in}\cdot\text{out} / (\text{in} + \text{out})`. Splitting
:math:`\Sigma^{1/2}` evenly keeps both factors on the same scale for fine-tuning.
"""

import numpy as np

from minidl._validation import check_positive_int
from minidl.layers.dense import Dense


def truncated_svd(w, rank):
    """``(U_r, s_r, Vt_r, s)``: the leading ``rank`` singular triplets of ``w`` and all of ``s``
    (computed in float64)."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"w must be a 2-D matrix, got shape {w.shape}")
    rank = check_positive_int(rank, "rank")
    if rank > min(w.shape):
        raise ValueError(f"rank must be <= min(w.shape) = {min(w.shape)}, got {rank}")
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    return u[:, :rank], s[:rank], vt[:rank], s


def factorize_dense(layer, rank):
    """Two Dense layers whose product is the rank-``rank`` truncation of ``layer``'s weight."""
    if not isinstance(layer, Dense):
        raise TypeError(f"layer must be a Dense layer, got {type(layer).__name__}")
    w = layer.params["weight"]
    u, s, vt, _ = truncated_svd(w, rank)
    root = np.sqrt(s)
    dtype = w.dtype
    first = Dense(layer.in_features, rank, bias=False, dtype=dtype, rng=np.random.default_rng(0))
    second = Dense(
        rank, layer.out_features, bias=layer.use_bias, dtype=dtype, rng=np.random.default_rng(0)
    )
    first.params["weight"][...] = root[:, None] * vt
    second.params["weight"][...] = u * root[None, :]
    if layer.use_bias:
        second.params["bias"][...] = layer.params["bias"]
    return first, second


def lowrank_model(model, ranks):
    """A new Sequential with the Dense layers ``{index: rank}`` factorized (others copied)."""
    import copy

    from minidl.nn.model import Sequential

    if not isinstance(ranks, dict):
        raise TypeError(f"ranks must be a dict layer index -> rank, got {ranks!r}")
    for i in ranks:
        if not (isinstance(i, int) and 0 <= i < len(model.layers)):
            raise ValueError(f"ranks has layer index {i!r}; the model has {len(model.layers)}")
        if not isinstance(model.layers[i], Dense):
            raise TypeError(
                f"ranks[{i}]: layer {i} is {type(model.layers[i]).__name__}, "
                "low-rank factorization supports Dense only"
            )
    layers = []
    for i, layer in enumerate(model.layers):
        layers.extend(factorize_dense(layer, ranks[i]) if i in ranks else [copy.deepcopy(layer)])
    return Sequential(layers)


def rank_for_energy(w, energy):
    r"""Smallest :math:`r` with :math:`\sum_{i \le r} \sigma_i^2 \ge` ``energy`` :math:`\cdot
    \sum_i \sigma_i^2` (the share of :math:`\|W\|_F^2` kept)."""
    if not (0 < energy <= 1):
        raise ValueError(f"energy must be in (0, 1], got {energy!r}")
    s = np.linalg.svd(np.asarray(w, dtype=np.float64), compute_uv=False)
    cum = np.cumsum(s**2) / np.sum(s**2)
    return int(np.searchsorted(cum, energy - 1e-12) + 1)
