r"""The diagonal of the loss Hessian for every weight in one backward pass: the approximation
Optimal Brain Damage itself uses (LeCun, Denker & Solla 1990, after Becker & LeCun 1988).

:func:`~minidl.compression.importance.hessian_diag_fd` differences the gradient, two passes per
weight: exact, but only for small layers. OBD instead propagates second derivatives backwards
once, like the gradient, keeping only diagonal terms. Write :math:`a` for the output of a dense
or conv layer (:math:`a_i = \sum_j w_{ij} x_j + b_i`, each sample apart) and :math:`h_a =
\partial^2 L / \partial a^2`:

.. math::
    h_{w_{ij}} &= \sum_{\text{uses of } w_{ij}} x_j^2\, h_{a_i}                       &(H1)\\
    h_{x_j}    &\approx \sum_i w_{ij}^2\, h_{a_i}                                      &(H2)\\
    h_{a}      &\approx f'(a)^2\, h_{f(a)}   \quad\text{(elementwise activation } f)  &(H3)

and at the top the exact diagonal of the loss Hessian with respect to the network's output
(mean reductions, as :mod:`minidl.nn.losses`): :math:`p_k(1 - p_k)/N` for the softmax cross entropy
from logits (whatever the labels or label smoothing), :math:`\sigma(z)(1 - \sigma(z))/\text{size}`
for BCE with logits and :math:`2/\text{size}` for MSE (H4).

What is dropped: (H2) the cross terms :math:`\sum_{i \ne k} w_{ij} w_{kj}\, \partial^2 L /
\partial a_i \partial a_k`; (H3) the term :math:`f''(a)\, \partial L / \partial f(a)` (the
Levenberg-Marquardt / Gauss-Newton step; zero for ReLU); (H1), for a conv weight used at many
positions, the cross terms between positions (OBD sums over the connections sharing the
weight). Where none of these arise the result is exact: the last Dense layer before the loss
(there :math:`h_a` is (H4) itself, so this equals
:func:`~minidl.compression.importance.dense_ce_hessian_diag`), and any layer whose output
reaches the loss through one unit per sample and position. ``tests/compression/test_hessian.py``
checks those exact cases against second differences of the loss. Chapter 01 writes (H1)-(H3)
as (1.9a) and prunes a CNN with the resulting saliencies.

(H1) and (H2) are a dense or conv layer's own backward pass with :math:`x` and :math:`w`
replaced by :math:`x^2` and :math:`w^2` (a sum of squares where the gradient has a sum of
products), so the code runs :func:`minidl.functional.dense.dense_backward` and
:func:`minidl.functional.conv.conv_nd_backward` on a cache with the squares; (H3) is an
activation's backward applied twice (:math:`f' \cdot f' \cdot h`); max pooling routes
:math:`h` like the gradient (its weights are 0 and 1, their own squares); average pooling
divides by the window size twice; Flatten reshapes.
"""

import dataclasses
import math

import numpy as np

from minidl.functional.activations import log_softmax, sigmoid
from minidl.functional.conv import conv_nd_backward
from minidl.functional.dense import dense_backward
from minidl.functional.pool import avg_divisor
from minidl.nn.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss

__all__ = ["hessian_diag_backprop", "output_curvature"]

_ELEMENTWISE = ("ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Dropout")
_CONV = ("Conv1D", "Conv2D", "Conv3D")
_MAXPOOL = ("MaxPool1D", "MaxPool2D", "MaxPool3D")
_AVGPOOL = ("AvgPool1D", "AvgPool2D", "AvgPool3D")


def output_curvature(loss, out):
    r"""(H4): the exact diagonal :math:`\partial^2 L / \partial \text{out}^2` of a mean loss,
    for the network output ``out`` (it does not depend on the targets)."""
    z = np.asarray(out, dtype=np.float64)
    if isinstance(loss, CrossEntropyLoss):
        p = np.exp(log_softmax(z, axis=1))
        return p * (1 - p) / len(z)
    if isinstance(loss, BCEWithLogitsLoss):
        s = sigmoid(z)
        return s * (1 - s) / z.size
    if isinstance(loss, MSELoss):
        return np.full(z.shape, 2.0 / z.size)
    raise TypeError(
        f"loss must be a CrossEntropyLoss, BCEWithLogitsLoss or MSELoss, got {type(loss).__name__}"
    )


def hessian_diag_backprop(model, X, loss, keys=None):
    r"""OBD's diagonal Hessian (H1)-(H4) of ``loss`` over the batch ``X`` for every weight of a
    ``Sequential`` ``model``, in one forward and one backward sweep.

    Returns a dict ``{param key: h}`` (float64, each the parameter's shape; only ``keys`` if
    given). Supports Dense, Conv1D/2D/3D, the elementwise activations and Dropout, max and
    average pooling, GlobalAvgPool and Flatten; any other layer (BatchNorm, Softmax,
    Conv2Plus1D) raises a ``TypeError`` naming it. Uses the model's current mode.
    """
    _check_layers(model)
    params = model.params
    wanted = list(params) if keys is None else list(keys)
    for k in wanted:
        if k not in params:
            raise ValueError(
                f"keys has {k!r}, which is not a parameter; choose from {list(params)}"
            )
    h = output_curvature(loss, model.forward(X))
    found = {}
    for i in reversed(range(len(model.layers))):
        h, layer_h = _layer_backward(model.layers[i], h, need_input=i > 0)
        found.update({f"{i}.{name}": v for name, v in layer_h.items()})
    return {k: found[k] for k in wanted}


def _check_layers(model):
    known = ("Dense", "Flatten", "GlobalAvgPool") + _ELEMENTWISE + _CONV + _MAXPOOL + _AVGPOOL
    for i, layer in enumerate(model.layers):
        if type(layer).__name__ not in known:
            raise TypeError(
                f"hessian_diag_backprop supports {', '.join(known)}; layer {i} is "
                f"{type(layer).__name__} (use importance.hessian_diag_fd for it)"
            )


def _layer_backward(layer, h, need_input):
    """(h for the layer's input or None, {param name: h}) for one layer, float64."""
    name = type(layer).__name__
    if name == "Dense" or name in _CONV:  # (H1), (H2): the backward with x^2 and w^2
        c = layer._cache
        squared = dataclasses.replace(
            c, x=c.x.astype(np.float64) ** 2, weight=c.weight.astype(np.float64) ** 2
        )
        if name == "Dense":
            grads = dense_backward(h, squared)
            return (grads.dx if need_input else None), _param_dict(layer, grads)
        grads = conv_nd_backward(h, squared, input_grad=need_input)
        return grads.dx, _param_dict(layer, grads)
    if name in _ELEMENTWISE:  # (H3): f'(a) * (f'(a) * h)
        return _f64(layer.backward(layer.backward(h))), {}
    if name in _AVGPOOL:  # sum over windows of h / D^2: the backward of h / D
        divisor = avg_divisor(layer._cache.windows, np.float64)
        return _f64(layer.backward(h / divisor)), {}
    if name == "GlobalAvgPool":  # the backward already divides by the size once
        size = math.prod(layer._cache.x_shape[2:])
        return _f64(layer.backward(h / size)), {}
    return _f64(layer.backward(h)), {}  # max pooling (0/1 routing), Flatten (reshape)


def _param_dict(layer, grads):
    found = {"weight": grads.dweight}
    if layer.use_bias:
        found["bias"] = grads.dbias
    return found


def _f64(a):
    return np.asarray(a, dtype=np.float64)
