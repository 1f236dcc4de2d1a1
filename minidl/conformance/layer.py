"""``check_layer``: grade a stateful, class-based layer (how most from-scratch code is written).

.. code-block:: python

    from minidl.conformance import check_layer

    # a textbook-style class: Convolution(W, b, stride, pad), forward(x), backward(dout) -> dx,
    # the parameter gradients left in .dW and .db
    report = check_layer(
        lambda weight, bias, stride, padding: Convolution(weight, bias, stride, padding),
        "conv2d",
        grads={"weight": "dW", "bias": "db"},
    )

For each case the layer is built by ``make``, called with the case's parameters and keyword
values *that it names* (``weight``, ``bias``, ``stride``, ``padding``, ``dilation``, ``groups``,
``running_mean``, ``training``, ``momentum``, ``eps``, ``axis``, ... -- all of them if it takes
``**kwargs``; an absent bias is ``None``), and ``input_shape``, the shape of ``x`` without the
batch axis, for a layer built for one input size. A keyword ``make`` does not take is not
passed, and the checker then reports what the layer does without it (``ignores dilation``).
Then:

- ``forward(layer, x)`` gives ``y`` (default ``layer.forward(x)``; a string names the method;
  the losses get ``(layer, logits, target)``); it may also name case keywords, such as
  ``lambda layer, x, training: layer.forward(x, train_flg=training)``;
- ``buffers`` (batch norm) says where the updated running statistics are read after the
  forward, e.g. ``{'running_mean': 'running_mean', 'running_var': 'running_var'}``; without
  it the arrays given to ``make`` are read, which passes only if the layer updates them in
  place;
- ``backward(layer, dy)`` returns the input gradient (default ``layer.backward(dy)``);
- ``grads`` says where the parameter gradients are after the backward: an attribute path
  (``'dW'``, ``"grads['W']"``, ``'gradients.W'``) or a function of the layer
  (``lambda layer: layer.dW.T`` for a weight kept as (in, out)); ``from_update('W', lr)``
  reads a gradient from the step a backward that applies the optimizer itself takes, as
  ``(W_before - W_after) / lr`` (give the layer plain SGD with that learning rate).

Everything else is :func:`~minidl.conformance.check.check`'s: the same golden cases, table,
tolerances, layout wrappers (``adapter='nhwc'``), ``only``/``skip`` and diagnoses.
"""

import inspect
import re

import numpy as np

from minidl.conformance.adapters import _collect, _value, build, gradients, returned
from minidl.conformance.cases import Family, get_family
from minidl.conformance.check import run_cases

__all__ = ["check_layer", "from_update", "layer_adapter"]

DATA = ("x", "logits", "input", "target")  # what a layer's forward takes; the rest builds it


class from_update:  # noqa: N801 - used like a function: grads={'weight': from_update('W')}
    """The gradient as the step a self-updating backward took: ``(before - after) / lr``.

    ``where`` is an attribute path or a function of the layer giving the parameter (in
    minidl's layout: ``lambda layer: layer.W.T`` for a weight kept as (in, out)). Exact for
    plain SGD with learning rate ``lr`` (no momentum or weight decay), up to the rounding of
    ``w - lr * g``, which ``lr = 1`` keeps to a few ulps of ``w``.
    """

    def __init__(self, where, lr=1.0):
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"from_update lr must be a number > 0, got {lr!r}")
        self.where, self.lr = where, float(lr)

    def __repr__(self):
        return f"from_update({self.where!r}, lr={self.lr})"


_PART = re.compile(r"\[\s*['\"]?([^'\"\]]+)['\"]?\s*\]|([^.\[\]]+)")


def read(layer, where):
    """``where`` of ``layer``: a function of it, or a path like ``'dW'``, ``"grads['W']"``,
    ``'gradients.W'`` (a dict is indexed by a dotted part too). A copy of the array."""
    if callable(where):
        value = where(layer)
    elif isinstance(where, str):
        value = layer
        for key, attr in _PART.findall(where):
            name = key or attr
            value = value[name] if key or isinstance(value, dict) else getattr(value, name)
    else:
        raise TypeError(f"a place to read must be a path string or a function, got {where!r}")
    return None if value is None else np.array(value, copy=True)


