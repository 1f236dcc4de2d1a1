r"""Pruning by loss importance (article 000: "compute the loss, split the weights into important
and unimportant by it, delete the unimportant ones").

Removing weight :math:`w_i` (setting it to 0) changes the loss by, to second order ((1.8) in
chapter 01, ``chapters/01_complexity_and_spatiotemporal_convolution.ipynb``),

.. math:: \Delta L \approx -g_i w_i + \tfrac12 h_{ii} w_i^2 \;(+\text{off-diagonal terms}),
          \qquad g = \partial L / \partial w, \; h_{ii} = \partial^2 L / \partial w_i^2 .   (1.8)

Its two classical scores are chapter 01's (1.9):

- first-order Taylor importance (Molchanov et al. 2017): :math:`|w_i g_i|`
  (:func:`taylor_scores`);
- Optimal Brain Damage (LeCun, Denker & Solla 1990): at a minimum :math:`g \approx 0`, so the
  saliency is :math:`\tfrac12 h_{ii} w_i^2` (:func:`obd_saliency`), with the diagonal Hessian
  computed exactly: in closed form for a Dense layer that feeds the cross entropy
  (:func:`dense_ce_hessian_diag`), and for any parameter by central differences of the
  backpropagated gradient (:func:`hessian_diag_fd`, two passes per weight: small layers only);
  or, for a whole network in one sweep, by OBD's own backpropagated approximation
  (:mod:`minidl.compression.hessian`).

The scores go to :func:`minidl.compression.pruning.mask_from_scores` (lowest removed).
"""

import numpy as np

from minidl._validation import check_float_array, check_positive_int
from minidl.compression.hessian import hessian_diag_backprop, output_curvature
from minidl.nn.losses import CrossEntropyLoss


