r"""Numerical gradients: the independent check every hand-written backward is held to.

Central differences,

.. math:: \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h},

have error O(h^2); in float64 with h = 1e-6 the relative error of a correct backward is
typically 1e-8 to 1e-10, so 1e-6 is a tolerance that still catches a wrong term.

A layer is checked through the scalar ``L = sum(layer(x) * dy)`` with a *random* upstream
gradient ``dy``: with ``dy = 1`` some wrong backwards pass (BatchNorm's input gradient is
exactly zero for a constant ``dy``). Usable by tests, chapters and other people's code::

    from minidl.gradcheck import check_layer
    errors = check_layer(Conv2D(3, 4, 3, dtype=np.float64), x)   # {'x': 3e-10, 'weight': ...}
"""

import numpy as np

from minidl._rng import get_rng


def numerical_gradient(f, x, h=1e-6):
    """Central-difference gradient of the scalar function ``f()`` with respect to array ``x``.

    ``x`` is perturbed in place, one element at a time, and restored; ``f`` takes no arguments
    (close over ``x``), so the same helper serves inputs and parameters alike.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient needs a float64 array for x, got {x.dtype}")
    grad = np.zeros_like(x)
    for i, f_plus, f_minus in _central_values(f, x, h):
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def _central_values(f, x, h):
    """For each index i of ``x``: ``(i, f(x + h e_i), f(x - h e_i))``, x restored after each."""
    for i in np.ndindex(*x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = float(f())
        x[i] = old - h
        f_minus = float(f())
        x[i] = old
        yield i, f_plus, f_minus


def numerical_hessian_diag(f, x, h=1e-3):
    r"""Diagonal of the Hessian of the scalar ``f()`` with respect to ``x`` by central second
    differences of its values (no gradient involved):

    .. math:: \frac{\partial^2 f}{\partial x_i^2} \approx
              \frac{f(x + h e_i) - 2 f(x) + f(x - h e_i)}{h^2}

    Truncation error :math:`h^2 f^{(4)} / 12` (none for an ``f`` quadratic in each entry),
    rounding about :math:`4 \epsilon |f| / h^2` (4e-10 for :math:`|f| \approx 1`, h = 1e-3).
    ``x`` is perturbed in place and restored, as in :func:`numerical_gradient`.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_hessian_diag needs a float64 array for x, got {x.dtype}")
    base = float(f())
    diag = np.zeros_like(x)
    for i, f_plus, f_minus in _central_values(f, x, h):
        diag[i] = (f_plus - 2 * base + f_minus) / h**2
    return diag


def rel_error(a, b, floor=1e-12):
    """max|a - b| / max(max|a|, max|b|): the worst error relative to the gradient's scale.

    0 for equal arrays, ~1 for unrelated ones. Scaling by the largest entry rather than entry
    by entry keeps the measure meaningful where a gradient is (correctly) near zero: there the
    central difference's absolute round-off (~1e-10) would otherwise look like a large error.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs equal shapes, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)), floor)
    return float(np.max(np.abs(a - b)) / scale)


def check_function(forward, backward, inputs, rng=None, h=1e-6):
    """Gradcheck a functional forward/backward pair.

    ``forward(*inputs)`` returns ``y``; ``backward(dy)`` returns the analytic gradients of
    ``sum(y * dy)`` with respect to each input, in order (a tuple, or one array for one input).
    Returns the list of relative errors, one per input.
    """
    rng = get_rng(rng)
    y = forward(*inputs)
    dy = rng.normal(size=np.shape(y))
    analytic = backward(dy)
    if isinstance(analytic, np.ndarray):
        analytic = (analytic,)
    errors = []
    for x, g in zip(inputs, analytic, strict=True):
        num = numerical_gradient(lambda: np.sum(forward(*inputs) * dy), x, h)
        errors.append(rel_error(g, num))
    return errors


def check_layer(layer, x, rng=None, h=1e-6):
    """Gradcheck ``layer.backward`` for the input and every parameter; returns {name: error}.

    The layer must hold float64 parameters and ``x`` must be float64. Keys are ``'x'`` and the
    names in ``layer.params``. A layer whose forward is random (Dropout) must be checked in a
    state where it is deterministic.
    """
    rng = get_rng(rng)
    if x.dtype != np.float64:
        raise TypeError(f"check_layer needs float64 x, got {x.dtype}")
    x = x.copy()
    y = layer.forward(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    grads = {name: g.copy() for name, g in layer.grads.items()}

    def loss():
        return np.sum(layer.forward(x) * dy)

    errors = {"x": rel_error(dx, numerical_gradient(loss, x, h))}
    for name, p in layer.params.items():
        errors[name] = rel_error(grads[name], numerical_gradient(loss, p, h))
    return errors