def _call(fn, positional, available):
    """``fn(*positional, **the available keywords fn names)`` (all of them for ``**kwargs``)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return fn(*positional, **available)
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return fn(*positional, **{k: v for k, v in available.items() if k in named})


def _method(spec, default):
    if spec is None:
        spec = default
    if isinstance(spec, str):
        return lambda layer, *args: getattr(layer, spec)(*args)
    if not callable(spec):
        raise TypeError(f"forward/backward must be a method name or a function, got {spec!r}")
    return spec


def layer_adapter(make, family, forward=None, backward=None, grads=None, buffers=None):
    """Runner for a layer built by ``make`` (the module docstring has the protocol)."""
    data = [a for a in family.args if a in DATA]
    fwd = _method(forward, "forward")
    bwd = None if backward is False else _method(backward, "backward")
    grads, buffers = dict(grads or {}), dict(buffers or {})

    def run(inputs, kwargs, dy=None):
        inputs = {k: np.array(v, copy=True) for k, v in inputs.items()}
        names = [n for n in family.args + family.keywords if n not in data]
        values = {n: _value(n, inputs, kwargs) for n in names if n in inputs or n in kwargs}
        values.update({n: None for n in names if n not in values and n in family.args})
        # layers built for one input size (Keras-style) get it: x's shape without the batch
        layer = _call(make, (), dict(values, input_shape=inputs[data[0]].shape[1:]))
        y = _call(fwd, (layer, *(inputs[d] for d in data)), values)
        state = {n: read(layer, buffers[n]) if n in buffers else inputs[n] for n in family.mutated}
        outputs = _collect(family, y, dict(inputs, **state))
        result = None
        if dy is not None and bwd is not None:
            result = gradients(family, np.shape(y), dy, lambda: _backward(layer, dy), inputs)
        return {k: np.asarray(v) for k, v in outputs.items()}, result

    def _backward(layer, dy):
        steps = {n: read(layer, w.where) for n, w in grads.items() if isinstance(w, from_update)}
        dx = bwd(layer, np.array(dy, copy=True))
        out = [dx]
        for name in family.grad_wrt[1:]:
            where = grads.get(name)
            if isinstance(where, from_update):
                out.append((steps[name] - read(layer, where.where)) / where.lr)
            else:
                out.append(None if where is None else read(layer, where))
        return out

    run.can_grad = backward is not False and bool(family.grad_wrt)
    return run


def check_layer(
    make,
    case_family,
    forward=None,
    backward=None,
    grads=None,
    buffers=None,
    adapter=None,
    grad=None,
    rtol=None,
    atol=None,
    dtype=None,
    golden_dir=None,
    only=None,
    skip=None,
):
    """Check a class-based layer on the golden cases of ``case_family``; returns the
    :class:`~minidl.conformance.report.Report` (module docstring for ``make``, ``forward``,
    ``backward``, ``grads``, ``buffers``; the rest as :func:`~minidl.conformance.check.check`).
    ``backward=False`` compares the forward only. ``adapter`` takes the layout and padding
    wrappers (``'nhwc'``, ``'nhwc_hwio'``, ``'explicit_padding'``).
    """
    family = case_family if isinstance(case_family, Family) else get_family(case_family)
    if not callable(make):
        raise TypeError(f"make must build the layer (a class or function), got {make!r}")
    if family.kind == "estimator" or len(returned(family)) != 1:
        raise ValueError(f"check_layer takes layer families; use check() for {family.name}")
    wanted = [n for n in family.grad_wrt[1:] if backward is not False and grad is not False]
    missing = [n for n in wanted if n not in (grads or {})]
    if missing:
        raise ValueError(
            f"grads must say where the layer keeps the gradient of {', '.join(missing)} after "
            "its backward, e.g. grads={'weight': 'dW', 'bias': 'db'} (or backward=False, "
            "grad=False for the forward only)"
        )
    unknown = sorted(set(grads or {}) - set(family.grad_wrt[1:]))
    if unknown:
        raise ValueError(
            f"grads names {unknown}, which {family.name} has no gradient of; it has "
            f"{list(family.grad_wrt[1:])}"
        )
    run = build(
        adapter,
        make,
        family,
        base=lambda: layer_adapter(make, family, forward, backward, grads, buffers),
    )
    name = getattr(make, "__name__", type(make).__name__)
    label = f"layer {name}" + (f"+{adapter}" if isinstance(adapter, str) else "")
    return run_cases(family, run, make, label, grad, rtol, atol, dtype, golden_dir, only, skip)