def _grads_over_data(model, X, y, loss, batch_size):
    """Gradient of the mean loss over all of ``(X, y)``: batch gradients weighted by size."""
    total = {k: np.zeros_like(v, dtype=np.float64) for k, v in model.params.items()}
    for start in range(0, len(X), batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        loss(model.forward(xb), yb)
        model.backward(loss.backward(), input_grad=False)
        for k, g in model.grads.items():
            total[k] += g * (len(xb) / len(X))
    return total


def taylor_scores(model, X, y, loss, keys=None, batch_size=256):
    r"""First-order Taylor importance :math:`|w_i \, \partial L / \partial w_i|` per weight, (1.9).

    :math:`L` is the mean ``loss`` over all of ``(X, y)``, computed in the model's current mode
    (call ``model.eval()`` first for BatchNorm's running statistics). Returns dict key -> score
    array (float64) for ``keys`` (default: every ``*.weight``).
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    grads = _grads_over_data(model, X, y, loss, batch_size)
    params = model.params
    keys = [k for k in params if k.endswith(".weight")] if keys is None else list(keys)
    _check_keys(keys, params)
    return {k: np.abs(params[k].astype(np.float64) * grads[k]) for k in keys}


def obd_saliency(w, h_diag):
    r"""Optimal Brain Damage saliency (1.9) :math:`s_i = \tfrac12 h_{ii} w_i^2` (LeCun et al. 1990).

    It is the predicted loss increase from deleting :math:`w_i`, valid near a minimum (where
    the gradient term vanishes and :math:`h_{ii} \ge 0`; a negative :math:`h_{ii}` away from a
    minimum gives a negative saliency, which ranks that weight first for removal).
    """
    w = check_float_array(w, "w", finite=True)
    h = check_float_array(h_diag, "h_diag", finite=True)
    if h.shape != w.shape:
        raise ValueError(f"h_diag must have w's shape {w.shape}, got {h.shape}")
    return 0.5 * h * w.astype(np.float64) ** 2


def dense_ce_hessian_diag(x, weight, bias=None):
    r"""Exact diagonal Hessian of the mean cross entropy w.r.t. a Dense layer's weights.

    For logits :math:`z_n = W x_n + b` fed straight into the softmax cross entropy,
    :math:`\partial^2 L / \partial z_{nk}^2 = p_{nk}(1 - p_{nk}) / N`, and :math:`z` is linear
    in :math:`W`, so

    .. math:: \frac{\partial^2 L}{\partial W_{kj}^2} = \frac1N \sum_n p_{nk}(1 - p_{nk})\,
              x_{nj}^2, \qquad \frac{\partial^2 L}{\partial b_k^2} =
              \frac1N \sum_n p_{nk}(1 - p_{nk})

    (independent of the labels). ``x`` (N, in) is the layer's input. Returns
    ``(h_weight, h_bias)`` in float64 (``h_bias`` is None without a bias).
    """
    x = check_float_array(x, "x", ndim=2, finite=True).astype(np.float64)
    weight = check_float_array(weight, "weight", ndim=2, finite=True).astype(np.float64)
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"x must have {weight.shape[1]} columns (weight's in_features), got shape {x.shape}"
        )
    z = x @ weight.T
    if bias is not None:
        z = z + np.asarray(bias, dtype=np.float64)
    c = output_curvature(CrossEntropyLoss(), z)  # p (1 - p) / N
    return c.T @ (x * x), c.sum(axis=0) if bias is not None else None


def hessian_diag_fd(model, X, y, loss, key, eps=1e-5):
    r"""Diagonal Hessian of the mean loss w.r.t. ``model.params[key]`` by central differences
    of the backpropagated gradient:

    .. math:: h_{ii} \approx \frac{g_i(w + \varepsilon e_i) - g_i(w - \varepsilon e_i)}
              {2\varepsilon}

    exact up to :math:`O(\varepsilon^2)` for any layer (the backward is exact; only the second
    derivative is differenced). Costs two forward/backward passes per weight: for small layers
    or a float64 copy of a model. Uses the model's current mode.
    """
    params = model.params
    _check_keys([key], params)
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    w = params[key]
    if w.dtype != np.float64:
        # a float32 gradient differenced over eps = 1e-5 keeps ~2 significant digits
        raise TypeError(
            f"hessian_diag_fd needs float64 parameters, params[{key!r}] is {w.dtype}; "
            "build a float64 copy of the model (dtype=np.float64)"
        )
    h = np.zeros(w.shape, dtype=np.float64)
    flat = w.reshape(-1)  # a view: perturbing it perturbs the layer's weight
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        loss(model.forward(X), y)
        model.backward(loss.backward(), input_grad=False)
        g_plus = float(model.grads[key].reshape(-1)[i])
        flat[i] = old - eps
        loss(model.forward(X), y)
        model.backward(loss.backward(), input_grad=False)
        g_minus = float(model.grads[key].reshape(-1)[i])
        flat[i] = old
        h.reshape(-1)[i] = (g_plus - g_minus) / (2 * eps)
    return h


def obd_scores(model, X, y, loss, keys, method="exact"):
    """OBD saliencies :math:`\tfrac12 h_{ii} w_i^2` for ``keys``.

    ``method='exact'``: the closed form for the last layer if it is a Dense feeding
    ``CrossEntropyLoss``, central differences (:func:`hessian_diag_fd`, two passes per weight:
    small layers only) otherwise. ``method='backprop'``: OBD's own approximation, every
    layer's diagonal in one backward sweep
    (:func:`minidl.compression.hessian.hessian_diag_backprop`; ``y`` is not needed there).
    """
    from minidl.layers.dense import Dense

    if method not in ("exact", "backprop"):
        raise ValueError(f"method must be 'exact' or 'backprop', got {method!r}")
    params = model.params
    _check_keys(list(keys), params)
    if method == "backprop":
        h = hessian_diag_backprop(model, X, loss, keys=list(keys))
        return {key: obd_saliency(params[key], h[key]) for key in keys}
    last = len(model.layers) - 1
    scores = {}
    for key in keys:
        w = params[key]
        if (
            key == f"{last}.weight"
            and isinstance(model.layers[last], Dense)
            and isinstance(loss, CrossEntropyLoss)
        ):
            x_in = X  # the last layer's input, in the model's current mode
            for layer in model.layers[:last]:
                x_in = layer.forward(x_in)
            h, _ = dense_ce_hessian_diag(x_in, w, model.layers[last].params.get("bias"))
        else:
            h = hessian_diag_fd(model, X, y, loss, key)
        scores[key] = obd_saliency(w, h)
    return scores


def _check_keys(keys, params):
    for k in keys:
        if k not in params:
            raise ValueError(
                f"keys has {k!r}, which is not a parameter; choose from {list(params)}"
            )
